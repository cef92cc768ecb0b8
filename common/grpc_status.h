#pragma once
// The edge between absl::Status (inside Runnel) and grpc::Status (on the wire). absl and gRPC
// share the canonical code space, so the conversion keeps code and message unchanged.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace runnel {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// True for the codes a client may retry: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED.
bool IsRetryable(const absl::Status& status);

}  // namespace runnel
