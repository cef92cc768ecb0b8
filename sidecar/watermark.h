#pragma once
// Event-time watermarks for one lane: how far event time has certainly progressed on the input
// partitions it reads. Pure logic, no threads, no I/O; processing time is passed in.
//
//   Per partition: the highest event time it delivered minus max_out_of_orderness.
//   The lane's watermark: the minimum over its partitions that are not idle. A partition that
//   delivered nothing for idle_timeout (processing time) is idle and stops holding it back.
//   When every partition is idle, event time is taken to advance with processing time from the
//   moment the last one went quiet, so the last windows of a stream that stopped still fire,
//   without jumping a replay of old data to the present.
//   The watermark never goes back (Floor() can raise it, e.g. to a restored checkpoint).
//
// Before any partition delivered a record the watermark is absl::InfinitePast().

#include <map>
#include <optional>

#include "absl/time/time.h"
#include "sidecar/ack_tracker.h"

namespace runnel::sidecar {

struct WatermarkOptions {
  absl::Duration max_out_of_orderness = absl::ZeroDuration();
  absl::Duration idle_timeout = absl::Seconds(10);  // Zero: partitions never go idle.
};

// Thread-compatible (one owner).
class Watermark {
 public:
  explicit Watermark(const WatermarkOptions& options) : options_(options) {}

  // The lane will read `partitions` partitions, from `since` on: until each delivered a record,
  // or idle_timeout passed since `since`, the watermark does not move (a partition whose reader
  // starts a moment later must not find its first records late).
  void Expect(size_t partitions, absl::Time since);
  // A record of `partition` with `event_time` was read at processing time `now`.
  void Observe(const PartitionKey& partition, absl::Time event_time, absl::Time now);
  // Raises the watermark to at least `floor` (a restored checkpoint).
  void Floor(absl::Time floor);
  // The watermark at processing time `now` (monotonic over calls).
  absl::Time Current(absl::Time now);
  // The earliest processing time, not before `now`, at which Current() reaches `mark` if no
  // further record arrives (partitions going idle, then event time advancing with the clock);
  // nullopt when it never would (idle_timeout zero).
  std::optional<absl::Time> WhenReaches(absl::Time mark, absl::Time now) const;
  // Whether the last Current() found every partition idle: the watermark then moves on with the
  // processing clock between calls.
  bool follows_clock() const { return follows_clock_; }
  // Highest event time observed on any partition; InfinitePast() before the first record.
  absl::Time max_event_time() const { return max_event_time_; }

 private:
  struct Partition {
    absl::Time max_event_time = absl::InfinitePast();
    absl::Time last_seen;  // Processing time.
  };
  bool Idle(const Partition& p, absl::Time now) const;
  bool WaitingForPartitions(absl::Time now) const;

  const WatermarkOptions options_;
  std::map<PartitionKey, Partition> partitions_;
  absl::Time current_ = absl::InfinitePast();
  absl::Time max_event_time_ = absl::InfinitePast();
  bool follows_clock_ = false;
  size_t expected_ = 0;
  absl::Time since_ = absl::InfinitePast();
};

}  // namespace runnel::sidecar
