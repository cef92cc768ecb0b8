#pragma once
// The processor's lane as a state machine: events in (records, function outputs, call ends,
// publish acknowledgements, time), commands out (start/feed/close/cancel a function call,
// publish a group of records, acknowledge an input position). No threads, no I/O, no clock: the
// shell (sidecar/lane.h) feeds it events with the time they happened and carries out the
// commands, so every rule below is tested in microseconds with made-up times.
//
// Windows (docs/sidecar.md "Windows, keys and event time"):
//   streaming   unkeyed, on arrival time: today's windows. The call starts when the window
//               opens and records stream into it; max_open_windows and
//               max_concurrent_invocations bound a lane.
//   collected   keyed (--key-by) or on event time: records are buffered per (key, window) and the
//               window is invoked with all its records once it closes (arrival time: count or
//               time; event time: the watermark passed its end plus the allowed lateness).
//               Several collected windows are invoked at once (kCollectedConcurrency).
// Results: a call's outputs are held until the call completes; only a completed attempt's
// outputs are published, in window order, and a window's inputs count as processed once its
// outputs are durable. A failed attempt's outputs are dropped.
// Failures: an attempt that fails is retried (invoke_retry); when retries run out and there is
// a dead-letter stream, the window is searched for the records that fail it (halves are
// invoked alone, outputs discarded, down to single records that get every retry), those are
// dead-lettered with the error, and the window runs once more without them, its outputs then
// published. Without a dead-letter stream a failing window retries at max_backoff forever.
// A record whose key or event time cannot be read is dead-lettered at once (or, without a
// dead-letter stream, dropped and counted).
// Late records (behind the watermark beyond the allowed lateness): dropped and counted,
// published as they are to the late stream, or refired: the window is invoked again with its
// late records alone, headers and outputs marked as an update.
//
// Thread-compatible (one owner: the lane thread). `budget` is thread-safe and may be shared.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "riff/riff-rpc.pb.h"
#include "sidecar/ack_tracker.h"
#include "sidecar/checkpoint.h"
#include "sidecar/event_windows.h"
#include "sidecar/function_transport.h"
#include "sidecar/gateway_client.h"
#include "sidecar/options.h"
#include "sidecar/output_budget.h"
#include "sidecar/retry_policy.h"
#include "sidecar/watermark.h"
#include "sidecar/windower.h"

namespace runnel::sidecar {

using CallId = uint64_t;   // One function call (one attempt of one window); never reused.
using GroupId = uint64_t;  // One group of records handed to a publisher; never reused.

// Collected windows invoked at once per lane (at least max_concurrent_invocations).
inline constexpr int kCollectedConcurrency = 16;
// Collected windows started and not yet complete (invoking or publishing) per lane.
inline constexpr int kCollectedInFlight = 256;

namespace lane {

struct StartCall {
  CallId call;
  std::vector<streaming::InputFrame> frames;  // Written first, in order.
  absl::Time deadline;                        // InfiniteFuture(): none.
  std::shared_ptr<OutputBudget::Route> route;
};
struct Send {
  CallId call;
  streaming::InputFrame frame;
};
struct HalfClose {
  CallId call;
};
struct Cancel {
  CallId call;
};
enum class Target { kOutput, kDeadLetter, kLate };
struct Publish {
  GroupId group;
  Target target;
  int output = 0;  // kOutput: which output.
  std::vector<liiklus::PublishRequest> records;
};
struct Ack {
  int input;
  uint32_t partition;
  int64_t offset;  // The last offset processed.
};
// Event time: store `checkpoint` durably, then answer OnCheckpointWritten(seq); the acks it
// covers are held back until then (checkpoint.h says why).
struct WriteCheckpoint {
  uint64_t seq;
  Checkpoint checkpoint;
};

}  // namespace lane

using LaneCommand = std::variant<lane::StartCall, lane::Send, lane::HalfClose, lane::Cancel,
                                 lane::Publish, lane::Ack, lane::WriteCheckpoint>;

// On event time, how often a lane stores a checkpoint (and so acknowledges) at most.
inline constexpr absl::Duration kCheckpointInterval = absl::Milliseconds(200);

// Counters the lane updates; every pointer must be valid (LaneMetrics::Register makes them).
struct LaneMetrics {
  std::vector<Counter*> records_in;   // Per input.
  std::vector<Counter*> records_out;  // Per output.
  Counter* duplicates;
  Counter* windows_completed;
  Counter* invocations;
  Counter* invocation_errors;
  Counter* retries;
  Counter* dead_lettered;
  Counter* late_records;
  Counter* invalid_records;  // Unreadable key/time, no dead-letter stream: dropped.
  Counter* acks;
  Histogram* invocation_seconds;
  Histogram* window_close_delay;  // Event time: processing time at firing minus window end.

