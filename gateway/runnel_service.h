#pragma once
// runnel.v1.Gateway: stream provisioning and batched publish/receive over the gateway core.

#include "common/executor.h"
#include "gateway/gateway.h"
#include "runnel/v1/gateway.grpc.pb.h"

namespace runnel::gateway {

// Converts between the store's StreamSpec (plus bounds) and the wire's Stream.
v1::Stream ToProto(const StreamSpec& spec, const std::vector<PartitionBounds>& bounds);
StreamSpec FromProto(const v1::Stream& stream);

// The callback service with every method registered raw (gateway/grpc_calls.h): requests and
// stream messages are parsed here, so that bytes that do not decode end the call with
// INVALID_ARGUMENT and a message, and ReceiveBatches' and Read's replies are written as bytes
// encoded straight from the store's records (gateway/partition_stream.h). The request and reply
// types on the wire are unchanged.
using RunnelServiceBase = v1::Gateway::WithRawCallbackMethod_CreateStream<
    v1::Gateway::WithRawCallbackMethod_GetStream<v1::Gateway::WithRawCallbackMethod_ListStreams<
        v1::Gateway::WithRawCallbackMethod_DeleteStream<
            v1::Gateway::WithRawCallbackMethod_PublishBatches<
                v1::Gateway::WithRawCallbackMethod_ReceiveBatches<
                    v1::Gateway::WithRawCallbackMethod_Read<v1::Gateway::Service>>>>>>>;

// Each method takes its runnel.v1 request (or stream messages) serialized and answers its
// reply(ies) serialized.
class RunnelServiceImpl final : public RunnelServiceBase {
 public:
  RunnelServiceImpl(Gateway* gateway, Executor* blocking) : gateway_(gateway), blocking_(blocking) {}

  grpc::ServerUnaryReactor* CreateStream(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* GetStream(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* ListStreams(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* DeleteStream(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* reply) override;
  // Each message a serialized v1::PublishBatchRequest, each reply a serialized
  // v1::PublishBatchReply. A message that does not decode ends the stream with
  // INVALID_ARGUMENT once the batches before it are acknowledged; nothing after it is published.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PublishBatches(
      grpc::CallbackServerContext* context) override;
  // Each reply a serialized v1::ReceiveBatchesReply.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* ReceiveBatches(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;
  // Each reply a serialized v1::ReceiveBatchesReply.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Read(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request) override;

 private:
  Gateway* const gateway_;
  Executor* const blocking_;
};

// Stream description with per-partition bounds, as the admin fronts show it. May block.
absl::StatusOr<v1::Stream> DescribeStream(RecordStore& store, absl::string_view name);

}  // namespace runnel::gateway
