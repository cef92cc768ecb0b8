#pragma once
// Call plumbing shared by the gateway's gRPC fronts: parsing raw requests, registering calls for
// graceful shutdown, finishing them with one status conversion and error count, and running
// store work that may block on the blocking executor rather than on a reaction thread.
//
// Every method is registered raw (grpc::ByteBuffer in and out) and parses its own request: a
// typed callback method answers bytes that do not decode with a bare UNIMPLEMENTED, and a typed
// bidi stream cannot tell them from the client's half-close. Parsed here, they end the call with
// INVALID_ARGUMENT and a message naming the method. The wire types are unchanged.

#include <grpcpp/grpcpp.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/executor.h"
#include "common/grpc_status.h"
#include "gateway/gateway.h"

namespace runnel::gateway {

// Parses a raw request or stream message as `Message`. INVALID_ARGUMENT naming `method` and
// the message type when the bytes do not decode.
template <typename Message>
absl::Status ParseMessage(const grpc::ByteBuffer& raw, const char* method, Message* message) {
  grpc::ByteBuffer copy(raw);  // Deserialize consumes its buffer; this copies slice references.
  if (!grpc::SerializationTraits<Message>::Deserialize(&copy, message).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(method, ": the message does not decode as ",
                                                   Message::descriptor()->full_name()));
  }
  return absl::OkStatus();
}

// `message` serialized, ready to write on a raw method.
template <typename Message>
grpc::ByteBuffer SerializeMessage(const Message& message) {
  grpc::ByteBuffer out;
  bool own_buffer = false;
  // Serializing a valid message into a fresh buffer cannot fail.
  (void)grpc::SerializationTraits<Message>::Serialize(message, &out, &own_buffer);
  return out;
}

// The reactor of one unary call. Handlers finish it with FinishUnary; it deletes itself once
// the call is done.
class UnaryCall : public grpc::ServerUnaryReactor {
 public:
  // Finishes the call with `status`, sending the reply when it is OK. Called once.
  virtual void Complete(const grpc::Status& status) = 0;

 private:
  // grpc::ServerUnaryReactor
  void OnDone() override { delete this; }
};

// A raw unary call's parsed request and the reply its handler fills.
template <typename Request, typename Reply>
class RawUnaryCall final : public UnaryCall {
 public:
  explicit RawUnaryCall(grpc::ByteBuffer* response) : response_(response) {}

  Request request;
  Reply reply;

  void Complete(const grpc::Status& status) override {
    if (status.ok()) *response_ = SerializeMessage(reply);
    Finish(status);
  }

 private:
  grpc::ByteBuffer* const response_;  // Owned by gRPC; valid until Finish.
};

// Finishes a unary call begun by ServeUnary, counting the error when there is one.
void FinishUnary(Gateway* gateway, UnaryCall* call, const char* method, const absl::Status& status);

// Serves one raw unary call of `method`: parses the request (INVALID_ARGUMENT when it does not
// decode), registers the call with the gateway (UNAVAILABLE once it shuts down), then runs
// `handler(call)`, which must end the call with FinishUnary exactly once (now or later).
template <typename Request, typename Reply, typename Handler>
grpc::ServerUnaryReactor* ServeUnary(Gateway* gateway, const char* method,
                                     const grpc::ByteBuffer* raw, grpc::ByteBuffer* response,
                                     Handler handler) {
  auto* call = new RawUnaryCall<Request, Reply>(response);
  if (absl::Status parsed = ParseMessage(*raw, method, &call->request); !parsed.ok()) {
    gateway->CountError("grpc", method, parsed.code());
    call->Complete(ToGrpcStatus(parsed));
    return call;
  }
  if (!gateway->BeginCall()) {
    call->Complete(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is shutting down"));
    return call;
  }
  handler(call);
  return call;
}

// Runs `work` on `blocking` and finishes `call` (begun by ServeUnary) with its status. A full
// executor answers RESOURCE_EXHAUSTED.
void RunBlocking(Gateway* gateway, Executor* blocking, UnaryCall* call, const char* method,
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
