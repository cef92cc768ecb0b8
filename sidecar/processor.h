#pragma once
// The processor: reads its inputs as a consumer group, windows them, invokes the function once
// per window, publishes what the function emits and acknowledges inputs once their results are
// durable (at-least-once).
//
// Shape (docs/sidecar.md has the picture):
//   InputReader (per input; a thread per assigned partition)
//     -> Lane (per partition number, one worker thread; bounded record queue = backpressure)
//          Windower + AckTracker + RetryPolicy (pure), one FunctionCall per window
//     -> Publisher (per output stream; PublishBatches, pipelined)   -> Acker (per input)
// Partition p of every input goes to lane p, so co-partitioned inputs meet in one invocation and
// per-key state in a window is correct; lanes run concurrently, order is kept within a lane.
// Function outputs not yet durable are bounded by one OutputBudget (max_pending_outputs): at the
// bound the processor stops reading from the function, and so, windows being unable to
// complete, from its inputs.
//
// Threading: each Lane's state is owned by its worker thread; everything else reaches it by
// posting a task (FunctionCall callbacks from gRPC reactions, publish acknowledgements from
// Publisher threads). Nothing here blocks a gRPC reaction thread.

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "sidecar/function_transport.h"
#include "sidecar/gateway_client.h"
#include "sidecar/options.h"
#include "sidecar/status.h"

namespace runnel::sidecar {

class Lane;
struct ProcessorContext;

// Thread-safe.
class Processor {
 public:
  // `transport` null: HTTP to options.http_function when set, else riff-rpc over gRPC to
  // options.function_address.
  Processor(ProcessorOptions options, Clock& clock, MetricsRegistry& metrics,
            std::unique_ptr<FunctionTransport> transport = nullptr);
  ~Processor();  // Shutdown().

  // Runs once, on the startup thread, when the configuration cannot work (a dead-letter stream
  // whose content type is not "*/*"); the processor then stays idle. Must not block.
  using OnFatal = absl::AnyInvocable<void(absl::Status) &&>;

  // Connects in the background: resolves output and dead-letter content types, waits for the
  // function (both retried with back-off and logged, never fatal), then starts reading. Returns
  // at once. A dead-letter stream that does not take every content type is reported to
  // `on_fatal` (FAILED_PRECONDITION) instead.
  void Start(OnFatal on_fatal = nullptr);
  // Stops taking input, lets open windows finish (up to options.shutdown_grace), acknowledges
  // what completed, abandons the rest (it is replayed after a restart). Idempotent.
  void Shutdown();

  // True once reading; `detail` says what it waits for otherwise.
  bool Ready(std::string* detail) const;
  // What `runnel processor status` shows (GET /status). Thread-safe; never blocks for long.
  ProcessorStatus Status() const;

 private:
  void Startup(std::stop_token stop);
  void RefreshLag();  // Startup thread.
  // The largest lag of a lane's watermark behind processing time; nullopt before any.
  std::optional<absl::Duration> WatermarkLag() const;
  Lane& LaneFor(uint32_t partition);

  ProcessorOptions options_;
  Clock& clock_;
  MetricsRegistry& metrics_;
  std::unique_ptr<ProcessorContext> context_;  // Publishers, ackers, metrics, transport.
  std::vector<Counter*> publish_refused_;       // Per output.
  Counter* dead_letter_refused_ = nullptr;
  Counter* late_refused_ = nullptr;
  OnFatal on_fatal_;                           // Startup thread once started.
  mutable absl::Mutex mu_;
  std::string state_ ABSL_GUARDED_BY(mu_) = "not started";
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  mutable absl::Mutex lanes_mu_;
  std::map<uint32_t, std::unique_ptr<Lane>> lanes_ ABSL_GUARDED_BY(lanes_mu_);
  bool stopping_ ABSL_GUARDED_BY(lanes_mu_) = false;
  std::vector<std::unique_ptr<InputReader>> readers_;  // Written by the startup thread only.
  // Per input and partition: records behind the partition's end (refreshed every second).
  absl::Mutex lag_mu_;
  std::map<std::pair<size_t, uint32_t>, int64_t> lag_ ABSL_GUARDED_BY(lag_mu_);
  std::jthread startup_;
};

}  // namespace runnel::sidecar
