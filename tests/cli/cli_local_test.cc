// Local mode through the built binary: gateways, streams, publish/subscribe, supervision,
// restarts of the control plane, and the errors a person should get.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "tests/cli/cli_harness.h"

namespace runnel::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CliLocal : public CliHarness {};

TEST_F(CliLocal, EmptyListsSayNothingFound) {
  EXPECT_THAT(Runnel({"stream", "list"}).output, HasSubstr("No streams found."));
  EXPECT_THAT(Runnel({"gateway", "list"}).output, HasSubstr("No gateways found."));
  EXPECT_THAT(Runnel({"processor", "list"}).output, HasSubstr("No processors found."));
}

TEST_F(CliLocal, UsageErrorsExitTwo) {
  CliResult r = Runnel({"stream", "create", "s", "--gatway", "g"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("unknown flag --gatway"));
  EXPECT_EQ(Runnel({"frobnicate"}).code, 2);
  r = Runnel({"processor", "create", "p", "--function-cmd", "x", "--input", "a:b:c"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("malformed input stream reference \"a:b:c\""));
}

TEST_F(CliLocal, StreamOnUnknownGatewayIsRefusedWithAHint) {
  CliResult r = Runnel({"stream", "create", "numbers", "--gateway", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("gateway \"nope\" not found; create it with: runnel gateway create nope"));
}

TEST_F(CliLocal, PublishAndSubscribeThroughALocalGateway) {
  CliResult r = Runnel({"gateway", "create", "main"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Gateway \"main\" is ready"));
  r = Runnel({"stream", "create", "greetings", "--gateway", "main", "--content-type", "text/plain",
              "--partitions", "2"});
  ASSERT_EQ(r.code, 0) << r.output;
  r = Runnel({"stream", "list"});
  EXPECT_THAT(r.output, HasSubstr("NAME"));
  EXPECT_THAT(r.output, HasSubstr("greetings   main      text/plain     2"));

  r = Runnel({"publish", "greetings", "--payload", "hello", "--payload", "hola", "--key", "k",
              "--header", "X-Salutation: Hi", "--header", "tenant: acme"});
  ASSERT_EQ(r.code, 0) << r.output;
  r = Runnel({"publish", "greetings", "--payload", "{}", "--content-type", "application/json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("content type \"application/json\" is not compatible with "
                                  "stream \"greetings\", which carries \"text/plain\""));

  r = Runnel({"subscribe", "greetings", "--from-beginning", "--max", "2", "--timeout", "30s"});
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<std::string> lines = JsonLines(r.output);
  ASSERT_EQ(lines.size(), 2u) << r.output;
  auto first = nlohmann::json::parse(lines[0]);
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(first["payload"], "hello");
  EXPECT_EQ(second["payload"], "hola");
  EXPECT_EQ(first["contentType"], "text/plain");
  EXPECT_TRUE(first.contains("id") && first.contains("time") && first.contains("headers"));
  // Where each record sits (issue 12): one key, so one partition, in publish order.
  EXPECT_EQ(first["key"], "k");
  EXPECT_EQ(second["key"], "k");
  EXPECT_EQ(first["partition"], second["partition"]);
  EXPECT_EQ(first["offset"], 0);
  EXPECT_EQ(second["offset"], 1);
  EXPECT_TRUE(first["timestamp"].is_string()) << first;  // The store's time, RFC 3339.
  // Header names the gateway stores by the header-name rule come back as they were given
  // (lower-cased).
  EXPECT_EQ(first["headers"], (nlohmann::json{{"x-salutation", "Hi"}, {"tenant", "acme"}}));

  r = Runnel({"stream", "status", "greetings"});
  EXPECT_THAT(r.output, HasSubstr("# greetings: Ready"));
  r = Runnel({"gateway", "delete", "main"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("keeps stream(s) greetings"));
  EXPECT_EQ(Runnel({"stream", "delete", "greetings"}).code, 0);
  EXPECT_EQ(Runnel({"gateway", "delete", "main"}).code, 0);
  EXPECT_THAT(Runnel({"gateway", "list"}).output, HasSubstr("No gateways found."));
}

TEST_F(CliLocal, ResourcesAndRecordsSurviveARestartOfTheControlPlane) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "s", "--gateway", "main"}).code, 0);
  ASSERT_EQ(Runnel({"publish", "s", "--payload", "kept"}).code, 0);
  CliResult down = Runnel({"down"});
  ASSERT_EQ(down.code, 0) << down.output;
  EXPECT_THAT(Runnel({"gateway", "list"}).output, HasSubstr("ControlPlaneDown"));
  CliResult up = Runnel({"up"});
  ASSERT_EQ(up.code, 0) << up.output;
  EXPECT_THAT(up.output, HasSubstr("1 gateway(s), 1 stream(s)"));
  CliResult sub = Runnel({"subscribe", "s", "--from-beginning", "--max", "1", "--timeout", "60s"});
  ASSERT_EQ(sub.code, 0) << sub.output;
  ASSERT_EQ(JsonLines(sub.output).size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(JsonLines(sub.output)[0])["payload"], "kept");
}

