#pragma once
// runnel.v1.Gateway: stream provisioning and batched publish/receive over the gateway core.

#include "common/executor.h"
#include "gateway/gateway.h"
#include "runnel/v1/gateway.grpc.pb.h"

namespace runnel::gateway {

// Converts between the store's StreamSpec (plus bounds) and the wire's Stream.
v1::Stream ToProto(const StreamSpec& spec, const std::vector<PartitionBounds>& bounds);
StreamSpec FromProto(const v1::Stream& stream);

// The callback service, with ReceiveBatches and Read registered raw: their replies are written
// as bytes encoded straight from the store's records (gateway/partition_stream.h). The request
// and reply types on the wire are unchanged.
using RunnelServiceBase = v1::Gateway::WithCallbackMethod_CreateStream<
    v1::Gateway::WithCallbackMethod_GetStream<v1::Gateway::WithCallbackMethod_ListStreams<
        v1::Gateway::WithCallbackMethod_DeleteStream<v1::Gateway::WithCallbackMethod_PublishBatches<
            v1::Gateway::WithRawCallbackMethod_ReceiveBatches<
                v1::Gateway::WithRawCallbackMethod_Read<v1::Gateway::Service>>>>>>>;

class RunnelServiceImpl final : public RunnelServiceBase {
 public:
  RunnelServiceImpl(Gateway* gateway, Executor* blocking) : gateway_(gateway), blocking_(blocking) {}

  grpc::ServerUnaryReactor* CreateStream(grpc::CallbackServerContext* context,
                                         const v1::CreateStreamRequest* request,
                                         v1::Stream* reply) override;
  grpc::ServerUnaryReactor* GetStream(grpc::CallbackServerContext* context,
                                      const v1::GetStreamRequest* request,
                                      v1::Stream* reply) override;
  grpc::ServerUnaryReactor* ListStreams(grpc::CallbackServerContext* context,
                                        const v1::ListStreamsRequest* request,
                                        v1::ListStreamsReply* reply) override;
  grpc::ServerUnaryReactor* DeleteStream(grpc::CallbackServerContext* context,
                                         const v1::DeleteStreamRequest* request,
                                         v1::DeleteStreamReply* reply) override;
  grpc::ServerBidiReactor<v1::PublishBatchRequest, v1::PublishBatchReply>* PublishBatches(
      grpc::CallbackServerContext* context) override;
  // Raw: the request is a serialized v1::ReceiveBatchesRequest, each reply a serialized
  // v1::ReceiveBatchesReply.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* ReceiveBatches(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;
  // Raw: the request is a serialized v1::ReadRequest, each reply a serialized
  // v1::ReceiveBatchesReply.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Read(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request) override;

 private:
  Gateway* const gateway_;
  Executor* const blocking_;
};

// Stream description with per-partition bounds, as the admin fronts show it. May block.
absl::StatusOr<v1::Stream> DescribeStream(RecordStore& store, absl::string_view name);

}  // namespace runnel::gateway
