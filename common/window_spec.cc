#include "common/window_spec.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace runnel {
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
    if (absl::Duration d; part.find('=') == absl::string_view::npos &&
                          out.kind != WindowSpec::Kind::kSliding && absl::ParseDuration(part, &d)) {
      // Shorthand: a bare duration is the kind's duration ("tumbling:1s" is "time=1s",
      // "session:5s" is "gap=5s").
      kv = {out.kind == WindowSpec::Kind::kTumbling ? "time" : "gap", std::string(part)};
    }
    const std::string& key = kv.first;
    const std::string& value = kv.second;
    if (value.empty()) {
      return SpecError(
          spec, absl::StrCat("'", std::string(part), "' is not key=value",
                             out.kind == WindowSpec::Kind::kSliding ? "" : " or a duration"));
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

absl::Status CheckWindowSpecForEventTime(const WindowSpec& spec) {
  if (spec.kind == WindowSpec::Kind::kTumbling && spec.count > 0 &&
      spec.time > absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "window spec '", FormatWindowSpec(spec),
        "' closes on count or time, whichever comes first, which only works on arrival time: "
        "event-time tumbling windows are aligned by time alone. Use time=",
        absl::FormatDuration(spec.time), " on event time, count=", spec.count,
        " for windows in arrival order, or --event-time arrival"));
  }
  return absl::OkStatus();
}

std::string WindowSpecHelp() {
  return "  tumbling  count=N | time=D | count=N,time=D   (optional prefix tumbling:;\n"
         "            tumbling:D is time=D)\n"
         "  sliding   sliding:size=D,slide=D              (slide <= size, size/slide <= 1000)\n"
         "  session   session:gap=D[,count=N]             (session:D is gap=D)\n"
         "  D is a duration such as 500ms, 1s, 2m; N a positive integer. On event time, tumbling\n"
         "  windows are time=D (aligned) or count=N (arrival order), not both";
}

}  // namespace runnel
