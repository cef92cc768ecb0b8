#pragma once
// What every lane of a processor shares: the function transport, publishers, ackers and the
// output budget. Publishers, ackers and the budget are thread-safe; the rest is immutable once
// the processor started reading. Members are destroyed bottom-up: publishers (whose Stop settles
// outputs into the budget) before the budget, whose paused calls' resumes hold calls of the
// transport, before the transport.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "riff/riff-rpc.pb.h"
#include "sidecar/checkpoint_store.h"
#include "sidecar/function_transport.h"
#include "sidecar/gateway_client.h"
#include "sidecar/lane_core.h"
#include "sidecar/options.h"
#include "sidecar/output_budget.h"

namespace runnel::sidecar {

struct ProcessorContext {
  ProcessorOptions options;
  Clock* clock = nullptr;
  std::unique_ptr<FunctionTransport> transport;
  std::unique_ptr<OutputBudget> budget;  // Function outputs not yet durable.
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;  // By gateway address.
  streaming::StartFrame start_frame;                               // Filled during startup.
  std::vector<std::unique_ptr<Acker>> ackers;                      // Per input.
  std::vector<std::unique_ptr<Publisher>> publishers;              // Per output.
  std::unique_ptr<Publisher> dead_letter;
  std::unique_ptr<Publisher> late;               // --late side-output.
  std::unique_ptr<CheckpointStore> checkpoints;  // Event time only.
  std::vector<int> input_partitions;             // Event time only: per input, its partition count.
  LaneMetrics metrics;

  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    auto& channel = channels[address];
    if (channel == nullptr) {
      channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    }
    return channel;
  }
};

}  // namespace runnel::sidecar
