#include "sidecar/windower.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace runnel::sidecar {
namespace {

absl::Status SpecError(const std::string& spec, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("window spec '", spec, "': ", what));
}

absl::StatusOr<absl::Duration> PositiveDuration(const std::string& spec, const std::string& key,
                                                const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return SpecError(spec, absl::StrCat(key, "='", value,
                                        "' is not a positive duration (e.g. 500ms, 1s, 2m)"));
  }
  return d;
}

absl::StatusOr<int64_t> PositiveCount(const std::string& spec, const std::string& key,
                                      const std::string& value) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n <= 0) {
    return SpecError(spec, absl::StrCat(key, "='", value, "' is not a positive integer"));
  }
  return n;
}

}  // namespace

absl::StatusOr<WindowSpec> ParseWindowSpec(const std::string& spec) {
  WindowSpec out;
  absl::string_view rest(spec);
  if (absl::ConsumePrefix(&rest, "sliding:")) {
    out.kind = WindowSpec::Kind::kSliding;
  } else if (absl::ConsumePrefix(&rest, "session:")) {
    out.kind = WindowSpec::Kind::kSession;
  } else {
    absl::ConsumePrefix(&rest, "tumbling:");
  }
  if (rest.empty()) {
    return SpecError(spec, "empty; expected e.g. count=1000,time=1s");
  }
  bool seen_count = false, seen_time = false, seen_size = false, seen_slide = false,
       seen_gap = false;
  for (absl::string_view part : absl::StrSplit(rest, ',')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    const std::string& key = kv.first;
    const std::string& value = kv.second;
    if (value.empty()) {
      return SpecError(spec, absl::StrCat("'", std::string(part), "' is not key=value"));
    }
    auto once = [&](bool& seen) -> absl::Status {
      if (seen) {
        return SpecError(spec, absl::StrCat("'", key, "' given twice"));
      }
      seen = true;
      return absl::OkStatus();
    };
    absl::Status s;
    if (key == "count" && out.kind != WindowSpec::Kind::kSliding) {
      if (s = once(seen_count); !s.ok()) return s;
      auto n = PositiveCount(spec, key, value);
      if (!n.ok()) return n.status();
      out.count = *n;
    } else if (key == "time" && out.kind == WindowSpec::Kind::kTumbling) {
      if (s = once(seen_time); !s.ok()) return s;
      auto d = PositiveDuration(spec, key, value);
      if (!d.ok()) return d.status();
      out.time = *d;
    } else if (key == "size" && out.kind == WindowSpec::Kind::kSliding) {
      if (s = once(seen_size); !s.ok()) return s;
      auto d = PositiveDuration(spec, key, value);
      if (!d.ok()) return d.status();
      out.size = *d;
    } else if (key == "slide" && out.kind == WindowSpec::Kind::kSliding) {
      if (s = once(seen_slide); !s.ok()) return s;
      auto d = PositiveDuration(spec, key, value);
      if (!d.ok()) return d.status();
      out.slide = *d;
    } else if (key == "gap" && out.kind == WindowSpec::Kind::kSession) {
      if (s = once(seen_gap); !s.ok()) return s;
      auto d = PositiveDuration(spec, key, value);
      if (!d.ok()) return d.status();
      out.gap = *d;
    } else {
      const char* allowed = out.kind == WindowSpec::Kind::kTumbling  ? "count, time"
                            : out.kind == WindowSpec::Kind::kSliding ? "size, slide"
                                                                     : "gap, count";
      return SpecError(spec, absl::StrCat("unknown key '", key, "' (allowed here: ", allowed, ")"));
    }
  }
  switch (out.kind) {
    case WindowSpec::Kind::kTumbling:
      if (!seen_count && !seen_time) {
        return SpecError(spec, "a tumbling window needs count=N, time=D or both");
      }
      break;
    case WindowSpec::Kind::kSliding:
      if (!seen_size || !seen_slide) {
        return SpecError(spec, "a sliding window needs size=D and slide=D");
      }
      if (out.slide > out.size) {
        return SpecError(spec, "slide must not be larger than size");
      }
      if (out.size / out.slide > 1000) {
        return SpecError(spec, "size/slide must be at most 1000 (each record joins that many windows)");
      }
      break;
    case WindowSpec::Kind::kSession:
      if (!seen_gap) {
        return SpecError(spec, "a session window needs gap=D");
      }
      break;
  }
  return out;
}

std::string FormatWindowSpec(const WindowSpec& spec) {
  switch (spec.kind) {
    case WindowSpec::Kind::kTumbling: {
      std::string s;
      if (spec.count > 0) absl::StrAppend(&s, "count=", spec.count);
      if (spec.time > absl::ZeroDuration()) {
        absl::StrAppend(&s, s.empty() ? "" : ",", "time=", absl::FormatDuration(spec.time));
      }
      return s;
    }
    case WindowSpec::Kind::kSliding:
      return absl::StrCat("sliding:size=", absl::FormatDuration(spec.size),
                          ",slide=", absl::FormatDuration(spec.slide));
    case WindowSpec::Kind::kSession:
      return absl::StrCat("session:gap=", absl::FormatDuration(spec.gap),
                          spec.count > 0 ? absl::StrCat(",count=", spec.count) : "");
  }
  return "";
}

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
