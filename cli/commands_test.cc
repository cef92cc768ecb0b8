// `runnel` commands in-process (RunCli) with a state directory of their own: what processor
// create refuses and renders, and what processor status and list show from a processor's
// GET /status. A "running control plane" is faked by holding its pid file's lock and writing
// status.json, as the control plane does; a processor's HTTP port is a common/http_server.h.

#include "cli/commands.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "cli/state.h"
#include "common/http_server.h"
#include "common/window_spec.h"
#include "tests/testing/process.h"

namespace runnel::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int code;
  std::string out;
  std::string err;
};

class CommandsTest : public ::testing::Test {
 protected:
  Result Run(std::vector<std::string> args) {
    std::ostringstream out, err;
    CliEnv env{
        .home = dir_.path() + "/home", .self_exe = "/nonexistent/runnel", .out = &out, .err = &err};
    int code = RunCli(args, env);
    return {code, out.str(), err.str()};
  }

  Paths paths() { return Paths(dir_.path() + "/home"); }

  testing::TempDir dir_;
};

TEST_F(CommandsTest, ProcessorCreateHelpGivesTheWindowGrammar) {
  Result r = Run({"processor", "create", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr(WindowSpecHelp()));
  for (const char* flag :
       {"--key-by", "--event-time", "--max-out-of-orderness", "--allowed-lateness",
        "--idle-timeout", "--late", "--max-attempts", "--invoke-timeout"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
  EXPECT_THAT(Run({"help"}).out, HasSubstr("the window grammar"));
}

// issue 15: `--window tumbling:1x` used to be accepted, then the sidecar exited 2 for good.
TEST_F(CommandsTest, ProcessorCreateRefusesABadWindowAndCreatesNothing) {
  Result r = Run({"processor", "create", "sq", "--function-address", "127.0.0.1:8081", "--input",
                  "numbers", "--window", "tumbling:1x"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("invalid --window \"tumbling:1x\": window spec 'tumbling:1x'"));
  EXPECT_THAT(r.err, HasSubstr(WindowSpecHelp()));
  absl::StatusOr<State> state = StateStore(paths()).Load();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->processors.empty());
  // With --dry-run too.
  r = Run({"processor", "create", "sq", "--image", "x:1", "--input", "numbers", "--gateway", "main",
           "--window", "sliding:size=1s", "--dry-run"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("needs size=D and slide=D"));
  EXPECT_THAT(r.out, Not(HasSubstr("Deployment")));
}

TEST_F(CommandsTest, ProcessorCreateRefusesBadKeyTimeAndRetrySettings) {
  const std::vector<std::string> base{"processor", "create",  "sq",        "--image", "x:1",
                                      "--input",   "numbers", "--gateway", "main",    "--dry-run"};
  struct Case {
    std::vector<std::string> flags;
    const char* message;
  } cases[] = {
      {{"--key-by", "licenseId"}, "invalid --key-by \"licenseId\""},
      {{"--event-time", "soon"}, "invalid --event-time \"soon\""},
      {{"--allowed-lateness", "1m"}, "--allowed-lateness applies to event time only"},
      {{"--event-time", "cloudevent", "--window", "count=10,time=1s"}, "aligned by time alone"},
      {{"--event-time", "cloudevent", "--idle-timeout", "10"}, "invalid --idle-timeout \"10\""},
      {{"--event-time", "cloudevent", "--late", "side-output"}, "want drop, refire or side-output"},
      {{"--max-attempts", "many"}, "--max-attempts"},
      {{"--max-attempts", "1001"}, "--max-attempts"},
      {{"--invoke-timeout", "forever"}, "invalid --invoke-timeout \"forever\""},
      {{"--key-by", ""}, "--key-by needs a value"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = base;
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    Result r = Run(args);
    EXPECT_EQ(r.code, 2) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
}

TEST_F(CommandsTest, ProcessorCreateDryRunPassesTheSettingsToTheSidecar) {
  Result r = Run({"processor",
                  "create",
                  "rides",
                  "--image",
                  "x:1",
                  "--input",
                  "rides",
                  "--gateway",
                  "main",
                  "--window",
                  "tumbling:1m",
                  "--key-by",
                  ".licenseId",
                  "--event-time",
                  "/ts",
                  "--max-out-of-orderness",
                  "5s",
                  "--allowed-lateness",
                  "1m",
                  "--idle-timeout",
                  "0",
                  "--late",
                  "side-output:late-rides",
                  "--max-attempts",
                  "0",
                  "--invoke-timeout",
                  "30s",
                  "--dry-run",
                  "-o",
                  "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json list = nlohmann::json::parse(r.out);
  nlohmann::json args;
  for (const nlohmann::json& item : list["items"]) {
    if (item["kind"] != "Deployment") continue;
    for (const nlohmann::json& c : item["spec"]["template"]["spec"]["containers"]) {
      if (c["name"] == "processor") args = c["args"];
    }
  }
  EXPECT_EQ(args, nlohmann::json({"--http-port", "8090", "--window", "tumbling:1m", "--key-by",
                                  ".licenseId", "--event-time", "/ts", "--max-out-of-orderness",
                                  "5s", "--allowed-lateness", "1m", "--idle-timeout", "0", "--late",
                                  "side-output:main-gateway:6565/late-rides", "--max-attempts",
                                  "0", "--invoke-timeout", "30s"}));
}

// Holds the control plane's pid-file lock and writes status.json, so commands see one running.
class FakeControlPlane {
 public:
  explicit FakeControlPlane(const Paths& paths) {
    ::mkdir(paths.home().c_str(), 0755);
    fd_ = ::open(paths.pid_file().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(::flock(fd_, LOCK_EX | LOCK_NB), 0);
    const std::string pid = std::to_string(::getpid());
    EXPECT_EQ(::write(fd_, pid.data(), pid.size()), static_cast<ssize_t>(pid.size()));
    ControlPlaneStatus status{.pid = ::getpid()};
    status.processes.push_back({.name = "processor/sq/processor-0", .phase = "Ready"});
    EXPECT_TRUE(WriteFileAtomically(paths.status_file(), SerializeStatus(status)).ok());
  }
  ~FakeControlPlane() { ::close(fd_); }

 private:
  int fd_ = -1;
};

std::unique_ptr<HttpServer> ServeStatus(std::string body) {
  auto server = HttpServer::Start(
      {.address = "127.0.0.1", .port = 0, .threads = 1},
      [body](HttpRequest request, HttpRespond respond) {
        std::move(respond)(request.path == "/status"
                               ? HttpResponse{.content_type = "application/json", .body = body}
                               : HttpResponse{.status = 404});
      });
  EXPECT_TRUE(server.ok()) << server.status();
  return *std::move(server);
}

TEST_F(CommandsTest, ProcessorStatusAndListShowFailuresFromTheProcessor) {
  std::unique_ptr<HttpServer> processor = ServeStatus(
      R"({"ready":true,"state":"ok","records_in":10,"records_out":9,"dead_lettered":1,)"
      R"("retries":4,"invocation_errors":5,"late_records":2,"last_error":"record 5: not JSON",)"
      R"("last_error_time":"2026-12-04T10:00:00.250Z","open_windows":1,)"
      R"("watermark_lag_seconds":0.25})");
  ProcessorSpec p{.name = "sq",
                  .function_address = "127.0.0.1:8081",
                  .window = "time=1s",
                  .event_time = "cloudevent",
                  .late = "refire",
                  .max_attempts = 3};
  p.inputs = {{.alias = "numbers", .stream = "numbers"}};  // Unknown stream: no lag lookup.
  p.ports = {{.processor_http_port = processor->port()}};
  ASSERT_TRUE(StateStore(paths())
                  .Update([&](State& s) {
                    s.processors["sq"] = p;
                    return absl::OkStatus();
                  })
                  .ok());
  FakeControlPlane control_plane(paths());

  Result r = Run({"processor", "status", "sq"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("# sq: Ready\n"));
  EXPECT_THAT(r.out, HasSubstr("eventTime: \"cloudevent\"\nlate: \"refire\"\nmaxAttempts: 3\n"));
  EXPECT_THAT(r.out, HasSubstr("records:\n  in: 10\n  out: 9\n  deadLettered: 1\n  retries: 4\n"
                               "  invocationErrors: 5\n  late: 2\n  openWindows: 1\n"
                               "watermarkLag: 250ms\nlastError: \"record 5: not JSON\"\n"));

  r = Run({"processor", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("DEAD-LETTERED   RETRIES   LATE   WM-LAG   LAST-ERROR"));
  EXPECT_THAT(r.out,
              HasSubstr("Ready    1               4         2      250ms    record 5: not JSON"));

  // A replica that does not answer is named; list shows dashes.
  const int port = processor->port();
  processor->Stop();
  r = Run({"processor", "status", "sq"});
  EXPECT_THAT(r.out, HasSubstr("records: null\n# replica 0: GET http://127.0.0.1:" +
                               std::to_string(port) + "/status: "));
  r = Run({"processor", "list"});
  EXPECT_THAT(r.out, HasSubstr("Ready    -               -         -      -        -"));
}

}  // namespace
}  // namespace runnel::cli
