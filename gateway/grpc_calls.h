#pragma once
// Call plumbing shared by the gateway's gRPC fronts: registering calls for graceful shutdown,
// finishing them with one status conversion and error count, and running store work that may
// block on the blocking executor rather than on a reaction thread.

#include <grpcpp/grpcpp.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "common/executor.h"
#include "common/grpc_status.h"
#include "gateway/gateway.h"

namespace runnel::gateway {

// Registers a unary call, whose reactor is `reactor` (the call's DefaultReactor()), with the
// gateway. Once the gateway shuts down it finishes the call with UNAVAILABLE and returns false:
// return `reactor` and do nothing more. DefaultReactor() is called once per call: a second call
// constructs the reactor afresh and forgets a Finish already asked of it, leaving a call that
// never ends and a server Shutdown that never returns.
[[nodiscard]] bool BeginUnary(Gateway* gateway, grpc::ServerUnaryReactor* reactor);

// Finishes a unary call begun with BeginUnary, counting the error when there is one.
void FinishUnary(Gateway* gateway, grpc::ServerUnaryReactor* reactor, const char* method,
                 const absl::Status& status);

// Begins a unary call and runs `work` on `blocking`; its status finishes the call. A full
// executor answers RESOURCE_EXHAUSTED.
grpc::ServerUnaryReactor* RunBlocking(Gateway* gateway, Executor* blocking,
                                      grpc::CallbackServerContext* context, const char* method,
                                      absl::AnyInvocable<absl::Status() &&> work);

// A server stream that fails at once with `status` (counted as an error of `method`).
template <typename Reply>
grpc::ServerWriteReactor<Reply>* FailedStream(Gateway* gateway, const char* method,
                                              const absl::Status& status) {
  class Failed final : public grpc::ServerWriteReactor<Reply> {
   public:
    explicit Failed(grpc::Status s) { this->Finish(std::move(s)); }
    void OnDone() override { delete this; }
  };
  gateway->CountError("grpc", method, status.code());
  return new Failed(ToGrpcStatus(status));
}

}  // namespace runnel::gateway
