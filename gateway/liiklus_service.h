#pragma once
// liiklus's LiiklusService over the gateway core, with liiklus's semantics (see
// liiklus_semantics.h) and Runnel's fixes: durable positions, no wrapped end offsets, ordered
// keyless publishes, errors for unknown streams and sessions.

#include "common/executor.h"
#include "gateway/gateway.h"
#include "liiklus/LiiklusService.grpc.pb.h"

namespace runnel::gateway {

// The callback service, with Receive registered raw: its replies are written as bytes encoded
// straight from the store's records (gateway/partition_stream.h). The request and reply types
// on the wire are unchanged.
using LiiklusServiceBase = liiklus::LiiklusService::WithCallbackMethod_Publish<
    liiklus::LiiklusService::WithCallbackMethod_Subscribe<
        liiklus::LiiklusService::WithRawCallbackMethod_Receive<
            liiklus::LiiklusService::WithCallbackMethod_Ack<
                liiklus::LiiklusService::WithCallbackMethod_GetOffsets<
                    liiklus::LiiklusService::WithCallbackMethod_GetEndOffsets<
                        liiklus::LiiklusService::Service>>>>>>;

class LiiklusServiceImpl final : public LiiklusServiceBase {
 public:
  // `blocking` runs the store calls that may block (positions, bounds).
  LiiklusServiceImpl(Gateway* gateway, Executor* blocking)
      : gateway_(gateway), blocking_(blocking) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const liiklus::PublishRequest* request,
                                    liiklus::PublishReply* reply) override;
  grpc::ServerWriteReactor<liiklus::SubscribeReply>* Subscribe(
      grpc::CallbackServerContext* context, const liiklus::SubscribeRequest* request) override;
  // Raw: the request is a serialized liiklus::ReceiveRequest, each reply a serialized
  // liiklus::ReceiveReply.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Receive(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request) override;
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
