#include "sidecar/config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/media_type.h"
#include "common/record_selector.h"
#include "common/window_spec.h"
#include "sidecar/http_function.h"

namespace runnel::sidecar {
namespace {

// Without --window on event time: aligned one-second tumbling windows (kDefaultWindowSpec closes
// on count or time, which event-time windows cannot).
constexpr char kDefaultEventTimeWindowSpec[] = "time=1s";

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError(what); }

std::string Quote(const std::string& s) { return absl::StrCat("'", s, "'"); }

std::vector<std::string> SplitList(const std::string& value) {
  std::vector<std::string> out;
  if (absl::StripAsciiWhitespace(value).empty()) return out;
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

absl::StatusOr<int64_t> ParseInt(const std::string& setting, const std::string& value, int64_t min,
                                 int64_t max) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || n < min ||
      n > max) {
    return Bad(absl::StrCat(setting, "=", Quote(value), ": expected an integer in [", min, ", ",
                            max, "]"));
  }
  return n;
}

absl::StatusOr<absl::Duration> ParseDurationSetting(const std::string& setting,
                                                    const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return Bad(absl::StrCat(setting, "=", Quote(value),
                            ": expected a duration such as 0, 250ms, 2s"));
  }
  return d;
}

bool ValidHostPort(absl::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  int port = 0;
  absl::string_view p = s.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  return ec == std::errc() && ptr == p.data() + p.size() && port > 0 && port < 65536;
}

