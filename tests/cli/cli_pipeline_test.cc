// The whole data path through the CLI in local mode: numbers → square → squares, with the real
// gateway, the real runnel-processor sidecar and the SDK's square example.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "tests/cli/cli_harness.h"

namespace runnel::testing {
namespace {

using ::testing::HasSubstr;

class CliPipeline : public CliHarness {};

TEST_F(CliPipeline, NumbersAreSquaredThroughAProcessor) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "numbers", "--gateway", "main", "--content-type",
                    "application/json"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "squares", "--gateway", "main", "--content-type",
                    "application/json"}).code, 0);
  CliResult r = Runnel({"processor", "create", "square", "--function-cmd",
                        BuiltBinary("sdk/examples/square"), "--input", "numbers@earliest",
                        "--output", "squares"});
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* n : {"1", "2", "3", "4"}) {
    ASSERT_EQ(Runnel({"publish", "numbers", "--payload", n}).code, 0);
  }
  r = Runnel({"subscribe", "squares", "--from-beginning", "--max", "4", "--timeout", "60s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "square", "--no-follow"}).output;
  std::vector<double> got;
  for (const std::string& line : JsonLines(r.output)) {
    got.push_back(std::stod(nlohmann::json::parse(line)["payload"].get<std::string>()));
  }
  EXPECT_EQ(got, (std::vector<double>{1, 4, 9, 16}));
  // The sidecar acknowledges its inputs once the results are stored, so the lag reaches 0 just
  // after the results are visible: poll for it (bounded).
  CliResult status;
  for (int i = 0; i < 100; ++i) {
    status = Runnel({"processor", "status", "square"});
    if (absl::StrContains(status.output, "lag: 0")) break;
    ::usleep(100'000);
  }
  EXPECT_THAT(status.output, HasSubstr("# square: Ready"));
  EXPECT_THAT(status.output, HasSubstr("lag: 0"));
}

TEST_F(CliPipeline, SdkFunctionOverHttp) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  for (const char* s : {"numbers", "squares"}) {
    ASSERT_EQ(Runnel({"stream", "create", s, "--gateway", "main", "--content-type",
                      "application/json"}).code, 0);
  }
  // The SDK serves request-reply functions on POST / of its HTTP port ($HTTP_PORT = $PORT).
  CliResult r = Runnel({"processor", "create", "square", "--function-cmd",
                        BuiltBinary("sdk/examples/square"), "--function-url", "/", "--input",
                        "numbers@earliest", "--output", "squares"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(Runnel({"processor", "status", "square"}).output, HasSubstr("functionUrl: \"/\""));
  for (const char* n : {"1", "2", "3", "4"}) {
    ASSERT_EQ(Runnel({"publish", "numbers", "--payload", n}).code, 0);
  }
  r = Runnel({"subscribe", "squares", "--from-beginning", "--max", "4", "--timeout", "60s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "square", "--no-follow"}).output;
  std::vector<double> got;
  for (const std::string& line : JsonLines(r.output)) {
    got.push_back(std::stod(nlohmann::json::parse(line)["payload"].get<std::string>()));
  }
  EXPECT_EQ(got, (std::vector<double>{1, 4, 9, 16}));
  // The sidecar reached it over HTTP: its log names the URL on the function's port.
  EXPECT_THAT(Log("logs/processor-square-processor-0.log"), HasSubstr("http://127.0.0.1:"));
}

TEST_F(CliPipeline, PlainHttpServerAsAFunction) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  for (const char* s : {"words", "shouts"}) {
    ASSERT_EQ(Runnel({"stream", "create", s, "--gateway", "main", "--content-type",
                      "text/plain"}).code, 0);
  }
  // A few lines of Python's http.server, nothing of ours: POST /shout upper-cases the body.
  const std::string server = R"(python3 -c '
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).upper() + b"!"
        self.send_response(200 if self.path == "/shout" else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
')";
  CliResult r = Runnel({"processor", "create", "shout", "--function-cmd", server, "--function-url",
                        "/shout", "--input", "words@earliest", "--output", "shouts"});
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_EQ(Runnel({"publish", "words", "--payload", "hello", "--payload", "streams"}).code, 0);
  r = Runnel({"subscribe", "shouts", "--from-beginning", "--max", "2", "--timeout", "60s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "shout", "--no-follow"}).output;
  std::vector<std::string> got;
  for (const std::string& line : JsonLines(r.output)) {
    got.push_back(nlohmann::json::parse(line)["payload"].get<std::string>());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"HELLO!", "STREAMS!"}));
}

TEST_F(CliPipeline, DeadLetterStreamTakesWhatTheFunctionRefuses) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  for (const char* s : {"words", "shouts"}) {
    ASSERT_EQ(Runnel({"stream", "create", s, "--gateway", "main", "--content-type",
                      "text/plain"}).code, 0);
  }
  ASSERT_EQ(Runnel({"stream", "create", "narrow-dlq", "--gateway", "main", "--content-type",
                    "text/plain"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "dlq", "--gateway", "main", "--content-type", "*/*"}).code,
            0);
  // Refuses with 400 any word that is not all letters; upper-cases the others.
  const std::string server = R"(python3 -c '
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        word = self.rfile.read(int(self.headers["Content-Length"]))
        ok = word.isalpha()
        body = word.upper() if ok else b"not a word"
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
')";
  const std::vector<std::string> create{"processor", "create", "shout", "--function-cmd", server,
                                        "--function-url", "/", "--input", "words@earliest",
                                        "--output", "shouts"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = create;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  // Unknown and narrow dead-letter streams are refused before anything starts.
  CliResult r = Runnel(with({"--dead-letter", "nowhere"}));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"nowhere\" not found"));
  r = Runnel(with({"--dead-letter", "narrow-dlq"}));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("must carry \"*/*\""));
  EXPECT_THAT(r.output, HasSubstr("--content-type '*/*'"));
  EXPECT_THAT(Runnel({"processor", "list"}).output, HasSubstr("No processors found."));

  r = Runnel(with({"--dead-letter", "dlq"}));
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_EQ(Runnel({"publish", "words", "--payload", "hello", "--payload", "42",
                    "--payload", "streams"}).code, 0);
  r = Runnel({"subscribe", "shouts", "--from-beginning", "--max", "2", "--timeout", "60s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "shout", "--no-follow"}).output;
  std::vector<std::string> got;
  for (const std::string& line : JsonLines(r.output)) {
    got.push_back(nlohmann::json::parse(line)["payload"].get<std::string>());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"HELLO", "STREAMS"}));
  r = Runnel({"subscribe", "dlq", "--from-beginning", "--max", "1", "--timeout", "60s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "shout", "--no-follow"}).output;
  ASSERT_EQ(JsonLines(r.output).size(), 1u) << r.output;
  EXPECT_EQ(nlohmann::json::parse(JsonLines(r.output)[0])["payload"].get<std::string>(), "42");
  EXPECT_THAT(r.output, HasSubstr("not a word"));  // The function's answer, in a header.
  // processor status and list show it, from the processor's GET /status.
  std::string status;
  for (int i = 0; i < 100 && !absl::StrContains(status, "deadLettered: 1\n"); ++i) {
    if (i > 0) ::usleep(100'000);
    status = Runnel({"processor", "status", "shout"}).output;
  }
  EXPECT_THAT(status, HasSubstr("records:\n  in: 3\n"));
  EXPECT_THAT(status, HasSubstr("deadLettered: 1\n"));
  EXPECT_THAT(status, HasSubstr("watermarkLag: null"));  // Arrival time.
  CliResult list = Runnel({"processor", "list"});
  EXPECT_THAT(list.output, HasSubstr("DEAD-LETTERED"));
  EXPECT_THAT(list.output, HasSubstr("Ready    1 "));
}

// GET http://127.0.0.1:port/path; the body ("" on any failure). Bounded by 5s socket timeouts.
std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, n);
    }
  }
  ::close(fd);
  size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// The sum of a Prometheus counter's samples (all label sets) in a /metrics text.
double CounterSum(const std::string& metrics, const std::string& name) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, name) || line.size() == name.size() ||
        (line[name.size()] != ' ' && line[name.size()] != '{')) {
      continue;
    }
    double v = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) sum += v;
  }
  return sum;
}

