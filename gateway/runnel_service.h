#pragma once
// runnel.v1.Gateway: stream provisioning and batched publish/receive over the gateway core.

#include "common/executor.h"
#include "gateway/gateway.h"
#include "runnel/v1/gateway.grpc.pb.h"

namespace runnel::gateway {

// Converts between the store's StreamSpec (plus bounds) and the wire's Stream.
v1::Stream ToProto(const StreamSpec& spec, const std::vector<PartitionBounds>& bounds);
StreamSpec FromProto(const v1::Stream& stream);

class RunnelServiceImpl final : public v1::Gateway::CallbackService {
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
  grpc::ServerWriteReactor<v1::ReceiveBatchesReply>* ReceiveBatches(
      grpc::CallbackServerContext* context, const v1::ReceiveBatchesRequest* request) override;
  grpc::ServerWriteReactor<v1::ReceiveBatchesReply>* Read(grpc::CallbackServerContext* context,
                                                           const v1::ReadRequest* request) override;

 private:

  Gateway* const gateway_;
  Executor* const blocking_;
};

// Stream description with per-partition bounds, as the admin fronts show it. May block.
absl::StatusOr<v1::Stream> DescribeStream(RecordStore& store, absl::string_view name);

}  // namespace runnel::gateway