// riff's bindings: input_NNN / output_NNN directories, read until the first missing one.
absl::StatusOr<std::vector<StreamBinding>> ReadBindings(const std::string& dir,
                                                        const std::string& kind,
                                                        const FileReader& read_file) {
  std::vector<StreamBinding> out;
  for (int i = 0; i < 1000; ++i) {
    const std::string base = absl::StrFormat("%s/%s_%03d", dir, kind, i);
    absl::StatusOr<std::string> gateway = read_file(base + "/secret/gateway");
    if (absl::IsNotFound(gateway.status())) break;
    if (!gateway.ok()) return gateway.status();
    absl::StatusOr<std::string> topic = read_file(base + "/secret/topic");
    if (!topic.ok()) {
      return Bad(absl::StrCat("CNB_BINDINGS=", Quote(dir), ": ", base,
                              "/secret/topic: ", topic.status().message()));
    }
    StreamBinding b;
    b.gateway = std::string(absl::StripAsciiWhitespace(*gateway));
    b.stream = std::string(absl::StripAsciiWhitespace(*topic));
    if (!ValidHostPort(b.gateway)) {
      return Bad(absl::StrCat("CNB_BINDINGS: ", base, "/secret/gateway=", Quote(b.gateway),
                              ": expected host:port"));
    }
    if (b.stream.empty()) {
      return Bad(absl::StrCat("CNB_BINDINGS: ", base, "/secret/topic is empty"));
    }
    b.alias = b.stream;
    if (kind == "output") {
      absl::StatusOr<std::string> ct = read_file(base + "/metadata/contentType");
      if (ct.ok()) b.content_type = std::string(absl::StripAsciiWhitespace(*ct));
    }
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<StreamBinding> ParseStreamBinding(const std::string& text, bool allow_offset) {
  StreamBinding b;
  absl::string_view rest(text);
  const char* form = allow_offset ? "[alias:]host:port/stream[@earliest|latest]"
                                  : "[alias:]host:port/stream";
  auto bad = [&](const std::string& why) {
    return Bad(absl::StrCat(Quote(text), ": ", why, " (expected ", form, ")"));
  };
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view offset = rest.substr(at + 1);
    if (!allow_offset) return bad("an output has no start offset");
    if (offset == "latest") {
      b.start_latest = true;
    } else if (offset != "earliest") {
      return bad(absl::StrCat("start offset '", std::string(offset), "' is not earliest or latest"));
    }
    rest = rest.substr(0, at);
  }
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return bad("no '/stream'");
  absl::string_view address = rest.substr(0, slash);
  b.stream = std::string(rest.substr(slash + 1));
  if (b.stream.empty() || b.stream.find('/') != std::string::npos) {
    return bad("bad stream name");
  }
  if (std::count(address.begin(), address.end(), ':') == 2) {
    size_t colon = address.find(':');
    b.alias = std::string(address.substr(0, colon));
    address = address.substr(colon + 1);
  }
  if (!ValidHostPort(address)) return bad(absl::StrCat("'", std::string(address), "' is not host:port"));
  b.gateway = std::string(address);
  if (b.alias.empty()) b.alias = b.stream;
  return b;
}

absl::StatusOr<ProcessorCommandLine> ParseProcessorCommandLine(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
    const FileReader& read_file) {
  ProcessorCommandLine cl;
  ProcessorOptions& o = cl.options;
  auto getenv = [&](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };

  // Flags first, collected; environment fills what flags leave unset.
  std::map<std::string, std::string> flags;
  std::vector<std::string> input_flags, output_flags;
  static const char* kValueFlags[] = {
      "--function", "--function-url", "--function-max-inflight", "--function-request-timeout",
      "--group", "--name", "--input", "--output", "--window", "--dead-letter",
      "--http-port", "--http-host", "--log-level", "--max-attempts", "--invoke-timeout",
      "--half-close-idle", "--max-window-records", "--max-open-windows", "--max-concurrent-invocations", "--shutdown-grace",
      "--publish-batch", "--publish-batch-bytes", "--publish-inflight", "--max-pending-outputs",
      "--max-window-outputs", "--key-by", "--event-time", "--max-out-of-orderness", "--allowed-lateness", "--idle-timeout",
      "--late"};
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
      return cl;
    }
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos && absl::StartsWith(arg, "--")) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (std::find(std::begin(kValueFlags), std::end(kValueFlags), arg) == std::end(kValueFlags)) {
      return Bad(absl::StrCat("unknown argument ", Quote(args[i]), " (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return Bad(absl::StrCat(arg, " needs a value"));
      value = args[++i];
    }
    if (arg == "--input") {
      input_flags.push_back(value);
    } else if (arg == "--output") {
      output_flags.push_back(value);
    } else {
      flags[arg] = value;
    }
  }
  auto setting = [&](const std::string& flag,
                     const std::string& env_name) -> std::optional<std::pair<std::string, std::string>> {
    if (auto it = flags.find(flag); it != flags.end()) return std::pair(flag, it->second);
    if (!env_name.empty()) {
      if (auto v = getenv(env_name)) return std::pair(env_name, *v);
    }
    return std::nullopt;
  };

  if (auto s = setting("--function", "FUNCTION")) {
    if (!ValidHostPort(s->second)) {
      return Bad(absl::StrCat(s->first, "=", Quote(s->second), ": expected host:port"));
    }
    o.function_address = s->second;
  }
  if (auto s = setting("--function-url", "RUNNEL_FUNCTION_URL")) {
    if (flags.count("--function") > 0) {
      return Bad(absl::StrCat("both --function and ", s->first,
                              " given; a processor calls its function over riff-rpc "
                              "(--function) or HTTP (--function-url), not both"));
    }
    HttpFunctionOptions http;
    if (absl::Status st = ParseFunctionUrl(s->second, &http); !st.ok()) {
      return Bad(absl::StrCat(s->first, "=", st.message()));
    }
    o.http_function = std::move(http);
  }
  auto name = setting("--name", "RUNNEL_PROCESSOR_NAME");
  auto group = setting("--group", "GROUP");
  if (!name && !group) {
    return Bad("missing the processor name: set --name (RUNNEL_PROCESSOR_NAME) or --group (GROUP)");
  }
  o.name = name ? name->second : group->second;
  o.group = group ? group->second : name->second;

  // Streams: our flags, or riff's bindings directory — not both.
  const std::optional<std::string> bindings = getenv("CNB_BINDINGS");
  if (bindings && (!input_flags.empty() || !output_flags.empty())) {
    return Bad(absl::StrCat("both CNB_BINDINGS=", Quote(*bindings),
                            " and --input/--output given; use one or the other"));
  }
  if (bindings) {
    auto in = ReadBindings(*bindings, "input", read_file);
    if (!in.ok()) return in.status();
    auto out = ReadBindings(*bindings, "output", read_file);
    if (!out.ok()) return out.status();
    o.inputs = *std::move(in);
    o.outputs = *std::move(out);
    if (o.inputs.empty()) {
      return Bad(absl::StrCat("CNB_BINDINGS=", Quote(*bindings),
                              ": no input_000/secret/gateway in it"));
    }
  } else {
    for (const std::string& f : input_flags) {
      auto b = ParseStreamBinding(f, /*allow_offset=*/true);
      if (!b.ok()) return Bad(absl::StrCat("--input ", b.status().message()));
      o.inputs.push_back(*std::move(b));
    }
    for (const std::string& f : output_flags) {
      auto b = ParseStreamBinding(f, /*allow_offset=*/false);
      if (!b.ok()) return Bad(absl::StrCat("--output ", b.status().message()));
      o.outputs.push_back(*std::move(b));
    }
    if (o.inputs.empty()) {
      return Bad("no input streams: give --input [alias:]host:port/stream (repeatable) or "
                 "CNB_BINDINGS");
    }
  }

  // riff's names and start offsets override aliases and offsets, and must match in number.
  if (auto v = getenv("INPUT_NAMES")) {
    std::vector<std::string> names = SplitList(*v);
    if (names.size() != o.inputs.size()) {
      return Bad(absl::StrCat("INPUT_NAMES=", Quote(*v), " has ", names.size(),
                              " name(s) but there are ", o.inputs.size(), " input stream(s)"));
    }
    for (size_t i = 0; i < names.size(); ++i) o.inputs[i].alias = names[i];
  } else if (bindings) {
    return Bad(absl::StrCat("INPUT_NAMES is missing (required with CNB_BINDINGS=",
                            Quote(*bindings), ")"));
  }
  if (auto v = getenv("OUTPUT_NAMES")) {
    std::vector<std::string> names = SplitList(*v);
    if (names.size() != o.outputs.size()) {
      return Bad(absl::StrCat("OUTPUT_NAMES=", Quote(*v), " has ", names.size(),
                              " name(s) but there are ", o.outputs.size(), " output stream(s)"));
    }
    for (size_t i = 0; i < names.size(); ++i) o.outputs[i].alias = names[i];
  }
  if (auto v = getenv("INPUT_START_OFFSETS")) {
    std::vector<std::string> offsets = SplitList(*v);
    if (offsets.size() != o.inputs.size()) {
      return Bad(absl::StrCat("INPUT_START_OFFSETS=", Quote(*v), " has ", offsets.size(),
                              " element(s) but there are ", o.inputs.size(), " input(s)"));
    }
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (offsets[i] != "earliest" && offsets[i] != "latest") {
        return Bad(absl::StrCat("INPUT_START_OFFSETS=", Quote(*v), ": element ", i, " ",
                                Quote(offsets[i]), " is not earliest or latest"));
      }
      o.inputs[i].start_latest = offsets[i] == "latest";
    }
  }
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (o.inputs[i].alias == o.inputs[j].alias) {
        return Bad(absl::StrCat("two inputs are named ", Quote(o.inputs[i].alias)));
      }
    }
  }

  if (o.http_function && (o.inputs.size() != 1 || o.outputs.size() > 1)) {
    return Bad(absl::StrCat(
        "--function-url ", Quote(o.http_function->url), ": an HTTP function is request-reply, "
        "one input and at most one output, but this processor has ", o.inputs.size(),
        " input(s) and ", o.outputs.size(),
        " output(s); call a function with several over riff-rpc (--function)"));
  }

  if (auto s = setting("--key-by", "RUNNEL_KEY_BY")) {
    auto key_by = KeySelector::Parse(s->second);
    if (!key_by.ok()) return Bad(absl::StrCat(s->first, ": ", key_by.status().message()));
    o.key_by = *std::move(key_by);
  }
  auto event_time = setting("--event-time", "RUNNEL_EVENT_TIME");
  if (event_time) {
    auto selector = TimeSelector::Parse(event_time->second);
    if (!selector.ok()) {
      return Bad(absl::StrCat(event_time->first, ": ", selector.status().message()));
    }
    o.event_time = *std::move(selector);
  }

  auto window = setting("--window", "RUNNEL_WINDOW");
  // The default closes on count or time, which event time cannot do (aligned windows).
  const char* default_window =
      o.event_time.arrival() ? kDefaultWindowSpec : kDefaultEventTimeWindowSpec;
  auto spec = ParseWindowSpec(window ? window->second : default_window);
  if (!spec.ok()) {
    return Bad(absl::StrCat(window ? window->first : "--window", ": ", spec.status().message()));
  }
  if (!o.event_time.arrival()) {
    if (absl::Status st = CheckWindowSpecForEventTime(*spec); !st.ok()) {
      return Bad(absl::StrCat(window ? window->first : "--window", " with ", event_time->first,
                              "=", Quote(event_time->second), ": ", st.message()));
    }
  }
  o.window = *spec;

  // Watermark settings: only event time has watermarks and late records.
  struct WatermarkSetting {
    const char* flag;
    const char* env;
    absl::Duration* target;
  };
  for (const WatermarkSetting& ws : {
           WatermarkSetting{"--max-out-of-orderness", "RUNNEL_MAX_OUT_OF_ORDERNESS",
                            &o.max_out_of_orderness},
           WatermarkSetting{"--allowed-lateness", "RUNNEL_ALLOWED_LATENESS", &o.allowed_lateness},
           WatermarkSetting{"--idle-timeout", "RUNNEL_IDLE_TIMEOUT", &o.idle_timeout}}) {
    auto s = setting(ws.flag, ws.env);
    if (!s) continue;
    if (o.event_time.arrival()) {
      return Bad(absl::StrCat(s->first, "=", Quote(s->second), " applies to event time only, "
                              "but windows are on arrival time; add --event-time cloudevent|"
                              "broker|/POINTER (RUNNEL_EVENT_TIME) or remove ", s->first));
    }
    auto d = ParseDurationSetting(s->first, s->second);
    if (!d.ok()) return d.status();
    *ws.target = *d;
  }
  if (auto s = setting("--late", "RUNNEL_LATE")) {
    if (o.event_time.arrival()) {
      return Bad(absl::StrCat(s->first, "=", Quote(s->second), " applies to event time only "
                              "(records are late behind a watermark), but windows are on arrival "
                              "time; add --event-time cloudevent|broker|/POINTER "
                              "(RUNNEL_EVENT_TIME) or remove ", s->first));
    }
    absl::string_view rest(s->second);
    if (rest == "drop") {
      o.late = ProcessorOptions::LateMode::kDrop;
    } else if (rest == "refire") {
      o.late = ProcessorOptions::LateMode::kRefire;
    } else if (absl::ConsumePrefix(&rest, "side-output:") || rest == "side-output") {
      if (rest.empty() || rest == "side-output") {
        return Bad(absl::StrCat(s->first, "=", Quote(s->second),
                                ": side-output needs the stream late records go to: "
                                "side-output:HOST:PORT/STREAM"));
      }
      auto b = ParseStreamBinding(std::string(rest), /*allow_offset=*/false);
      if (!b.ok()) {
        return Bad(absl::StrCat(s->first, "=", Quote(s->second), ": ", b.status().message()));
      }
      o.late = ProcessorOptions::LateMode::kSideOutput;
      o.late_output = *std::move(b);
    } else {
      return Bad(absl::StrCat(s->first, "=", Quote(s->second),
                              ": expected drop, refire or side-output:HOST:PORT/STREAM"));
    }
  }

  if (auto s = setting("--dead-letter", "RUNNEL_DEAD_LETTER")) {
    auto b = ParseStreamBinding(s->second, /*allow_offset=*/false);
    if (!b.ok()) return Bad(absl::StrCat(s->first, " ", b.status().message()));
    o.dead_letter = *std::move(b);
  }
  if (auto s = setting("--http-port", "RUNNEL_PROCESSOR_HTTP_PORT")) {
    auto n = ParseInt(s->first, s->second, 0, 65535);
    if (!n.ok()) return n.status();
    cl.http_port = static_cast<int>(*n);
  }
  if (auto s = setting("--http-host", "RUNNEL_PROCESSOR_HTTP_HOST")) cl.http_host = s->second;
  if (auto s = setting("--log-level", "RUNNEL_LOG_LEVEL")) {
    std::string level = absl::AsciiStrToLower(s->second);
    if (level != "debug" && level != "info" && level != "warning" && level != "warn" &&
        level != "error") {
      return Bad(absl::StrCat(s->first, "=", Quote(s->second),
                              ": expected debug, info, warning or error"));
    }
    cl.log_level = level;
  }
  struct IntSetting {
    const char* flag;
    const char* env;
    int* target;
    int64_t min, max;
  };
  HttpFunctionOptions ignored_http;  // Targets of the HTTP settings when riff-rpc is used.
  HttpFunctionOptions& http = o.http_function ? *o.http_function : ignored_http;
  for (const IntSetting& is : {
           IntSetting{"--function-max-inflight", "RUNNEL_FUNCTION_MAX_INFLIGHT", &http.max_inflight,
                      1, 10'000},
           IntSetting{"--max-attempts", "RUNNEL_MAX_ATTEMPTS", &o.invoke_retry.max_attempts, 0, 1000},
           IntSetting{"--max-window-records", "", &o.max_window_records, 1, 10'000'000},
           IntSetting{"--max-open-windows", "", &o.max_open_windows, 1, 1000},
           IntSetting{"--max-concurrent-invocations", "", &o.max_concurrent_invocations, 1, 1000},
           IntSetting{"--publish-batch", "", &o.publish_batch_records, 1, 100'000},
           // runnel-gateway takes gRPC messages of up to 64 MiB.
           IntSetting{"--publish-batch-bytes", "", &o.publish_batch_bytes, 1024, 64 << 20},
           IntSetting{"--publish-inflight", "", &o.publish_inflight_batches, 1, 1000},
           IntSetting{"--max-pending-outputs", "RUNNEL_MAX_PENDING_OUTPUTS",
                      &o.max_pending_outputs, 1, 100'000'000},
           IntSetting{"--max-window-outputs", "RUNNEL_MAX_WINDOW_OUTPUTS",
                      &o.max_window_outputs, 1, 100'000'000}}) {
    if (auto s = setting(is.flag, is.env)) {
      auto n = ParseInt(s->first, s->second, is.min, is.max);
      if (!n.ok()) return n.status();
      *is.target = static_cast<int>(*n);
    }
  }
  struct DurationSetting {
    const char* flag;
    const char* env;
    absl::Duration* target;
  };
  for (const DurationSetting& ds : {
           DurationSetting{"--function-request-timeout", "RUNNEL_FUNCTION_REQUEST_TIMEOUT",
                           &http.request_timeout},
           DurationSetting{"--invoke-timeout", "RUNNEL_INVOKE_TIMEOUT", &o.invoke_timeout},
           DurationSetting{"--shutdown-grace", "", &o.shutdown_grace}}) {
    if (auto s = setting(ds.flag, ds.env)) {
      auto d = ParseDurationSetting(s->first, s->second);
      if (!d.ok()) return d.status();
      *ds.target = *d;
    }
  }
  if (auto s = setting("--half-close-idle", "RUNNEL_HALF_CLOSE_IDLE")) {
    auto d = ParseDurationSetting(s->first, s->second);
    if (!d.ok()) return d.status();
    o.half_close_idle = *d;
  }
  if (http.request_timeout <= absl::ZeroDuration()) {
    return Bad("--function-request-timeout must be more than 0");
  }
  return cl;
}

std::string ProcessorUsage() {
  return absl::StrCat(R"(runnel-processor: windows a processor's input streams, invokes its function over riff-rpc once
per window (or over plain HTTP once per record), publishes the outputs and acknowledges inputs
once their results are durable.

Usage: runnel-processor --name NAME --input [alias:]host:port/stream[@earliest|latest] ...
                        [--output [alias:]host:port/stream ...] [flags]

Streams (ours, or riff's environment):
  --input [alias:]host:port/stream[@earliest|latest]   repeatable; default start: earliest
  --output [alias:]host:port/stream                    repeatable; none = a sink
  CNB_BINDINGS=DIR    riff bindings: input_000/secret/{gateway,topic}, output_000/..., and
                      output_000/metadata/contentType; needs INPUT_NAMES (and OUTPUT_NAMES)
  INPUT_NAMES, OUTPUT_NAMES, INPUT_START_OFFSETS   comma-separated, one per stream
Flags (environment in brackets):
  --name NAME                [RUNNEL_PROCESSOR_NAME] CloudEvent source; default group
  --group GROUP              [GROUP] consumer group; default the name
  --function HOST:PORT       [FUNCTION] riff-rpc invoker; default localhost:8081
  --function-url URL         [RUNNEL_FUNCTION_URL] call a plain HTTP request-reply function
                             instead: one POST per record to http://host:port/path (one input,
                             at most one output; 4xx dead-letters the record, 5xx is retried)
  --function-max-inflight N  [RUNNEL_FUNCTION_MAX_INFLIGHT] HTTP requests in flight (and
                             keep-alive connections); default 64
  --function-request-timeout D   [RUNNEL_FUNCTION_REQUEST_TIMEOUT] per HTTP request; default 30s
  --window SPEC              [RUNNEL_WINDOW] default count=1000,time=1s (time=1s with
                             --event-time); the grammar is below
  --dead-letter HOST:PORT/STREAM   [RUNNEL_DEAD_LETTER] where a window's records go after
                             --max-attempts failed invocations (without it: retried forever)
  --max-attempts N           [RUNNEL_MAX_ATTEMPTS] default 5
  --invoke-timeout D         [RUNNEL_INVOKE_TIMEOUT] deadline per invocation; default none
  --half-close-idle D        [RUNNEL_HALF_CLOSE_IDLE] keep an invocation's input open until
                             outputs paused this long (riff Node invoker); default: 0 for
                             functions that say they answer after a half-close, else 500ms
  --max-window-records N     default 10000;   --max-open-windows N   default 4 per partition
  --max-concurrent-invocations N   default 1 per partition (order at the function)
  --publish-batch N          default 500;     --publish-inflight N   default 8
  --publish-batch-bytes N    most bytes per publish request (a larger record goes alone);
                             default 4194304
  --max-pending-outputs N    [RUNNEL_MAX_PENDING_OUTPUTS] function outputs read but not yet
                             durable; at the limit the processor stops reading from the function
                             (and so from its inputs) until outputs drain; default 10000
  --max-window-outputs N     [RUNNEL_MAX_WINDOW_OUTPUTS] outputs one invocation may emit (they
                             are held until it completes); default 100000
  --shutdown-grace D         default 10s
  --http-port PORT           [RUNNEL_PROCESSOR_HTTP_PORT] /metrics, /healthz; default 8090
  --http-host ADDRESS        [RUNNEL_PROCESSOR_HTTP_HOST] default 0.0.0.0
  --log-level LEVEL          [RUNNEL_LOG_LEVEL] debug|info|warning|error
Keys and event time:
  --key-by SPEC              [RUNNEL_KEY_BY] windows per key: key (the key each record was
                             published with), or a new key from /json/pointer or .json.path
                             into the payload, or ce:ATTRIBUTE (ce:subject, ce:NAME for an
                             extension); default: windows are not per key
  --event-time SOURCE        [RUNNEL_EVENT_TIME] arrival (default: processing time), cloudevent
                             (the CloudEvent time), broker (the store's timestamp), or
                             /json/pointer into the payload (RFC 3339 or Unix milliseconds)
  The rest apply to event time only:
  --max-out-of-orderness D   [RUNNEL_MAX_OUT_OF_ORDERNESS] a partition's watermark is its
                             highest event time minus D; default 0
  --allowed-lateness D       [RUNNEL_ALLOWED_LATENESS] a window fires once the watermark passes
                             its end plus D; default 0
  --idle-timeout D           [RUNNEL_IDLE_TIMEOUT] a partition silent this long stops holding
                             the watermark back; 0 = never; default 10s
  --late MODE                [RUNNEL_LATE] records behind the watermark beyond the lateness:
                             drop (default; counted), refire (the window is invoked again, its
                             outputs marked runnelupdate=true) or side-output:HOST:PORT/STREAM
Window specs (--window):
)",
                      WindowSpecHelp(), "\n");
}

absl::Status CheckDeadLetterContentType(const std::string& dead_letter_stream,
                                        const std::string& dead_letter_type,
                                        const std::map<std::string, std::string>& input_types) {
  absl::StatusOr<MediaType> declared = ParseMediaType(dead_letter_type);
  if (!declared.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("dead-letter stream '", dead_letter_stream,
                                                   "': ", declared.status().message()));
  }
  for (const auto& [stream, type] : input_types) {
    absl::StatusOr<MediaType> input = ParseMediaType(type);
    if (input.ok() && MediaTypeAccepts(*declared, *input)) {
      continue;
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "dead-letter stream '", dead_letter_stream, "' carries '", dead_letter_type,
        "' but input stream '", stream, "' carries '", type,
        "'; dead letters keep their input's content type, so the gateway would refuse some of "
        "them: use a dead-letter stream of content type '*/*'"));
  }
  return absl::OkStatus();
}

}  // namespace runnel::sidecar
