#pragma once
// Which input offsets are safe to acknowledge. At-least-once needs the acked position of a
// partition to stay below every record whose windows have not all completed, even when windows
// complete out of order (sliding windows, retries, concurrent invocations). Pure logic: no
// threads, no I/O.
//
//   tracker.Track(p, 7, /*windows=*/2);   // offset 7 of partition p joined two windows
//   tracker.Complete(p, 7);                // one of them completed (function done, outputs acked)
//   tracker.Complete(p, 7);                // the other one too
//   tracker.TakeAcks();                    // -> {p: 7} when every offset before 7 is done too

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace runnel::sidecar {

// One input partition: which input (index into the processor's inputs) and which partition.
struct PartitionKey {
  int input = 0;
  uint32_t partition = 0;
  friend bool operator<(const PartitionKey& a, const PartitionKey& b) {
    return std::pair(a.input, a.partition) < std::pair(b.input, b.partition);
  }
  friend bool operator==(const PartitionKey& a, const PartitionKey& b) = default;
};

struct AckPosition {
  PartitionKey key;
  int64_t offset = 0;  // The last offset processed: the gateway resumes at offset + 1.
};

// Thread-compatible (one owner).
class AckTracker {
 public:
  // Records that `offset` of `key` was received and belongs to `windows` windows (>= 1).
  // Offsets of one partition must be tracked in increasing order; an offset at or below the
  // highest one tracked (a redelivery after a reconnect) is ignored and false is returned, so
  // the caller can drop the duplicate.
  bool Track(const PartitionKey& key, int64_t offset, int windows);
  // One of the offset's windows completed. Unknown offsets are ignored.
  void Complete(const PartitionKey& key, int64_t offset);
  // For each partition whose safe position advanced since the last call: the highest offset
  // such that it and every tracked offset before it have completed.
  std::vector<AckPosition> TakeAcks();
  // Tracked offsets not yet completed, over all partitions.
  size_t pending() const;
  // The highest offset ever tracked for `key`, or -1.
  int64_t highest_tracked(const PartitionKey& key) const;

 private:
  struct Partition {
    std::deque<std::pair<int64_t, int>> offsets;  // (offset, windows remaining), increasing.
    int64_t highest_tracked = -1;
    int64_t safe = -1;        // Highest completed contiguous offset.
    int64_t reported = -1;    // Last value returned by TakeAcks().
  };
  std::map<PartitionKey, Partition> partitions_;
};

}  // namespace runnel::sidecar
