#include "sidecar/event_windows.h"

#include <algorithm>
#include <iterator>

#include "common/logging.h"

namespace runnel::sidecar {
namespace {

// Aligned on the Unix epoch, so every processor (and every restart) cuts the same windows.
absl::Time AlignDown(absl::Time t, absl::Duration unit) {
  return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), unit);
}

}  // namespace

EventWindows::EventWindows(const WindowSpec& spec, absl::Duration allowed_lateness)
    : spec_(spec), lateness_(allowed_lateness) {
  // The lane only builds this for time-based specs; config validation refuses the rest.
  RUNNEL_CHECK(spec.kind != WindowSpec::Kind::kTumbling || spec.time > absl::ZeroDuration());
}

std::vector<EventWindowBounds> EventWindows::WindowsOf(absl::Time t) const {
  std::vector<EventWindowBounds> out;
  switch (spec_.kind) {
    case WindowSpec::Kind::kTumbling: {
      const absl::Time start = AlignDown(t, spec_.time);
      out.push_back({start, start + spec_.time});
      break;
    }
    case WindowSpec::Kind::kSliding: {
      // Oldest first, so a record's windows fire in the order they are listed.
      absl::Time start = AlignDown(t, spec_.slide);
      while (start + spec_.size > t) {
        out.push_back({start, start + spec_.size});
        start -= spec_.slide;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case WindowSpec::Kind::kSession:
      out.push_back({t, t + spec_.gap});
      break;
  }
  return out;
}

EventWindows::Added EventWindows::Add(uint64_t id, const std::string& key, absl::Time event_time,
                                      absl::Time watermark) {
  Added added;
  if (spec_.kind == WindowSpec::Kind::kSession) {
    AddToSession(id, key, event_time, added, watermark);
    return added;
  }
  for (const EventWindowBounds& b : WindowsOf(event_time)) {
    if (Fired(b.end, watermark)) {
      added.late.push_back(b);
      continue;
    }
    windows_[{b.end, key, b.start}].push_back(id);
    ++added.windows;
    ++buffered_;
  }
  return added;
}

void EventWindows::AddToSession(uint64_t id, const std::string& key, absl::Time t, Added& added,
                                absl::Time watermark) {
  std::set<std::pair<absl::Time, absl::Time>>& open = sessions_[key];
  absl::Time start = t;
  absl::Time end = t + spec_.gap;
  // Open sessions this record touches: less than `gap` from one of their records.
  std::vector<std::pair<absl::Time, absl::Time>> touched;
  for (const auto& s : open) {
    if (s.first < end && s.second > t) {
      touched.push_back(s);
    }
  }
  if (touched.empty() && Fired(end, watermark)) {
    added.late.push_back({start, end});
    if (open.empty()) sessions_.erase(key);
    return;
  }
  std::vector<uint64_t> records;
  for (const auto& s : touched) {
    start = std::min(start, s.first);
    end = std::max(end, s.second);
    auto it = windows_.find({s.second, key, s.first});
    RUNNEL_CHECK(it != windows_.end());  // Every open session has its window.
    records.insert(records.end(), it->second.begin(), it->second.end());
    windows_.erase(it);
    open.erase(s);
  }
  records.push_back(id);
  ++buffered_;
  open.insert({start, end});
  windows_[{end, key, start}] = std::move(records);
  added.windows = 1;
}

std::vector<FiredWindow> EventWindows::Fire(absl::Time watermark) {
  std::vector<FiredWindow> fired;
  while (!windows_.empty()) {
    auto it = windows_.begin();
    const auto& [end, key, start] = it->first;
    if (!Fired(end, watermark)) {
      break;
    }
    FiredWindow w{.key = key, .bounds = {start, end}, .records = std::move(it->second)};
    buffered_ -= w.records.size();
    if (spec_.kind == WindowSpec::Kind::kSession) {
      auto s = sessions_.find(key);
      if (s != sessions_.end()) {
        s->second.erase({start, end});
        if (s->second.empty()) sessions_.erase(s);
      }
    }
    windows_.erase(it);
    fired.push_back(std::move(w));
  }
  return fired;
}

absl::Time EventWindows::NextFiring() const {
  if (windows_.empty()) {
    return absl::InfiniteFuture();
  }
  return std::get<0>(windows_.begin()->first) + lateness_;
}

absl::Time EventWindows::EarliestOpenSessionStart() const {
  absl::Time earliest = absl::InfiniteFuture();
  for (const auto& [key, open] : sessions_) {
    if (!open.empty()) earliest = std::min(earliest, open.begin()->first);
  }
  return earliest;
}

void EventWindows::Clear() {
  windows_.clear();
  sessions_.clear();
  buffered_ = 0;
}

}  // namespace runnel::sidecar
