#include "cli/processor_settings.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/references.h"
#include "common/record_selector.h"
#include "common/window_spec.h"

namespace runnel::cli {
namespace {

constexpr char kSideOutputPrefix[] = "side-output:";

absl::Status Invalid(absl::string_view flag, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid --", flag, " \"", value, "\": ", why));
}

// A duration runnel-processor accepts (absl::ParseDuration, as it parses them): not negative,
// not infinite.
absl::Status CheckDuration(absl::string_view flag, const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return Invalid(flag, value, "want a duration such as 0, 250ms, 2s, 1m30s");
  }
  return absl::OkStatus();
}

}  // namespace

std::string LateSideOutputStream(const ProcessorSpec& p) {
  absl::string_view rest(p.late);
  return absl::ConsumePrefix(&rest, kSideOutputPrefix) ? std::string(rest) : "";
}

absl::Status ValidateProcessorSettings(const ProcessorSpec& p) {
  std::optional<WindowSpec> window;
  if (!p.window.empty()) {
    absl::StatusOr<WindowSpec> parsed = ParseWindowSpec(p.window);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid --window \"", p.window,
                                                     "\": ", parsed.status().message(),
                                                     "\nWindow specs:\n", WindowSpecHelp()));
    }
    window = *parsed;
  }
  if (!p.key_by.empty()) {
    if (absl::StatusOr<KeySelector> k = KeySelector::Parse(p.key_by); !k.ok()) {
      return Invalid("key-by", p.key_by, k.status().message());
    }
  }
  bool event_time = false;
  if (!p.event_time.empty()) {
    absl::StatusOr<TimeSelector> t = TimeSelector::Parse(p.event_time);
    if (!t.ok()) return Invalid("event-time", p.event_time, t.status().message());
    event_time = !t->arrival();
  }
  if (event_time && window) {
    if (absl::Status s = CheckWindowSpecForEventTime(*window); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--window \"", p.window, "\" with --event-time ", p.event_time, ": ", s.message()));
    }
  }
  struct Setting {
    const char* flag;
    const std::string& value;
  };
  for (const Setting& s : {Setting{"max-out-of-orderness", p.max_out_of_orderness},
                           Setting{"allowed-lateness", p.allowed_lateness},
                           Setting{"idle-timeout", p.idle_timeout}, Setting{"late", p.late}}) {
    if (!s.value.empty() && !event_time) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", s.flag,
          " applies to event time only (watermarks and late records), but the "
          "processor windows on arrival time; add --event-time cloudevent|broker|/POINTER, or "
          "remove --",
          s.flag));
    }
  }
  for (const Setting& s :
       {Setting{"max-out-of-orderness", p.max_out_of_orderness},
        Setting{"allowed-lateness", p.allowed_lateness}, Setting{"idle-timeout", p.idle_timeout},
        Setting{"invoke-timeout", p.invoke_timeout}}) {
    if (!s.value.empty()) {
      if (absl::Status st = CheckDuration(s.flag, s.value); !st.ok()) return st;
    }
  }
  if (!p.late.empty() && p.late != "drop" && p.late != "refire") {
    if (!absl::StartsWith(p.late, kSideOutputPrefix)) {
      return Invalid("late", p.late, "want drop, refire or side-output:STREAM");
    }
    const std::string stream = LateSideOutputStream(p);
    if (stream.empty()) {
      return Invalid("late", p.late,
                     "side-output needs the stream late records go to: side-output:STREAM (on "
                     "the inputs' gateway)");
    }
    if (absl::Status s = ValidateName("stream", stream); !s.ok()) {
      return Invalid("late", p.late, s.message());
    }
  }
  if (p.max_attempts < -1 || p.max_attempts > 1000) {
    return Invalid("max-attempts", std::to_string(p.max_attempts),
                   "want 0 (retry forever) to 1000");
  }
  return absl::OkStatus();
}

std::vector<std::string> ProcessorSettingArgs(const ProcessorSpec& p,
                                              const std::string& late_stream_address) {
  std::vector<std::string> args;
  auto add = [&](const char* flag, const std::string& value) {
    if (value.empty()) return;
    args.push_back(flag);
    args.push_back(value);
  };
  add("--window", p.window);
  add("--key-by", p.key_by);
  add("--event-time", p.event_time);
  add("--max-out-of-orderness", p.max_out_of_orderness);
  add("--allowed-lateness", p.allowed_lateness);
  add("--idle-timeout", p.idle_timeout);
  add("--late", LateSideOutputStream(p).empty()
                    ? p.late
                    : absl::StrCat(kSideOutputPrefix, late_stream_address));
  if (p.max_attempts >= 0) add("--max-attempts", std::to_string(p.max_attempts));
  add("--invoke-timeout", p.invoke_timeout);
  return args;
}

std::string ProcessorSettingsHelp() {
  return absl::StrCat(
      "Window specs (--window; default count=1000,time=1s, or time=1s with --event-time):\n",
      WindowSpecHelp(),
      "\n\n"
      "Keys (--key-by): key (the key records were published with), /json/pointer or\n"
      ".json.path into the payload, or ce:ATTRIBUTE (a CloudEvent attribute or extension);\n"
      "windows are then per key. A key other than the published one groups within one replica.\n"
      "Event time (--event-time): arrival (default: when the processor reads a record),\n"
      "cloudevent (the CloudEvent time), broker (the gateway store's timestamp), or\n"
      "/json/pointer into the payload (RFC 3339 or Unix milliseconds). Only event time has\n"
      "watermarks, so --max-out-of-orderness, --allowed-lateness, --idle-timeout and --late need\n"
      "it. Durations: 0, 250ms, 2s, 1m30s.\n");
}

}  // namespace runnel::cli
