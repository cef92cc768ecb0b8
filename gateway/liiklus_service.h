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

  Gateway* const gateway_;
  Executor* const blocking_;
};

}  // namespace runnel::gateway
