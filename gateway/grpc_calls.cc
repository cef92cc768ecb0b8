#include "gateway/grpc_calls.h"

#include "common/logging.h"

namespace runnel::gateway {

bool BeginUnary(Gateway* gateway, grpc::ServerUnaryReactor* reactor) {
  if (!gateway->BeginCall()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is shutting down"));
    return false;
  }
  return true;
}

void FinishUnary(Gateway* gateway, grpc::ServerUnaryReactor* reactor, const char* method,
                 const absl::Status& status) {
  if (!status.ok()) {
    gateway->CountError("grpc", method, status.code());
    if (status.code() == absl::StatusCode::kInternal ||
        status.code() == absl::StatusCode::kDataLoss) {
      RUNNEL_LOG(ERROR) << method << " failed" << Kv("status", status.ToString());
    }
  }
  reactor->Finish(ToGrpcStatus(status));
  gateway->EndCall();
}

grpc::ServerUnaryReactor* RunBlocking(Gateway* gateway, Executor* blocking,
                                      grpc::CallbackServerContext* context, const char* method,
                                      absl::AnyInvocable<absl::Status() &&> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!BeginUnary(gateway, reactor)) return reactor;
  auto task = [gateway, reactor, method, work = std::move(work)]() mutable {
    FinishUnary(gateway, reactor, method, std::move(work)());
  };
  if (!blocking->Submit(std::move(task))) {
    FinishUnary(gateway, reactor, method,
                absl::ResourceExhaustedError("gateway is overloaded: too many calls at once"));
  }
  return reactor;
}

}  // namespace runnel::gateway
