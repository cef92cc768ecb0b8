#include "sidecar/ack_tracker.h"

#include <algorithm>

namespace runnel::sidecar {

bool AckTracker::Track(const PartitionKey& key, int64_t offset, int windows) {
  Partition& p = partitions_[key];
  if (offset <= p.highest_tracked) {
    return false;
  }
  p.highest_tracked = offset;
  p.offsets.emplace_back(offset, std::max(windows, 1));
  return true;
}

void AckTracker::Complete(const PartitionKey& key, int64_t offset) {
  auto it = partitions_.find(key);
  if (it == partitions_.end()) {
    return;
  }
  Partition& p = it->second;
  auto pos = std::lower_bound(p.offsets.begin(), p.offsets.end(), offset,
                              [](const auto& entry, int64_t o) { return entry.first < o; });
  if (pos == p.offsets.end() || pos->first != offset || pos->second == 0) {
    return;
  }
  --pos->second;
  // Pop the completed prefix: those offsets are safe, and so is everything before them.
  while (!p.offsets.empty() && p.offsets.front().second == 0) {
    p.safe = p.offsets.front().first;
    p.offsets.pop_front();
  }
}

std::vector<AckPosition> AckTracker::TakeAcks() {
  std::vector<AckPosition> acks;
  for (auto& [key, p] : partitions_) {
    if (p.safe > p.reported) {
      acks.push_back({.key = key, .offset = p.safe});
      p.reported = p.safe;
    }
  }
  return acks;
}

size_t AckTracker::pending() const {
  size_t n = 0;
  for (const auto& [key, p] : partitions_) n += p.offsets.size();
  return n;
}

int64_t AckTracker::highest_tracked(const PartitionKey& key) const {
  auto it = partitions_.find(key);
  return it == partitions_.end() ? -1 : it->second.highest_tracked;
}

}  // namespace runnel::sidecar
