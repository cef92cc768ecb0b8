#pragma once
// Where a processor's lanes keep their event-time checkpoints (checkpoint.h): a JSON stream on
// the first input's gateway, "<group>.checkpoints", created by the processor with as many
// partitions as its widest input. Lane L writes to partition L mod partitions; its checkpoint is
// the last record there that names it. One small record per lane per kCheckpointInterval of
// progress at most; the gateway's retention bounds the stream.
//
// Threading: Open and Load block (startup thread, lane threads before their first record);
// Write never blocks: a worker thread publishes, in order, and runs each `done` there.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runnel/v1/gateway.grpc.pb.h"
#include "sidecar/checkpoint.h"

namespace runnel::sidecar {

// The state stream of consumer group `group`.
std::string CheckpointStreamName(const std::string& group);

class CheckpointStore {
 public:
  using Done = absl::AnyInvocable<void(absl::Status) &&>;

  CheckpointStore(std::shared_ptr<grpc::Channel> channel, std::string stream);
  ~CheckpointStore();  // Stop().

  // Creates the stream when missing (`partitions`, application/json) and learns its partition
  // count. UNAVAILABLE and friends when the gateway does not answer: the caller retries.
  absl::Status Open(int partitions);
  // The last checkpoint `lane` wrote; nullopt when it never wrote one. REQUIRES: Open succeeded.
  absl::StatusOr<std::optional<Checkpoint>> Load(uint32_t lane);
  // Stores `checkpoint` of `lane`; `done` runs once, on the store's thread (CANCELLED at Stop).
  void Write(uint32_t lane, const Checkpoint& checkpoint, Done done);
  // Fails what is queued with CANCELLED and joins the thread. Idempotent.
  void Stop();

 private:
  struct Pending {
    uint32_t lane;
    std::string json;
    Done done;
  };
  void WriterLoop(std::stop_token stop);

  std::unique_ptr<v1::Gateway::Stub> stub_;
  const std::string stream_;
  int partitions_ = 1;  // Set by Open, before any Load or Write.
  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::jthread writer_;
};

}  // namespace runnel::sidecar
