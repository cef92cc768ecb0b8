#pragma once
// The threaded shell around a LaneCore (lane_core.h): one worker thread per lane feeds the core
// the events that reach its mailbox (records from input readers, function outputs and call
// ends from transport threads, publish acknowledgements from Publisher threads, timers) and
// carries out the commands the core returns. Nothing here decides anything.
//
// Threading: the core and the calls map belong to the worker thread; the mailbox is guarded by
// mu_. Push() may block (backpressure on the input reader); everything else never blocks.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sidecar/lane_core.h"
#include "sidecar/processor_context.h"

namespace runnel::sidecar {

class Lane {
 public:
  Lane(ProcessorContext& context, uint32_t index);
  ~Lane();  // Stop(), then waits for the last callback of every call.

  // Queues a received batch, leaving `batch` empty; blocks while the queue is full (the
  // backpressure on the input). False once the lane drains or stops: the reader then stops.
  bool Push(std::vector<InputRecord>& batch);
  // Stop taking records; finish what can be finished (LaneCore::Drain).
  void Drain();
  // Waits until drained or `deadline`; true when drained.
  bool WaitDrained(absl::Time deadline);
  // Ends the worker thread and cancels running calls. Idempotent.
  void Stop();

  LaneStats stats() const;

 private:
  // An event for the core, recorded by a transport or Publisher thread.
  struct Event {
    enum Kind { kTraits, kOutput, kReject, kNoOutput, kDone, kPublished, kCheckpointed } kind;
    uint64_t id;  // CallId, GroupId or checkpoint sequence number.
    streaming::OutputFrame frame;
    FunctionTraits traits;
    size_t index = 0;
    absl::Status status;
    std::map<std::string, std::string> detail;
  };

  void Run(std::stop_token stop);
  // Event time: hands the core where the last run left off; false when stopped first.
  bool Restore(std::stop_token stop);
  void Execute(std::vector<LaneCommand> commands);
  void Post(Event event);

  ProcessorContext& ctx_;
  const uint32_t index_;

  // Worker thread.
  LaneCore core_;
  std::map<CallId, std::shared_ptr<FunctionCall>> calls_;

  // Mailbox.
  mutable absl::Mutex mu_;
  std::deque<InputRecord> records_ ABSL_GUARDED_BY(mu_);
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_flag_ ABSL_GUARDED_BY(mu_) = false;
  int live_calls_ ABSL_GUARDED_BY(mu_) = 0;
  LaneStats stats_ ABSL_GUARDED_BY(mu_);
  std::jthread thread_;  // Last: starts after, and stops before, everything above.
};

}  // namespace runnel::sidecar
