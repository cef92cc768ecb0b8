#include "sidecar/gateway_client.h"

#include <gtest/gtest.h>

namespace runnel::sidecar {
namespace {

TEST(IsPermanentPublishError, RefusalsOfTheRecordsThemselvesArePermanent) {
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kNotFound));
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kOutOfRange));
}

TEST(IsPermanentPublishError, BrokenStreamsAndOverloadAreRetried) {
  for (absl::StatusCode code :
       {absl::StatusCode::kOk, absl::StatusCode::kUnavailable,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kCancelled,
        absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kInternal,
        absl::StatusCode::kUnknown, absl::StatusCode::kAborted}) {
    EXPECT_FALSE(IsPermanentPublishError(code)) << absl::StatusCodeToString(code);
  }
}

}  // namespace
}  // namespace runnel::sidecar
