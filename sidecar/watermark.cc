#include "sidecar/watermark.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace runnel::sidecar {

void Watermark::Observe(const PartitionKey& partition, absl::Time event_time, absl::Time now) {
  Partition& p = partitions_[partition];
  p.max_event_time = std::max(p.max_event_time, event_time);
  p.last_seen = now;
  max_event_time_ = std::max(max_event_time_, event_time);
}

void Watermark::Expect(size_t partitions, absl::Time since) {
  expected_ = partitions;
  since_ = since;
}

bool Watermark::WaitingForPartitions(absl::Time now) const {
  if (partitions_.size() >= expected_) {
    return false;
  }
  return options_.idle_timeout <= absl::ZeroDuration() || now - since_ < options_.idle_timeout;
}

void Watermark::Floor(absl::Time floor) { current_ = std::max(current_, floor); }

bool Watermark::Idle(const Partition& p, absl::Time now) const {
  return options_.idle_timeout > absl::ZeroDuration() && now - p.last_seen >= options_.idle_timeout;
}

absl::Time Watermark::Current(absl::Time now) {
  follows_clock_ = false;
  if (partitions_.empty() || WaitingForPartitions(now)) {
    return current_;
  }
  std::optional<absl::Time> active;
  absl::Time quiet_since = absl::InfinitePast();  // When the last partition went idle.
  for (const auto& [key, p] : partitions_) {
    if (Idle(p, now)) {
      quiet_since = std::max(quiet_since, p.last_seen + options_.idle_timeout);
      continue;
    }
    const absl::Time mark = p.max_event_time - options_.max_out_of_orderness;
    active = active ? std::min(*active, mark) : mark;
  }
  absl::Time mark;
  if (active) {
    mark = *active;
  } else {
    // Everything is quiet: event time goes on at the pace of processing time from the highest
    // event time seen, so nothing waits for a record that may never come.
    mark = max_event_time_ - options_.max_out_of_orderness + (now - quiet_since);
    follows_clock_ = true;
  }
  current_ = std::max(current_, mark);
  return current_;
}

std::optional<absl::Time> Watermark::WhenReaches(absl::Time mark, absl::Time now) const {
  if (current_ >= mark) {
    return now;
  }
  if (options_.idle_timeout <= absl::ZeroDuration() || partitions_.empty()) {
    return std::nullopt;
  }
  if (WaitingForPartitions(now)) {
    return std::max(now, since_ + options_.idle_timeout);  // Look again once the wait ends.
  }
  // Partitions leave the minimum one by one as they go idle; after the last, event time runs
  // with the clock from the highest event time seen.
  std::vector<std::pair<absl::Time, absl::Time>> by_idle;  // (goes idle at, its mark).
  for (const auto& [key, p] : partitions_) {
    by_idle.emplace_back(p.last_seen + options_.idle_timeout,
                         p.max_event_time - options_.max_out_of_orderness);
  }
  std::sort(by_idle.begin(), by_idle.end());
  for (size_t i = 0; i < by_idle.size(); ++i) {
    const absl::Time at = by_idle[i].first;
    if (i + 1 == by_idle.size()) {
      const absl::Time base = max_event_time_ - options_.max_out_of_orderness;
      return std::max(now, at + (mark - base));
    }
    absl::Time rest = absl::InfiniteFuture();
    for (size_t j = i + 1; j < by_idle.size(); ++j) rest = std::min(rest, by_idle[j].second);
    if (rest >= mark) {
      return std::max(now, at);
    }
  }
  return std::nullopt;
}

}  // namespace runnel::sidecar