  static LaneMetrics Register(MetricsRegistry& registry, const ProcessorOptions& options);
};

// What the lane shows the processor's status and gauges.
struct LaneStats {
  size_t unacked = 0;                                    // Records read, not yet acknowledged.
  size_t open_windows = 0;                               // Collecting or running.
  size_t buffered = 0;                                   // Records held by windows.
  absl::Time watermark = absl::InfinitePast();           // Event time only.
  absl::Time watermark_computed = absl::InfinitePast();  // When `watermark` was computed.
  bool watermark_follows_clock = false;  // Every input idle: it advances with the clock.
  // Processing time `now` minus the watermark at `now` (which, while every input is idle, has
  // moved on with the clock since it was computed); nullopt before there is one.
  std::optional<absl::Duration> WatermarkLag(absl::Time now) const {
    if (watermark == absl::InfinitePast()) return std::nullopt;
    return watermark_follows_clock ? watermark_computed - watermark : now - watermark;
  }
  std::string last_error;
  absl::Time last_error_time = absl::InfinitePast();
};

// Whether `options` window on event time (and so keep checkpoints): an event-time source and a
// window kind that has a time (count-only windows stay in arrival order).
bool WindowsOnEventTime(const ProcessorOptions& options);

class LaneCore {
 public:
  LaneCore(const ProcessorOptions& options, const LaneMetrics& metrics, OutputBudget* budget,
           uint64_t seed = 17);
  ~LaneCore();

  // Event time: the lane reads `partitions` input partitions, from `now` on (Watermark::Expect).
  void ExpectPartitions(size_t partitions, absl::Time now);
  // Event time: where a previous run of this lane left off (before the first record).
  void Restore(const Checkpoint& checkpoint);
  // A WriteCheckpoint command's checkpoint is durable (OK: its acks go out) or not (retried).
  void OnCheckpointWritten(uint64_t seq, absl::Status status, absl::Time now);

  // Whether the next record may be taken (bounds on windows, calls and buffered records).
  bool CanAccept() const;
  // A record read from an input (in offset order per partition) at processing time `now`.
  void Add(InputRecord record, absl::Time now);
  // Records read from the inputs wait in the shell because CanAccept() is false. Event time:
  // the partitions this lane read are then busy, not idle (watermark.h), however long the lane
  // takes to work through the windows that fired; without this, a lane slower than
  // --idle-timeout saw its own backlog as idle inputs, moved the watermark on with the clock,
  // and dropped the backlog as late.
  void OnRecordsWaiting(absl::Time now);

  // Events of a call started by a StartCall command. Events of calls the lane gave up (a
  // failed or cancelled attempt) are ignored.
  void OnTraits(CallId call, FunctionTraits traits, absl::Time now);
  void OnOutput(CallId call, streaming::OutputFrame frame, absl::Time now);
  void OnReject(CallId call, size_t index, absl::Status status,
                std::map<std::string, std::string> detail, absl::Time now);
  // Frame `index` of a call that answers in order was answered with no output.
  void OnNoOutput(CallId call, size_t index, absl::Time now);
  void OnCallDone(CallId call, absl::Status status, absl::Time now);
  // A Publish command's group is durable (OK), refused for good, or cancelled (shutdown).
  void OnPublished(GroupId group, absl::Status status, absl::Time now);
  // Time passed: closes arrival windows, fires event-time windows, retries, ends lingers.
  void Advance(absl::Time now);
  // When Advance() next has something to do; nullopt: only an event can change anything.
  std::optional<absl::Time> NextTimer(absl::Time now) const;

  // Stop taking records and finish what can be finished: streaming windows close and complete;
  // collected windows that fired complete; event-time windows that did not fire are dropped
  // (their records are not acknowledged and come back after a restart).
  void Drain(absl::Time now);
  // Draining and nothing left to finish.
  bool Drained() const;

  // The commands produced since the last call, in order.
  std::vector<LaneCommand> TakeCommands();
  LaneStats stats() const;

 private:
  struct Slot;
  struct Window;
  struct Isolation;