TEST_F(CliLocal, ACrashedGatewayIsRestarted) {
  ASSERT_EQ(Runnel({"gateway", "create", "main", "--store", "memory"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "s", "--gateway", "main"}).code, 0);
  CliResult status = Runnel({"gateway", "status", "main"});
  const std::string marker = "pid: ";
  size_t at = status.output.find(marker);
  ASSERT_NE(at, std::string::npos) << status.output;
  int pid = std::atoi(status.output.c_str() + at + marker.size());
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // Bounded wait for the restart (back-off 1s) and the stream re-created on the fresh memory store.
  bool restarted = false;
  for (int i = 0; i < 150 && !restarted; ++i) {
    status = Runnel({"gateway", "status", "main"});
    restarted = absl::StrContains(status.output, "restarts: 1") &&
                absl::StrContains(status.output, "# main: Ready");
    if (!restarted) ::usleep(100'000);
  }
  ASSERT_TRUE(restarted) << status.output;
  EXPECT_THAT(status.output, HasSubstr("killed by signal 9"));
  bool stream_back = false;
  for (int i = 0; i < 100 && !stream_back; ++i) {
    stream_back = absl::StrContains(Runnel({"stream", "list"}).output, "Ready");
    if (!stream_back) ::usleep(100'000);
  }
  EXPECT_TRUE(stream_back);
  EXPECT_EQ(Runnel({"publish", "s", "--payload", "after"}).code, 0);
}

TEST_F(CliLocal, PortClashIsReportedBeforeAnythingStarts) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  CliResult r = Runnel({"gateway", "create", "main", "--port", port});
  ::close(fd);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("port ", port, " on 127.0.0.1 is already in use")));
  EXPECT_THAT(Runnel({"gateway", "list"}).output, HasSubstr("No gateways found."));
}

