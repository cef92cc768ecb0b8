// Interop: runnel-processor drives riff's own Node invoker (@projectriff/node-function-invoker,
// installed by scripts/test.sh with `npm ci` in tests/interop), end to end through the gateway.
// This proves the riff-rpc side against an invoker we did not write.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/sidecar/pipeline_fixture.h"

namespace runnel::testing {
namespace {

using ::testing::ElementsAreArray;

// A loopback port free at the time of the call (the Node invoker cannot report one it picked).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class NodeInteropTest : public PipelineTest {
 protected:
  void SetUp() override {
    server_js_ = std::string(INTEROP_DIR) +
                 "/node_modules/@projectriff/node-function-invoker/server.js";
    if (!std::filesystem::exists(server_js_)) {
      GTEST_FAIL() << server_js_ << " is missing: run `npm ci` in tests/interop "
                   << "(scripts/test.sh does)";
    }
    PipelineTest::SetUp();
  }

  // Starts the Node invoker hosting `function_file`; returns host:port once it serves.
  std::string StartNodeFunction(const std::string& function_file) {
    const int port = FreePort();
    auto child = ChildProcess::Start(
        {NODE_EXECUTABLE, server_js_},
        {{"FUNCTION_URI", std::string(NODE_FUNCTIONS_DIR) + "/" + function_file},
         {"GRPC_PORT", std::to_string(port)}},
        absl::StrCat(dir_.path(), "/node-", functions_.size(), ".log"));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return "";
    functions_.push_back(*std::move(child));
    auto line = functions_.back().WaitForLogLine("Ready to process signals", absl::Seconds(60));
    EXPECT_TRUE(line.ok()) << line.status() << functions_.back().Log();
    return absl::StrCat("127.0.0.1:", port);
  }

  std::string server_js_;
};

TEST_F(NodeInteropTest, RequestReplyFunctionLosesNothingWithTheHalfCloseMitigation) {
  const int n = 2000;
  CreateStream("numbers");
  CreateStream("squares");
  std::vector<std::string> numbers, want;
  for (int i = 1; i <= n; ++i) {
    numbers.push_back(std::to_string(i));
    want.push_back(std::to_string(i * i));
  }
  Publish("numbers", numbers);
  const std::string fn = StartNodeFunction("square.js");
  // Large windows, each half-closed only once its outputs match its inputs (or, failing that,
  // paused for the idle time): without that, the invoker ends each call with OK while dropping
  // the window's last outputs (docs/sidecar.md). A square answers every input, so the match
  // ends each window; the idle time is a fallback, and 1 s keeps it from firing while a loaded
  // machine (ctest -j2 beside other builds) holds the Node process back. With 100 ms this test
  // failed once in such a run; its log was not kept, and the idle rule is the likely cause.
  ChildProcess* p = StartProcessor({"--name", "node-square", "--function", fn, "--input",
                                    In("numbers"), "--output", In("squares"), "--window",
                                    "count=500,time=2s", "--half-close-idle", "1s"});
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitForGroupOffset("numbers", "node-square", n - 1)) << p->Log();
  std::vector<Received> out = ReadAtLeast("squares", n, absl::Seconds(30));
  EXPECT_THAT(Payloads(out), ElementsAreArray(want));
  EXPECT_EQ(out.size(), static_cast<size_t>(n));
  auto code = p->Stop(SIGTERM, absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST_F(NodeInteropTest, WithoutTheMitigationTheInvokerDropsOutputs) {
  // Documents the defect rather than our behaviour: the same pipeline with an immediate
  // half-close (asked for: by default riff's invokers get the linger). Every window's call ends OK, the inputs are acknowledged, yet outputs are
  // missing. If a future invoker fixes this, this test says so (and the mitigation can go).
  const int n = 2000;
  CreateStream("numbers");
  CreateStream("squares");
  std::vector<std::string> numbers;
  for (int i = 1; i <= n; ++i) numbers.push_back(std::to_string(i));
  Publish("numbers", numbers);
  const std::string fn = StartNodeFunction("square.js");
  ChildProcess* p = StartProcessor({"--name", "node-square", "--function", fn, "--input",
                                    In("numbers"), "--output", In("squares"), "--window",
                                    "count=500", "--half-close-idle", "0"});
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitForGroupOffset("numbers", "node-square", n - 1)) << p->Log();
  std::vector<Received> out = ReadAtLeast("squares", n, absl::Seconds(3));
  RecordProperty("outputs_without_mitigation", static_cast<int>(out.size()));
  EXPECT_LT(out.size(), static_cast<size_t>(n))
      << "riff's Node invoker no longer drops outputs on half-close";
}

TEST_F(NodeInteropTest, NodeStreamsFunction) {
  const int n = 500;
  CreateStream("words", "text/plain");
  CreateStream("shouts", "text/plain");
  std::vector<std::string> words, want;
  for (int i = 0; i < n; ++i) {
    words.push_back(absl::StrCat("word", i));
    want.push_back(absl::StrCat("WORD", i));
  }
  Publish("words", words, "text/plain");
  const std::string fn = StartNodeFunction("upper.js");
  ChildProcess* p = StartProcessor({"--name", "node-upper", "--function", fn, "--input",
                                    In("words", "in"), "--output", In("shouts", "out"),
                                    "--window", "count=100,time=1s", "--half-close-idle",
                                    "100ms"});
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitForGroupOffset("words", "node-upper", n - 1)) << p->Log();
  std::vector<Received> out = ReadAtLeast("shouts", n, absl::Seconds(30));
  EXPECT_THAT(Payloads(out), ElementsAreArray(want));
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].event.data_content_type(), "text/plain");
  EXPECT_EQ(out[0].event.source(), "node-upper");
}

}  // namespace
}  // namespace runnel::testing
