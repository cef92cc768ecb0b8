#pragma once
// liiklus's LiiklusService over the gateway core, with liiklus's semantics (see
// liiklus_semantics.h) and Runnel's fixes: durable positions, no wrapped end offsets, ordered
// keyless publishes, errors for unknown streams and sessions.

#include "common/executor.h"
#include "gateway/gateway.h"
#include "liiklus/LiiklusService.grpc.pb.h"

namespace runnel::gateway {

class LiiklusServiceImpl final : public liiklus::LiiklusService::CallbackService {
 public:
  // `blocking` runs the store calls that may block (positions, bounds).
  LiiklusServiceImpl(Gateway* gateway, Executor* blocking)
      : gateway_(gateway), blocking_(blocking) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const liiklus::PublishRequest* request,
                                    liiklus::PublishReply* reply) override;
  grpc::ServerWriteReactor<liiklus::SubscribeReply>* Subscribe(
      grpc::CallbackServerContext* context, const liiklus::SubscribeRequest* request) override;
  grpc::ServerWriteReactor<liiklus::ReceiveReply>* Receive(
      grpc::CallbackServerContext* context, const liiklus::ReceiveRequest* request) override;
  grpc::ServerUnaryReactor* Ack(grpc::CallbackServerContext* context,
                                const liiklus::AckRequest* request,
                                google::protobuf::Empty* reply) override;
  grpc::ServerUnaryReactor* GetOffsets(grpc::CallbackServerContext* context,
                                       const liiklus::GetOffsetsRequest* request,
                                       liiklus::GetOffsetsReply* reply) override;
  grpc::ServerUnaryReactor* GetEndOffsets(grpc::CallbackServerContext* context,
                                          const liiklus::GetEndOffsetsRequest* request,
                                          liiklus::GetEndOffsetsReply* reply) override;

 private:
  // Runs `work` on the blocking executor and finishes `reactor` with its status.
  grpc::ServerUnaryReactor* RunBlocking(grpc::CallbackServerContext* context, const char* method,
                                        absl::AnyInvocable<absl::Status() &&> work);

  Gateway* const gateway_;
  Executor* const blocking_;
};

// The call's default reactor, registered with the gateway; nullptr (after finishing it with
// UNAVAILABLE) while the gateway shuts down.
grpc::ServerUnaryReactor* BeginUnary(Gateway* gateway, grpc::CallbackServerContext* context);

// Finishes a unary reactor begun with BeginUnary, counting the error when there is one.
void FinishUnary(Gateway* gateway, grpc::ServerUnaryReactor* reactor, const char* method,
                 const absl::Status& status);

}  // namespace runnel::gateway