TEST_F(CliLocal, ProcessorErrorsNameTheProblem) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "in", "--gateway", "main", "--content-type",
                    "text/plain"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "out", "--gateway", "main", "--content-type",
                    "application/json"}).code, 0);

  CliResult r = Runnel({"processor", "create", "p", "--function-cmd", "true", "--input", "missing"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("stream \"missing\" not found; create it with: runnel stream "
                                  "create missing --gateway GATEWAY"));

  r = Runnel({"processor", "create", "p", "--function-cmd", "true", "--input", "in",
              "--input-content-type", "application/json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("content type mismatch: input stream \"in\" carries "
                                  "\"text/plain\" but processor \"p\" accepts \"application/json\""));
  r = Runnel({"processor", "create", "p", "--function-cmd", "true", "--input", "in", "--output",
              "out", "--output-content-type", "text/csv"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("output stream \"out\" carries \"application/json\""));
  // A --key-by that re-keys groups in one replica; published keys (--key-by key) may scale out.
  r = Runnel({"processor", "create", "p", "--function-cmd", "true", "--input", "in", "--key-by",
              "/card", "--replicas", "2"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("--replicas 2 would give each key's windows in parts"));
  EXPECT_THAT(Runnel({"processor", "list"}).output, HasSubstr("No processors found."));

  // A function that exits at once: the create fails and shows what it printed.
  r = Runnel({"processor", "create", "broken", "--function-cmd",
              "echo 'model file missing: /nowhere/model.bin' >&2; exit 3", "--input", "in",
              "--output", "out"});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("exited with code 3 before it was ready"));
  EXPECT_THAT(r.output, HasSubstr("model file missing: /nowhere/model.bin"));
  CliResult list = Runnel({"processor", "list"});
  EXPECT_THAT(list.output, HasSubstr("CrashLoopBackOff"));
  EXPECT_EQ(Runnel({"processor", "delete", "broken"}).code, 0);
}

TEST_F(CliLocal, DryRunPrintsManifestsAndStoresNothing) {
  CliResult r = Runnel({"processor", "create", "sq", "--image", "example/square:1", "--input",
                        "numbers@earliest", "--output", "squares", "--gateway", "main",
                        "--dry-run", "-o", "yaml"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("kind: Deployment"));
  EXPECT_THAT(r.output, HasSubstr("kind: ScaledObject"));
  EXPECT_THAT(r.output, HasSubstr("name: CNB_BINDINGS"));
  EXPECT_THAT(r.output, Not(HasSubstr("control plane")));
  EXPECT_THAT(Runnel({"processor", "list"}).output, HasSubstr("No processors found."));
}

TEST_F(CliLocal, FunctionUrlIsCheckedAndRenderedForAnHttpFunction) {
  CliResult r = Runnel({"processor", "create", "p", "--function-url", "http://127.0.0.1:9/",
                        "--function-address", "127.0.0.1:9", "--input", "in"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("--function-url and --function-address both name the function"));
  r = Runnel({"processor", "create", "p", "--function-url", "/invoke", "--input", "in"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("is a path: add --function-cmd CMD"));
  r = Runnel({"processor", "create", "p", "--function-url", "http://127.0.0.1:9/",
              "--function-cmd", "./fn", "--input", "in"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("names a function already running"));
  r = Runnel({"processor", "create", "p", "--function-url", "ftp://x:1/", "--input", "in"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.output, HasSubstr("only http:// is supported"));

  r = Runnel({"processor", "create", "up", "--image", "example/upper:1", "--function-url",
              "/invoke", "--input", "words", "--output", "upper", "--gateway", "main",
              "--dry-run", "-o", "yaml"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("name: RUNNEL_FUNCTION_URL\n"
                                  "          value: \"http://localhost:8080/invoke\""));
  EXPECT_THAT(r.output, HasSubstr("name: PORT\n"));
  EXPECT_THAT(r.output, Not(HasSubstr("name: FUNCTION\n")));
  EXPECT_THAT(Runnel({"processor", "list"}).output, HasSubstr("No processors found."));
}

TEST_F(CliLocal, OrphansOfAKilledControlPlaneAreStoppedByTheNextOne) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "s", "--gateway", "main"}).code, 0);
  ASSERT_EQ(Runnel({"publish", "s", "--payload", "before"}).code, 0);
  // A function whose shell leaves a child behind: the whole group must go.
  (void)Runnel({"processor", "create", "p", "--function-cmd",
                absl::StrCat("sleep 600 & exec ", BuiltBinary("sdk/examples/square")), "--input",
                "s", "--wait-timeout", "20s"});
  std::vector<int> before = OwnedProcesses();
  ASSERT_GE(before.size(), 3u) << "gateway, function, its sleep (and the sidecar if built)";
  const int control_plane = ControlPlanePid();
  ASSERT_GT(control_plane, 0);
  ASSERT_EQ(::kill(control_plane, SIGKILL), 0);
  for (int i = 0; i < 100 && Alive(control_plane); ++i) ::usleep(50'000);
  ASSERT_FALSE(Alive(control_plane));
  // Its children outlive it: orphans.
  for (int pid : before) EXPECT_TRUE(Alive(pid)) << pid;
  EXPECT_THAT(Runnel({"gateway", "list"}).output, HasSubstr("ControlPlaneDown"));

  CliResult up = Runnel({"up"});
  ASSERT_EQ(up.code, 0) << up.output;
  // The new control plane stopped them before starting anything.
  for (int pid : before) EXPECT_FALSE(Alive(pid)) << "orphan " << pid << " still runs";
  std::string log = Log("control-plane.log");
  EXPECT_THAT(log, HasSubstr("stopping processes left by an earlier control plane"));
  // And started fresh ones from the kept state: the file log still holds the record.
  CliResult sub = Runnel({"subscribe", "s", "--from-beginning", "--max", "1", "--timeout", "60s"});
  ASSERT_EQ(sub.code, 0) << sub.output;
  EXPECT_EQ(nlohmann::json::parse(JsonLines(sub.output).at(0))["payload"], "before");
  std::vector<int> after = OwnedProcesses();
  EXPECT_GE(after.size(), 3u);
  for (int pid : after) EXPECT_EQ(std::count(before.begin(), before.end(), pid), 0);
}

TEST_F(CliLocal, PublishLinesSendsOneRecordPerLine) {
  ASSERT_EQ(Runnel({"gateway", "create", "main", "--store", "memory"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "s", "--gateway", "main", "--content-type",
                    "application/json"}).code, 0);
  const std::string file = dir_.path() + "/events.jsonl";
  std::ofstream(file) << "{\"n\":1}\n\n{\"n\":2}\r\n{\"n\":3}";
  CliResult r = Runnel({"publish", "s", "--file", file, "--lines"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Published 3 record(s) to stream \"s\""));
  r = Runnel({"subscribe", "s", "--from-beginning", "--max", "3", "--timeout", "30s"});
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<std::string> lines = JsonLines(r.output);
  ASSERT_EQ(lines.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(nlohmann::json::parse(lines[i])["payload"], absl::StrCat("{\"n\":", i + 1, "}"));
  }
  EXPECT_EQ(Runnel({"publish", "s", "--payload", "x", "--lines"}).code, 2);
}

TEST_F(CliLocal, TailSinceShowsOnlyRecentLines) {
  ASSERT_EQ(Runnel({"gateway", "create", "main", "--store", "memory"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "in", "--gateway", "main"}).code, 0);
  // The function never becomes ready (it listens nowhere): only its log matters here. What it
  // prints ("early-1") differs from its command line (in the log's banner).
  (void)Runnel({"processor", "create", "chatty", "--function-cmd",
                "echo early-$((1)); sleep 3; echo late-$((2)); exec sleep 600", "--input", "in",
                "--wait-timeout", "1s"});
  CliResult all;
  for (int i = 0; i < 100; ++i) {
    all = Runnel({"processor", "tail", "chatty", "--no-follow"});
    if (absl::StrContains(all.output, "late-2")) break;
    ::usleep(100'000);
  }
  ASSERT_THAT(all.output, HasSubstr("[function-0] early-1"));
  ASSERT_THAT(all.output, HasSubstr("[function-0] late-2"));
  // "late-2" was written within the last ~0.1s, "early-1" 3s before it.
  CliResult recent = Runnel({"processor", "tail", "chatty", "--no-follow", "--since", "1500ms"});
  ASSERT_EQ(recent.code, 0) << recent.output;
  EXPECT_THAT(recent.output, HasSubstr("[function-0] late-2"));
  EXPECT_THAT(recent.output, Not(HasSubstr("early-1")));
  CliResult older = Runnel({"processor", "tail", "chatty", "--no-follow", "--since", "1m"});
  EXPECT_THAT(older.output, HasSubstr("early-1"));
  EXPECT_THAT(older.output, HasSubstr("late-2"));
  EXPECT_EQ(Runnel({"processor", "tail", "chatty", "--since", "soon"}).code, 2);
  EXPECT_EQ(Runnel({"processor", "delete", "chatty"}).code, 0);
}

}  // namespace
}  // namespace runnel::testing
