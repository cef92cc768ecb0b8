#include "sidecar/windower.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace runnel::sidecar {

absl::Time Windower::DeadlineOf(const Open& w) const {
  switch (spec_.kind) {
    case WindowSpec::Kind::kTumbling:
      return spec_.time > absl::ZeroDuration() ? w.start + spec_.time : absl::InfiniteFuture();
    case WindowSpec::Kind::kSliding:
      return w.start + spec_.size;
    case WindowSpec::Kind::kSession:
      return w.deadline;
  }
  return absl::InfiniteFuture();
}

std::vector<WindowId> Windower::Advance(absl::Time now) {
  std::vector<WindowId> closed;
  // Deadlines are not monotonic in opening order for sessions (there is at most one open), and
  // are for tumbling (one open) and sliding (start order); erase-if keeps it simple for all.
  for (auto it = open_.begin(); it != open_.end();) {
    if (DeadlineOf(*it) <= now) {
      closed.push_back(it->id);
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  return closed;
}

std::optional<absl::Time> Windower::NextDeadline() const {
  std::optional<absl::Time> next;
  for (const Open& w : open_) {
    absl::Time d = DeadlineOf(w);
    if (d != absl::InfiniteFuture() && (!next || d < *next)) next = d;
  }
  return next;
}

bool Windower::Close(WindowId id) {
  auto it = std::find_if(open_.begin(), open_.end(), [id](const Open& w) { return w.id == id; });
  if (it == open_.end()) {
    return false;
  }
  open_.erase(it);
  return true;
}

std::vector<WindowId> Windower::CloseAll() {
  std::vector<WindowId> closed;
  for (const Open& w : open_) closed.push_back(w.id);
  open_.clear();
  return closed;
}

Placement Windower::Add(absl::Time now) {
  Placement p;
  p.closed = Advance(now);
  switch (spec_.kind) {
    case WindowSpec::Kind::kTumbling:
    case WindowSpec::Kind::kSession: {
      if (open_.empty()) {
        open_.push_back({.id = next_id_++, .start = now, .deadline = absl::InfiniteFuture()});
        p.opened.push_back(open_.back().id);
      }
      Open& w = open_.back();
      p.member_of.push_back(w.id);
      ++w.records;
      if (spec_.kind == WindowSpec::Kind::kSession) w.deadline = now + spec_.gap;
      if (spec_.count > 0 && w.records >= spec_.count) {
        p.closed.push_back(w.id);
        open_.pop_back();
      }
      break;
    }
    case WindowSpec::Kind::kSliding: {
      // Windows covering `now` start at k*slide for k*slide in (now - size, now].
      const int64_t slide_ns = absl::ToInt64Nanoseconds(spec_.slide);
      const int64_t now_ns = absl::ToUnixNanos(now);
      int64_t last_start = now_ns - (((now_ns % slide_ns) + slide_ns) % slide_ns);
      std::vector<int64_t> starts;
      for (int64_t s = last_start; s > now_ns - absl::ToInt64Nanoseconds(spec_.size);
           s -= slide_ns) {
        starts.push_back(s);
      }
      std::reverse(starts.begin(), starts.end());  // Oldest first.
      for (int64_t s : starts) {
        absl::Time start = absl::FromUnixNanos(s);
        auto it = std::find_if(open_.begin(), open_.end(),
                               [&](const Open& w) { return w.start == start; });
        if (it == open_.end()) {
          // Only windows newer than every open one can be missing (older ones covering `now`
          // would have opened with an earlier record or never will), so appending keeps order.
          open_.push_back({.id = next_id_++, .start = start, .deadline = start + spec_.size});
          p.opened.push_back(open_.back().id);
          it = open_.end() - 1;
        }
        ++it->records;
        p.member_of.push_back(it->id);
      }
      break;
    }
  }
  return p;
}

}  // namespace runnel::sidecar
