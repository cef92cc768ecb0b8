#pragma once
// liiklus's LiiklusService over the gateway core, with liiklus's semantics (see
// liiklus_semantics.h) and Runnel's fixes: durable positions, no wrapped end offsets, ordered
// keyless publishes, errors for unknown streams and sessions.

#include "common/executor.h"
#include "gateway/gateway.h"
#include "liiklus/LiiklusService.grpc.pb.h"

namespace runnel::gateway {

// The callback service with every method registered raw (gateway/grpc_calls.h): requests are
// parsed here, so that bytes that do not decode answer INVALID_ARGUMENT with a message, and
// Receive's replies are written as bytes encoded straight from the store's records
// (gateway/partition_stream.h). The request and reply types on the wire are unchanged.
using LiiklusServiceBase = liiklus::LiiklusService::WithRawCallbackMethod_Publish<
    liiklus::LiiklusService::WithRawCallbackMethod_Subscribe<
        liiklus::LiiklusService::WithRawCallbackMethod_Receive<
            liiklus::LiiklusService::WithRawCallbackMethod_Ack<
                liiklus::LiiklusService::WithRawCallbackMethod_GetOffsets<
                    liiklus::LiiklusService::WithRawCallbackMethod_GetEndOffsets<
                        liiklus::LiiklusService::Service>>>>>>;

// Each method takes its liiklus request serialized and answers its liiklus reply(ies)
// serialized.
class LiiklusServiceImpl final : public LiiklusServiceBase {
 public:
  // `blocking` runs the store calls that may block (positions, bounds).
  LiiklusServiceImpl(Gateway* gateway, Executor* blocking)
      : gateway_(gateway), blocking_(blocking) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* reply) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Receive(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Ack(grpc::CallbackServerContext* context,
                                const grpc::ByteBuffer* request, grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* GetOffsets(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* GetEndOffsets(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* reply) override;

 private:
  Gateway* const gateway_;
  Executor* const blocking_;
};

}  // namespace runnel::gateway
