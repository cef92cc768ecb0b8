#include "sidecar/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace runnel::sidecar {
namespace {

using ::testing::HasSubstr;

// A bindings directory as a map of file contents.
FileReader Files(std::map<std::string, std::string> files) {
  return [files](const std::string& path) -> absl::StatusOr<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return absl::NotFoundError(path);
    return it->second;
  };
}

absl::StatusOr<ProcessorCommandLine> Parse(std::vector<std::string> args,
                                           std::map<std::string, std::string> env = {},
                                           std::map<std::string, std::string> files = {}) {
  return ParseProcessorCommandLine(args, env, Files(std::move(files)));
}

std::string Error(const absl::StatusOr<ProcessorCommandLine>& r) {
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(ProcessorConfig, OurFlags) {
  auto r = Parse({"--name", "avg", "--input", "numbers:127.0.0.1:6565/nums@latest", "--input",
                  "10.0.0.1:7000/other", "--output=out:127.0.0.1:6566/averages", "--window",
                  "count=10,time=2s", "--dead-letter", "127.0.0.1:6565/avg-dlq", "--http-port",
                  "0", "--max-attempts", "3", "--half-close-idle", "200ms"});
  ASSERT_TRUE(r.ok()) << r.status();
  const ProcessorOptions& o = r->options;
  EXPECT_EQ(o.name, "avg");
  EXPECT_EQ(o.group, "avg");
  EXPECT_EQ(o.function_address, "localhost:8081");
  ASSERT_EQ(o.inputs.size(), 2u);
  EXPECT_EQ(o.inputs[0].alias, "numbers");
  EXPECT_EQ(o.inputs[0].gateway, "127.0.0.1:6565");
  EXPECT_EQ(o.inputs[0].stream, "nums");
  EXPECT_TRUE(o.inputs[0].start_latest);
  EXPECT_EQ(o.inputs[1].alias, "other");  // Defaults to the stream name.
  EXPECT_FALSE(o.inputs[1].start_latest);
  ASSERT_EQ(o.outputs.size(), 1u);
  EXPECT_EQ(o.outputs[0].alias, "out");
  EXPECT_EQ(o.outputs[0].gateway, "127.0.0.1:6566");
  EXPECT_EQ(o.window.count, 10);
  EXPECT_EQ(o.window.time, absl::Seconds(2));
  ASSERT_TRUE(o.dead_letter.has_value());
  EXPECT_EQ(o.dead_letter->stream, "avg-dlq");
  EXPECT_EQ(r->http_port, 0);
  EXPECT_EQ(o.invoke_retry.max_attempts, 3);
  EXPECT_EQ(o.half_close_idle, absl::Milliseconds(200));
}

TEST(ProcessorConfig, DefaultsAreAFirstGoodExperience) {
  auto r = Parse({"--group", "g", "--input", "h:1/in"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.name, "g");
  EXPECT_TRUE(r->options.outputs.empty());  // A sink is valid.
  EXPECT_EQ(FormatWindowSpec(r->options.window), kDefaultWindowSpec);
  EXPECT_FALSE(r->options.dead_letter.has_value());
  EXPECT_EQ(r->options.max_pending_outputs, 10000);
  EXPECT_EQ(r->options.publish_batch_bytes, 4 << 20);
}

TEST(ProcessorConfig, OutputBoundsFromFlagsOrEnvironment) {
  auto r = Parse({"--name", "p", "--input", "h:1/in", "--max-pending-outputs", "250",
                  "--publish-batch-bytes", "65536"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.max_pending_outputs, 250);
  EXPECT_EQ(r->options.publish_batch_bytes, 65536);
  r = Parse({"--name", "p", "--input", "h:1/in"}, {{"RUNNEL_MAX_PENDING_OUTPUTS", "42"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.max_pending_outputs, 42);
  EXPECT_THAT(Error(Parse({"--name", "p", "--input", "h:1/in", "--max-pending-outputs", "0"})),
              HasSubstr("--max-pending-outputs='0': expected an integer in [1, "));
  EXPECT_THAT(Error(Parse({"--name", "p", "--input", "h:1/in", "--publish-batch-bytes",
                           "100000000"})),
              HasSubstr("--publish-batch-bytes='100000000'"));
  EXPECT_THAT(ProcessorUsage(), HasSubstr("--max-pending-outputs N"));
}

TEST(ProcessorConfig, RiffEnvironmentAndBindings) {
  auto r = Parse({}, {{"FUNCTION", "localhost:8081"},
                      {"GROUP", "my-proc"},
                      {"INPUT_NAMES", "in1, in2"},
                      {"OUTPUT_NAMES", "out"},
                      {"INPUT_START_OFFSETS", "earliest,latest"},
                      {"CNB_BINDINGS", "/b"}},
                 {{"/b/input_000/secret/gateway", "gw1:6565"},
                  {"/b/input_000/secret/topic", "default_numbers"},
                  {"/b/input_001/secret/gateway", "gw2:6565\n"},
                  {"/b/input_001/secret/topic", "default_letters"},
                  {"/b/output_000/secret/gateway", "gw1:6565"},
                  {"/b/output_000/secret/topic", "default_out"},
                  {"/b/output_000/metadata/contentType", "application/json"}});
  ASSERT_TRUE(r.ok()) << r.status();
  const ProcessorOptions& o = r->options;
  EXPECT_EQ(o.name, "my-proc");
  EXPECT_EQ(o.group, "my-proc");
  ASSERT_EQ(o.inputs.size(), 2u);
  EXPECT_EQ(o.inputs[0].alias, "in1");
  EXPECT_EQ(o.inputs[1].alias, "in2");
  EXPECT_EQ(o.inputs[1].gateway, "gw2:6565");  // Trailing newline stripped.
  EXPECT_EQ(o.inputs[1].stream, "default_letters");
  EXPECT_FALSE(o.inputs[0].start_latest);
  EXPECT_TRUE(o.inputs[1].start_latest);
  ASSERT_EQ(o.outputs.size(), 1u);
  EXPECT_EQ(o.outputs[0].alias, "out");
  EXPECT_EQ(o.outputs[0].content_type, "application/json");
}

TEST(ProcessorConfig, RiffSinkWithoutOutputsIsValid) {
  auto r = Parse({}, {{"GROUP", "sink"}, {"INPUT_NAMES", "in"}, {"OUTPUT_NAMES", ""},
                      {"CNB_BINDINGS", "/b"}},
                 {{"/b/input_000/secret/gateway", "gw:6565"},
                  {"/b/input_000/secret/topic", "t"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->options.outputs.empty());
}

TEST(ProcessorConfig, EveryBadSettingIsNamedWithItsValue) {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    const char* message;
  } cases[] = {
      {{"--input", "h:1/in"}, {}, "missing the processor name"},
      {{"--name", "p"}, {}, "no input streams"},
      {{"--name", "p", "--input", "nohost/in"}, {}, "'nohost' is not host:port"},
      {{"--name", "p", "--input", "h:1"}, {}, "'h:1': no '/stream'"},
      {{"--name", "p", "--input", "h:1/in@soon"}, {}, "start offset 'soon'"},
      {{"--name", "p", "--input", "h:1/in", "--output", "h:1/out@latest"}, {}, "no start offset"},
      {{"--name", "p", "--input", "h:99999/in"}, {}, "'h:99999' is not host:port"},
      {{"--name", "p", "--input", "h:1/in", "--window", "count=x"}, {}, "--window: window spec 'count=x'"},
      {{"--name", "p", "--input", "h:1/in"}, {{"RUNNEL_WINDOW", "time=0s"}}, "RUNNEL_WINDOW: window spec 'time=0s'"},
      {{"--name", "p", "--input", "h:1/in", "--http-port", "http"}, {}, "--http-port='http'"},
      {{"--name", "p", "--input", "h:1/in"}, {{"FUNCTION", "localhost"}}, "FUNCTION='localhost': expected host:port"},
      {{"--name", "p", "--input", "h:1/in", "--max-attempts", "-1"}, {}, "--max-attempts='-1'"},
      {{"--name", "p", "--input", "h:1/in", "--invoke-timeout", "soon"}, {}, "--invoke-timeout='soon'"},
      {{"--name", "p", "--input", "h:1/in"}, {{"INPUT_NAMES", "a,b"}}, "INPUT_NAMES='a,b' has 2 name(s) but there are 1"},
      {{"--name", "p", "--input", "h:1/in"}, {{"OUTPUT_NAMES", "x"}}, "OUTPUT_NAMES='x' has 1 name(s) but there are 0"},
      {{"--name", "p", "--input", "h:1/in"}, {{"INPUT_START_OFFSETS", "first"}}, "INPUT_START_OFFSETS='first': element 0 'first'"},
      {{"--name", "p", "--input", "h:1/in", "--input", "h:2/in"}, {}, "two inputs are named 'in'"},
      {{"--name", "p", "--input", "h:1/in", "--frobnicate"}, {}, "unknown argument '--frobnicate'"},
      {{"--name", "p", "--input"}, {}, "--input needs a value"},
      {{"--name", "p", "--input", "h:1/in"}, {{"CNB_BINDINGS", "/b"}}, "both CNB_BINDINGS='/b' and --input"},
      {{"--name", "p"}, {{"CNB_BINDINGS", "/empty"}}, "no input_000/secret/gateway"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Error(Parse(c.args, c.env)), HasSubstr(c.message));
  }
}

TEST(ProcessorConfig, RiffBindingsErrorsNameTheFile) {
  EXPECT_THAT(Error(Parse({}, {{"GROUP", "g"}, {"CNB_BINDINGS", "/b"}},
                          {{"/b/input_000/secret/gateway", "gw:6565"},
                           {"/b/input_000/secret/topic", "t"}})),
              HasSubstr("INPUT_NAMES is missing"));
  EXPECT_THAT(Error(Parse({}, {{"GROUP", "g"}, {"INPUT_NAMES", "in"}, {"CNB_BINDINGS", "/b"}},
                          {{"/b/input_000/secret/gateway", "gateway-without-port"},
                           {"/b/input_000/secret/topic", "t"}})),
              HasSubstr("/b/input_000/secret/gateway='gateway-without-port'"));
  EXPECT_THAT(Error(Parse({}, {{"GROUP", "g"}, {"INPUT_NAMES", "in"}, {"CNB_BINDINGS", "/b"}},
                          {{"/b/input_000/secret/gateway", "gw:1"}})),
              HasSubstr("/b/input_000/secret/topic"));
}

TEST(ProcessorConfig, FunctionUrlSelectsHttp) {
  auto r = Parse({"--name", "sq", "--input", "127.0.0.1:6565/in", "--output", "127.0.0.1:6565/out",
                  "--function-url", "http://127.0.0.1:8080/square", "--function-max-inflight",
                  "16", "--function-request-timeout", "2s"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->options.http_function.has_value());
  const HttpFunctionOptions& h = *r->options.http_function;
  EXPECT_EQ(h.url, "http://127.0.0.1:8080/square");
  EXPECT_EQ(h.host, "127.0.0.1");
  EXPECT_EQ(h.port, 8080);
  EXPECT_EQ(h.target, "/square");
  EXPECT_EQ(h.max_inflight, 16);
  EXPECT_EQ(h.request_timeout, absl::Seconds(2));
}

TEST(ProcessorConfig, FunctionUrlFromTheEnvironment) {
  auto r = Parse({"--name", "sink", "--input", "127.0.0.1:6565/in"},
                 {{"RUNNEL_FUNCTION_URL", "http://fn:8080"},
                  {"RUNNEL_FUNCTION_MAX_INFLIGHT", "3"},
                  {"FUNCTION", "ignored:8081"}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->options.http_function.has_value());
  EXPECT_EQ(r->options.http_function->target, "/");
  EXPECT_EQ(r->options.http_function->max_inflight, 3);
  EXPECT_EQ(r->options.http_function->request_timeout, absl::Seconds(30));
}

TEST(ProcessorConfig, RiffRpcByDefault) {
  auto r = Parse({"--name", "p", "--input", "127.0.0.1:6565/in", "--function-max-inflight", "3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->options.http_function.has_value());
}

TEST(ProcessorConfig, HttpFunctionNeedsOneInputAndAtMostOneOutput) {
  EXPECT_THAT(Error(Parse({"--name", "j", "--input", "127.0.0.1:6565/a", "--input",
                           "127.0.0.1:6565/b", "--output", "127.0.0.1:6565/c", "--function-url",
                           "http://fn:8080/"})),
              HasSubstr("an HTTP function is request-reply, one input and at most one output, "
                        "but this processor has 2 input(s) and 1 output(s)"));
  EXPECT_THAT(Error(Parse({"--name", "s", "--input", "127.0.0.1:6565/a", "--output",
                           "127.0.0.1:6565/b", "--output", "127.0.0.1:6565/c"},
                          {{"RUNNEL_FUNCTION_URL", "http://fn:8080/"}})),
              HasSubstr("1 input(s) and 2 output(s)"));
}

TEST(ProcessorConfig, HttpFunctionSettingErrors) {
  EXPECT_THAT(Error(Parse({"--name", "p", "--input", "127.0.0.1:6565/a", "--function",
                           "fn:8081", "--function-url", "http://fn:8080/"})),
              HasSubstr("both --function and --function-url"));
  EXPECT_THAT(Error(Parse({"--name", "p", "--input", "127.0.0.1:6565/a"},
                          {{"RUNNEL_FUNCTION_URL", "https://fn/"}})),
              HasSubstr("RUNNEL_FUNCTION_URL='https://fn/': https is not supported"));
  EXPECT_THAT(Error(Parse({"--name", "p", "--input", "127.0.0.1:6565/a", "--function-url",
                           "http://fn/", "--function-request-timeout", "0"})),
              HasSubstr("--function-request-timeout must be more than 0"));
  EXPECT_THAT(Error(Parse({"--name", "p", "--input", "127.0.0.1:6565/a", "--function-url",
                           "http://fn/", "--function-max-inflight", "0"})),
              HasSubstr("--function-max-inflight='0'"));
}

TEST(ProcessorConfig, KeysAndEventTimeFromFlags) {
  auto r = Parse({"--name", "rides", "--input", "h:1/in", "--key-by", ".licenseId",
                  "--event-time", "/ts", "--window", "tumbling:1m", "--max-out-of-orderness",
                  "5s", "--allowed-lateness", "1m", "--idle-timeout", "0", "--late",
                  "side-output:10.0.0.1:6565/late-rides"});
  ASSERT_TRUE(r.ok()) << r.status();
  const ProcessorOptions& o = r->options;
  EXPECT_EQ(o.key_by.spec(), "/licenseId");
  EXPECT_EQ(o.event_time.kind(), TimeSelector::Kind::kPointer);
  EXPECT_EQ(FormatWindowSpec(o.window), "time=1m");
  EXPECT_EQ(o.max_out_of_orderness, absl::Seconds(5));
  EXPECT_EQ(o.allowed_lateness, absl::Minutes(1));
  EXPECT_EQ(o.idle_timeout, absl::ZeroDuration());  // Never.
  EXPECT_EQ(o.late, ProcessorOptions::LateMode::kSideOutput);
  ASSERT_TRUE(o.late_output.has_value());
  EXPECT_EQ(o.late_output->gateway, "10.0.0.1:6565");
  EXPECT_EQ(o.late_output->stream, "late-rides");
}

TEST(ProcessorConfig, KeysAndEventTimeFromTheEnvironment) {
  auto r = Parse({"--name", "p", "--input", "h:1/in"},
                 {{"RUNNEL_KEY_BY", "ce:subject"},
                  {"RUNNEL_EVENT_TIME", "cloudevent"},
                  {"RUNNEL_WINDOW", "session:5s"},
                  {"RUNNEL_MAX_OUT_OF_ORDERNESS", "250ms"},
                  {"RUNNEL_ALLOWED_LATENESS", "2s"},
                  {"RUNNEL_IDLE_TIMEOUT", "30s"},
                  {"RUNNEL_LATE", "refire"}});
  ASSERT_TRUE(r.ok()) << r.status();
  const ProcessorOptions& o = r->options;
  EXPECT_EQ(o.key_by.spec(), "ce:subject");
  EXPECT_EQ(o.event_time.kind(), TimeSelector::Kind::kCloudEvent);
  EXPECT_EQ(FormatWindowSpec(o.window), "session:gap=5s");
  EXPECT_EQ(o.max_out_of_orderness, absl::Milliseconds(250));
  EXPECT_EQ(o.allowed_lateness, absl::Seconds(2));
  EXPECT_EQ(o.idle_timeout, absl::Seconds(30));
  EXPECT_EQ(o.late, ProcessorOptions::LateMode::kRefire);
  EXPECT_FALSE(o.late_output.has_value());
  // Flags win over the environment.
  r = Parse({"--name", "p", "--input", "h:1/in", "--late", "drop", "--event-time", "broker"},
            {{"RUNNEL_EVENT_TIME", "cloudevent"}, {"RUNNEL_LATE", "refire"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.event_time.kind(), TimeSelector::Kind::kBroker);
  EXPECT_EQ(r->options.late, ProcessorOptions::LateMode::kDrop);
}

TEST(ProcessorConfig, ArrivalTimeIsTheDefaultAndKeepsItsWindow) {
  auto r = Parse({"--name", "p", "--input", "h:1/in", "--key-by", "/user"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->options.event_time.arrival());
  EXPECT_EQ(FormatWindowSpec(r->options.window), kDefaultWindowSpec);
  EXPECT_EQ(r->options.idle_timeout, absl::Seconds(10));
  EXPECT_EQ(r->options.late, ProcessorOptions::LateMode::kDrop);
  r = Parse({"--name", "p", "--input", "h:1/in", "--event-time", "arrival"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->options.event_time.arrival());
}

TEST(ProcessorConfig, EventTimeWindowsAreAlignedByTimeAlone) {
  // Without --window, event time gets aligned one-second windows, not the count-or-time default.
  auto r = Parse({"--name", "p", "--input", "h:1/in", "--event-time", "cloudevent"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(FormatWindowSpec(r->options.window), "time=1s");
  // Count-only windows stay in arrival order: allowed.
  r = Parse({"--name", "p", "--input", "h:1/in", "--event-time", "cloudevent", "--window",
             "count=10"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.window.count, 10);
  // Count and time together: refused, naming both settings and the fix.
  std::string e = Error(Parse({"--name", "p", "--input", "h:1/in", "--window", "count=10,time=2s"},
                              {{"RUNNEL_EVENT_TIME", "broker"}}));
  EXPECT_THAT(e, HasSubstr("--window with RUNNEL_EVENT_TIME='broker'"));
  EXPECT_THAT(e, HasSubstr("aligned by time alone"));
  EXPECT_THAT(e, HasSubstr("Use time=2s"));
}

TEST(ProcessorConfig, KeyAndTimeSettingErrorsNameTheSettingAndTheFix) {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    const char* message;
  } cases[] = {
      {{"--key-by", "licenseId"}, {}, "--key-by: "},
      {{}, {{"RUNNEL_KEY_BY", "licenseId"}}, "RUNNEL_KEY_BY: "},
      {{"--event-time", "yesterday"}, {}, "--event-time: "},
      {{"--max-out-of-orderness", "5s"}, {}, "--max-out-of-orderness='5s' applies to event time "
                                             "only, but windows are on arrival time; add "
                                             "--event-time"},
      {{"--allowed-lateness", "1m"}, {}, "--allowed-lateness='1m' applies to event time only"},
      {{}, {{"RUNNEL_IDLE_TIMEOUT", "0"}}, "RUNNEL_IDLE_TIMEOUT='0' applies to event time only"},
      {{"--late", "refire"}, {}, "--late='refire' applies to event time only"},
      {{"--event-time", "cloudevent", "--max-out-of-orderness", "-1s"}, {},
       "--max-out-of-orderness='-1s': expected a duration"},
      {{"--event-time", "cloudevent", "--allowed-lateness", "soon"}, {},
       "--allowed-lateness='soon': expected a duration"},
      {{"--event-time", "cloudevent", "--idle-timeout", "10"}, {},
       "--idle-timeout='10': expected a duration"},
      {{"--event-time", "cloudevent", "--late", "keep"}, {},
       "--late='keep': expected drop, refire or side-output:HOST:PORT/STREAM"},
      {{"--event-time", "cloudevent", "--late", "side-output"}, {},
       "side-output needs the stream late records go to"},
      {{"--event-time", "cloudevent", "--late", "side-output:"}, {},
       "side-output needs the stream late records go to"},
      {{"--event-time", "cloudevent"}, {{"RUNNEL_LATE", "side-output:late"}},
       "RUNNEL_LATE='side-output:late': 'late': no '/stream'"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"--name", "p", "--input", "h:1/in"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    EXPECT_THAT(Error(Parse(args, c.env)), HasSubstr(c.message));
  }
}

TEST(ProcessorConfig, HelpShortCircuits) {
  auto r = Parse({"--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->help);
  EXPECT_THAT(ProcessorUsage(), HasSubstr("--window"));
}

TEST(ProcessorConfig, UsageGivesTheNewSettingsAndTheWindowGrammar) {
  const std::string usage = ProcessorUsage();
  for (const char* flag :
       {"--key-by SPEC", "[RUNNEL_KEY_BY]", "--event-time SOURCE", "[RUNNEL_EVENT_TIME]",
        "--max-out-of-orderness D", "[RUNNEL_MAX_OUT_OF_ORDERNESS]", "--allowed-lateness D",
        "[RUNNEL_ALLOWED_LATENESS]", "--idle-timeout D", "[RUNNEL_IDLE_TIMEOUT]", "--late MODE",
        "[RUNNEL_LATE]", "side-output:HOST:PORT/STREAM"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
  EXPECT_THAT(usage, HasSubstr(WindowSpecHelp()));
}

TEST(CheckDeadLetterContentType, AnyTypeTakesEveryInput) {
  EXPECT_TRUE(CheckDeadLetterContentType("dlq", "*/*",
                                         {{"numbers", "application/json"}, {"raw", "*/*"}})
                  .ok());
}

TEST(CheckDeadLetterContentType, SameTypeOrMatchingRangeTakesItsInputs) {
  EXPECT_TRUE(CheckDeadLetterContentType("dlq", "application/json",
                                         {{"numbers", "application/json"}})
                  .ok());
  EXPECT_TRUE(CheckDeadLetterContentType("dlq", "text/*", {{"lines", "text/csv"}}).ok());
}

TEST(CheckDeadLetterContentType, NarrowerThanAnInputIsRefusedNamingBothStreams) {
  absl::Status s = CheckDeadLetterContentType(
      "dlq", "application/json", {{"numbers", "application/json"}, {"raw", "*/*"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("dead-letter stream 'dlq' carries 'application/json'"));
  EXPECT_THAT(s.message(), HasSubstr("input stream 'raw' carries '*/*'"));
  EXPECT_THAT(s.message(), HasSubstr("'*/*'"));
  EXPECT_EQ(CheckDeadLetterContentType("dlq", "application/json", {{"lines", "text/csv"}}).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CheckDeadLetterContentType, UnparsableTypeIsInvalid) {
  EXPECT_EQ(CheckDeadLetterContentType("dlq", "json", {{"numbers", "application/json"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace runnel::sidecar