  // Records.
  uint64_t Store(InputRecord record, std::string key, absl::Time event_time, int refs);
  void Release(uint64_t slot);
  void Reject(InputRecord record, const PartitionKey& at, absl::Status error, absl::Time now);
  // Windows.
  Window& NewWindow(int kind, std::string key, absl::Time now);
  void PlaceStreaming(uint64_t slot, absl::Time now);
  void PlaceCollected(uint64_t slot, absl::Time now);
  void PlaceLate(uint64_t slot, const std::vector<EventWindowBounds>& late, absl::Time now);
  void CloseArrival(const std::string& key, WindowId id, absl::Time now);
  void FireEventWindows(absl::Time now);
  void StartPending(absl::Time now);
  // Calls.
  void StartAttempt(Window& w, std::vector<uint64_t> records, absl::Time now);
  void MaybeHalfClose(Window& w, absl::Time now);
  void FailAttempt(Window& w, absl::Status status, absl::Time now);
  void NextProbe(Window& w, absl::Time now);
  void DeadLetter(Window& w, uint64_t slot, const absl::Status& error,
                  std::map<std::string, std::string> detail);
  void Succeed(Window& w, absl::Time now);
  // Closes `w` to further records (early: the function completed it, or it failed for good).
  void EndInput(Window& w);
  // Results.
  void ReleaseInOrder(absl::Time now);
  void PublishOutputs(Window& w, absl::Time now);
  // Whether every window before `w` released its outputs.
  bool Oldest(const Window& w) const;
  // Publishes the answers `w` holds (a call that answers in order, oldest, not a probe).
  void StreamAnswers(Window& w, absl::Time now);
  void Stage(Window& w, lane::Target target, int output, liiklus::PublishRequest request);
  void FlushStaged();
  void DropHeld(Window& w);
  void MaybeComplete(uint64_t id);
  void EmitAcks();  // Ack commands for the positions that became safe (event time: held back).
  void MaybeCheckpoint(absl::Time now);
  // Marks `records` processed: at once, or on event time once a checkpoint covers `bound`.
  void CompleteRecords(std::vector<std::pair<PartitionKey, int64_t>> records,
                       std::optional<absl::Time> bound);
  absl::Time CompleteThrough() const;
  void NoteError(const absl::Status& status, absl::Time now);
  Window* Find(CallId call);
  std::string KeyOf(const Slot& slot) const;

  const ProcessorOptions& options_;
  const LaneMetrics metrics_;
  OutputBudget* const budget_;
  const bool event_time_;  // Windows on event time.
  const bool keyed_;       // Windows per key.
  RetryPolicy retry_;
  AckTracker tracker_;
  Watermark watermark_;
  std::optional<EventWindows> event_windows_;
  // Arrival time: a Windower per key ("" when unkeyed), and which lane window each of its
  // windows is.
  std::map<std::string, Windower> windowers_;
  std::map<std::pair<std::string, WindowId>, uint64_t> arrival_windows_;

  std::unordered_map<uint64_t, Slot> slots_;
  uint64_t next_slot_ = 1;
  std::map<uint64_t, Window> windows_;  // By id: the order results are published in.
  uint64_t next_window_ = 1;
  std::deque<uint64_t> pending_;  // Collected windows waiting for a call slot.
  int waiting_retries_ = 0;       // Windows in windows_ with waiting_retry set.
  // The ends of the windows in windows_ that have bounds (CompleteThrough takes the earliest).
  std::multiset<absl::Time> bounded_ends_;
  std::map<CallId, uint64_t> calls_;  // Running calls -> window.
  CallId next_call_ = 1;
  std::map<GroupId, uint64_t> groups_;  // Groups not yet durable -> window.
  GroupId next_group_ = 1;
  struct Staged {
    uint64_t window;
    lane::Target target;
    int output;
    std::vector<liiklus::PublishRequest> records;
  };
  std::vector<Staged> staged_;
  std::vector<LaneCommand> commands_;
  bool draining_ = false;
  absl::Time watermark_at_ = absl::InfinitePast();        // As last computed,
  absl::Time watermark_computed_ = absl::InfinitePast();  // at this processing time.
  // Checkpoints (event time).
  std::optional<Checkpoint> restored_;
  std::map<PartitionKey, int64_t> read_through_;  // Highest offset read per partition.
  // Records of completed event-time windows, by the window's end plus the allowed lateness:
  // they count as processed (and can be acknowledged) only once a checkpoint covers the window.
  std::multimap<absl::Time, std::vector<std::pair<PartitionKey, int64_t>>> uncovered_;
  std::map<PartitionKey, int64_t> unsent_acks_;         // Safe, waiting for a checkpoint.
  std::map<PartitionKey, int64_t> checkpointing_acks_;  // Waiting for checkpoint `in_flight_`.
  uint64_t in_flight_ = 0;                              // 0: no checkpoint being written.
  uint64_t next_seq_ = 1;
  absl::Time next_checkpoint_at_ = absl::InfinitePast();
  std::string last_error_;
  absl::Time last_error_time_ = absl::InfinitePast();
};

}  // namespace runnel::sidecar
