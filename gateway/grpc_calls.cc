#include "gateway/grpc_calls.h"

#include "common/logging.h"

namespace runnel::gateway {

void FinishUnary(Gateway* gateway, UnaryCall* call, const char* method,
                 const absl::Status& status) {
  if (!status.ok()) {
    gateway->CountError("grpc", method, status.code());
    if (status.code() == absl::StatusCode::kInternal ||
        status.code() == absl::StatusCode::kDataLoss) {
      RUNNEL_LOG(ERROR) << method << " failed" << Kv("status", status.ToString());
    }
  }
  call->Complete(ToGrpcStatus(status));
  gateway->EndCall();
}

void RunBlocking(Gateway* gateway, Executor* blocking, UnaryCall* call, const char* method,
                 absl::AnyInvocable<absl::Status() &&> work) {
  auto task = [gateway, call, method, work = std::move(work)]() mutable {
    FinishUnary(gateway, call, method, std::move(work)());
  };
  if (!blocking->Submit(std::move(task))) {
    FinishUnary(gateway, call, method,
                absl::ResourceExhaustedError("gateway is overloaded: too many calls at once"));
  }
}

}  // namespace runnel::gateway