TEST_F(CliPipeline, ReplicasShareTheInputPartitions) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "numbers", "--gateway", "main", "--content-type",
                    "application/json", "--partitions", "2"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "squares", "--gateway", "main", "--content-type",
                    "application/json"}).code, 0);
  CliResult r = Runnel({"processor", "create", "square", "--replicas", "2", "--function-cmd",
                        BuiltBinary("sdk/examples/square"), "--input", "numbers@earliest",
                        "--output", "squares"});
  ASSERT_EQ(r.code, 0) << r.output;
  CliResult status = Runnel({"processor", "status", "square"});
  for (const char* p : {"function-0", "processor-0", "function-1", "processor-1"}) {
    EXPECT_THAT(status.output, HasSubstr(absl::StrCat("name: square/", p, "\n    phase: Ready")));
  }
  // Keys spread the records over both partitions.
  std::multiset<double> want;
  for (int i = 1; i <= 12; ++i) {
    ASSERT_EQ(Runnel({"publish", "numbers", "--payload", std::to_string(i), "--key",
                      absl::StrCat("key-", i)}).code, 0);
    want.insert(i * i);
  }
  r = Runnel({"subscribe", "squares", "--from-beginning", "--max", "12", "--timeout", "60s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "square", "--no-follow"}).output;
  std::multiset<double> got;
  for (const std::string& line : JsonLines(r.output)) {
    got.insert(std::stod(nlohmann::json::parse(line)["payload"].get<std::string>()));
  }
  EXPECT_EQ(got, want);

  // One group, two members: each sidecar consumed records (its partition). At-least-once: a
  // rebalance while the second member joins may redeliver, hence >=.
  nlohmann::json state = nlohmann::json::parse(Log("state.json"));
  const nlohmann::json& ports = state["processors"]["square"]["ports"];
  ASSERT_EQ(ports.size(), 2u);
  double total = 0;
  for (const nlohmann::json& replica : ports) {
    double in = 0;
    for (int i = 0; i < 50; ++i) {
      in = CounterSum(HttpGet(replica["processor_http_port"].get<int>(), "/metrics"),
                      "runnel_processor_records_in_total");
      if (in > 0) break;
      ::usleep(100'000);
    }
    EXPECT_GT(in, 0) << "replica on port " << replica["processor_http_port"] << " got no records";
    total += in;
  }
  EXPECT_GE(total, 12);
}

}  // namespace
}  // namespace runnel::testing
