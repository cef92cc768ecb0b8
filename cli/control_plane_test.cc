#include "cli/control_plane.h"

#include <gtest/gtest.h>

#include "tests/testing/process.h"

namespace runnel::cli {
namespace {

State Pipeline() {
  State s;
  s.gateways["g"] = {.name = "g", .store = "file", .grpc_port = 7000, .http_port = 7001};
  s.streams["numbers"] = {.name = "numbers", .gateway = "g", .content_type = "text/plain"};
  s.streams["squares"] = {.name = "squares", .gateway = "g", .content_type = "*/*"};
  ProcessorSpec p{.name = "sq", .function_cmd = "./square", .window = "tumbling:1s",
                  .output_content_type = "application/json", .replicas = 1};
  p.inputs = {{.alias = "in", .stream = "numbers", .start_offset = "earliest"}};
  p.outputs = {{.alias = "out", .stream = "squares"}};
  p.working_dir = "/work";
  p.ports = {{.function_grpc_port = 9001, .function_http_port = 9002, .processor_http_port = 9003}};
  s.processors["sq"] = p;
  return s;
}

std::string Resolve(const std::string& name) { return "/bin/" + name; }

std::string EnvOf(const ProcessSpec& spec, const std::string& key) {
  for (const auto& [k, v] : spec.env) {
    if (k == key) return v;
  }
  return "<unset>";
}

TEST(DesiredProcesses, GatewayRunsOnItsLoopbackPortsWithItsDataDir) {
  std::vector<ProcessSpec> specs = DesiredProcesses(Pipeline(), Paths("/h"), Resolve);
  ASSERT_EQ(specs.size(), 3u);
  const ProcessSpec& g = specs[0];
  EXPECT_EQ(g.name, "gateway/g");
  EXPECT_EQ(g.argv, (std::vector<std::string>{
                        "/bin/runnel-gateway", "--host", "127.0.0.1", "--port", "7000",
                        "--http-host", "127.0.0.1", "--http-port", "7001", "--advertised-address",
                        "127.0.0.1:7000", "--store", "file", "--data-dir", "/h/gateways/g/data"}));
  EXPECT_EQ(g.log_path, "/h/logs/gateway-g.log");
  EXPECT_EQ(g.ready_log_line, "runnel-gateway serving");
}

TEST(DesiredProcesses, ProcessorGetsRiffEnvironmentAndStartsAfterFunctionAndGateway) {
  std::vector<ProcessSpec> specs = DesiredProcesses(Pipeline(), Paths("/h"), Resolve);
  const ProcessSpec& fn = specs[1];
  const ProcessSpec& sidecar = specs[2];
  EXPECT_EQ(fn.name, "processor/sq/function-0");
  EXPECT_EQ(fn.argv, (std::vector<std::string>{"/bin/sh", "-c", "./square"}));
  EXPECT_EQ(EnvOf(fn, "GRPC_PORT"), "9001");
  EXPECT_EQ(fn.ready_port, 9001);
  EXPECT_EQ(fn.working_dir, "/work");
  EXPECT_EQ(sidecar.name, "processor/sq/processor-0");
  EXPECT_EQ(sidecar.argv, (std::vector<std::string>{"/bin/runnel-processor", "--http-host",
                                                    "127.0.0.1", "--http-port", "9003",
                                                    "--window", "tumbling:1s"}));
  EXPECT_EQ(EnvOf(sidecar, "FUNCTION"), "127.0.0.1:9001");
  EXPECT_EQ(EnvOf(sidecar, "GROUP"), "sq");
  EXPECT_EQ(EnvOf(sidecar, "INPUT_NAMES"), "in");
  EXPECT_EQ(EnvOf(sidecar, "OUTPUT_NAMES"), "out");
  EXPECT_EQ(EnvOf(sidecar, "INPUT_START_OFFSETS"), "earliest");
  EXPECT_EQ(EnvOf(sidecar, "CNB_BINDINGS"), "/h/processors/sq/bindings");
  EXPECT_EQ(sidecar.after, (std::vector<std::string>{"gateway/g", "processor/sq/function-0"}));
  EXPECT_EQ(sidecar.ready_http_path, "/readyz");
  EXPECT_TRUE(sidecar.blocked.empty());
}

TEST(DesiredProcesses, DeadLetterStreamReachesTheSidecarAsRunnelDeadLetter) {
  State s = Pipeline();
  EXPECT_EQ(EnvOf(DesiredProcesses(s, Paths("/h"), Resolve)[2], "RUNNEL_DEAD_LETTER"), "<unset>");
  s.streams["dlq"] = {.name = "dlq", .gateway = "g", .content_type = "*/*"};
  s.processors["sq"].dead_letter = "dlq";
  std::vector<ProcessSpec> specs = DesiredProcesses(s, Paths("/h"), Resolve);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(EnvOf(specs[2], "RUNNEL_DEAD_LETTER"), "127.0.0.1:7000/dlq");
}

TEST(DesiredProcesses, KeyTimeAndRetrySettingsReachTheSidecarAsFlags) {
  State s = Pipeline();
  s.streams["late"] = {.name = "late", .gateway = "g", .content_type = "text/plain"};
  ProcessorSpec& p = s.processors["sq"];
  p.key_by = ".user";
  p.event_time = "cloudevent";
  p.max_out_of_orderness = "5s";
  p.allowed_lateness = "1m";
  p.idle_timeout = "0";
  p.late = "side-output:late";
  p.max_attempts = 0;
  p.invoke_timeout = "30s";
  std::vector<ProcessSpec> specs = DesiredProcesses(s, Paths("/h"), Resolve);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[2].argv,
            (std::vector<std::string>{
                "/bin/runnel-processor", "--http-host", "127.0.0.1", "--http-port", "9003",
                "--window", "tumbling:1s", "--key-by", ".user", "--event-time", "cloudevent",
                "--max-out-of-orderness", "5s", "--allowed-lateness", "1m", "--idle-timeout", "0",
                "--late", "side-output:127.0.0.1:7000/late", "--max-attempts", "0",
                "--invoke-timeout", "30s"}));
  EXPECT_TRUE(specs[2].blocked.empty());
  // A side-output stream that is gone blocks the sidecar with a reason instead of a crash loop.
  s.streams.erase("late");
  specs = DesiredProcesses(s, Paths("/h"), Resolve);
  EXPECT_EQ(specs[2].blocked, "late side-output stream \"late\" (or its gateway) not found");
}

TEST(DesiredProcesses, FunctionAddressMeansNoFunctionProcess) {
  State s = Pipeline();
  s.processors["sq"].function_cmd.clear();
  s.processors["sq"].function_address = "10.0.0.1:8081";
  std::vector<ProcessSpec> specs = DesiredProcesses(s, Paths("/h"), Resolve);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(EnvOf(specs[1], "FUNCTION"), "10.0.0.1:8081");
  EXPECT_EQ(specs[1].after, std::vector<std::string>{"gateway/g"});
}

TEST(DesiredProcesses, HttpFunctionGetsPortAndTheSidecarItsUrl) {
  State s = Pipeline();
  s.processors["sq"].function_url = "/invoke";
  std::vector<ProcessSpec> specs = DesiredProcesses(s, Paths("/h"), Resolve);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(EnvOf(specs[1], "PORT"), "9002");
  EXPECT_EQ(EnvOf(specs[1], "HTTP_PORT"), "9002");
  EXPECT_EQ(specs[1].ready_port, 9002);
  EXPECT_EQ(EnvOf(specs[2], "RUNNEL_FUNCTION_URL"), "http://127.0.0.1:9002/invoke");
  EXPECT_EQ(EnvOf(specs[2], "FUNCTION"), "<unset>");
}

TEST(DesiredProcesses, ExternalHttpFunctionMeansNoFunctionProcess) {
  State s = Pipeline();
  s.processors["sq"].function_cmd.clear();
  s.processors["sq"].function_url = "http://10.0.0.1:8080/";
  std::vector<ProcessSpec> specs = DesiredProcesses(s, Paths("/h"), Resolve);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(EnvOf(specs[1], "RUNNEL_FUNCTION_URL"), "http://10.0.0.1:8080/");
  EXPECT_EQ(EnvOf(specs[1], "FUNCTION"), "<unset>");
}

TEST(DesiredProcesses, MissingBinaryBlocksWithAHint) {
  std::vector<ProcessSpec> specs = DesiredProcesses(
      Pipeline(), Paths("/h"), [](const std::string& n) -> std::string {
        return n == "runnel-processor" ? "" : "/bin/" + n;
      });
  EXPECT_TRUE(specs[0].blocked.empty());
  EXPECT_NE(specs[2].blocked.find("runnel-processor not found"), std::string::npos);
}

TEST(DesiredProcesses, ChangingASpecChangesItsFingerprint) {
  State s = Pipeline();
  std::string before = DesiredProcesses(s, Paths("/h"), Resolve)[2].Fingerprint();
  s.processors["sq"].window = "tumbling:2s";
  EXPECT_NE(DesiredProcesses(s, Paths("/h"), Resolve)[2].Fingerprint(), before);
  EXPECT_EQ(DesiredProcesses(s, Paths("/h"), Resolve)[0].Fingerprint(),
            DesiredProcesses(Pipeline(), Paths("/h"), Resolve)[0].Fingerprint());
}

TEST(RestartDelay, DoublesFromOneSecondUpToThirty) {
  EXPECT_EQ(RestartDelay(1), absl::Seconds(1));
  EXPECT_EQ(RestartDelay(2), absl::Seconds(2));
  EXPECT_EQ(RestartDelay(5), absl::Seconds(16));
  EXPECT_EQ(RestartDelay(6), absl::Seconds(30));
  EXPECT_EQ(RestartDelay(100), absl::Seconds(30));
}

TEST(WriteBindings, RiffLayoutWithGatewayTopicAndContentType) {
  testing::TempDir dir;
  Paths paths(dir.path());
  State s = Pipeline();
  ASSERT_TRUE(WriteBindings(s.processors["sq"], s, paths).ok());
  const std::string root = paths.bindings_dir("sq");
  EXPECT_EQ(*ReadFile(root + "/input_000/secret/gateway"), "127.0.0.1:7000");
  EXPECT_EQ(*ReadFile(root + "/input_000/secret/topic"), "numbers");
  EXPECT_EQ(*ReadFile(root + "/input_000/metadata/contentType"), "text/plain");
  // A wildcard stream takes the type the function declares it produces.
  EXPECT_EQ(*ReadFile(root + "/output_000/metadata/contentType"), "application/json");
  EXPECT_EQ(*ReadFile(root + "/output_000/metadata/stream"), "squares");
}

TEST(WriteBindings, UnknownStreamFails) {
  testing::TempDir dir;
  State s = Pipeline();
  s.streams.erase("squares");
  absl::Status st = WriteBindings(s.processors["sq"], s, Paths(dir.path()));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("squares"), std::string::npos);
}

}  // namespace
}  // namespace runnel::cli
