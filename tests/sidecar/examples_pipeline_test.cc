// Every SDK example in a real pipeline: runnel-gateway (file log) -> runnel-processor -> the
// example over riff-rpc -> runnel-gateway, checking what arrives on the output streams. The
// examples' own protocol behaviour is tested in tests/sdk; here they must work as deployed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/sidecar/pipeline_fixture.h"

namespace runnel::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ExamplesPipeline : public PipelineTest {
 protected:
  // Publishes one event through the liiklus API with `extensions` named as a liiklus client
  // names them (the gateway normalises names CloudEvents refuses).
  void PublishWithExtensions(const std::string& stream, const std::string& payload,
                             const std::map<std::string, std::string>& extensions,
                             const std::string& content_type = "application/json") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    liiklus::PublishRequest request;
    request.set_topic(stream);
    liiklus::LiiklusEvent* e = request.mutable_liiklusevent();
    e->set_data_content_type(content_type);
    e->set_data(payload);
    e->mutable_extensions()->insert(extensions.begin(), extensions.end());
    liiklus::PublishReply reply;
    grpc::Status s = gateway_->liiklus().Publish(&context, request, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
};

// The issue's report: greet's output header x-greeted-by is not a valid extension name, and every
// record was dead-lettered. It now arrives, stored under the header-name rule's extension name.
TEST_F(ExamplesPipeline, Greet) {
  CreateStream("people");
  CreateStream("greetings");
  CreateStream("dlq", "*/*");
  PublishWithExtensions("people", R"({"name":"Ada"})", {});
  PublishWithExtensions("people", R"({"name":"Grace"})", {});
  const std::string fn = StartFunction(GREET_BINARY);
  ChildProcess* p =
      StartProcessor({"--name", "greeter", "--function", fn, "--input", In("people"), "--output",
                      In("greetings"), "--dead-letter", In("dlq"), "--window", "count=2"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("greetings", 2);
  ASSERT_EQ(out.size(), 2u) << p->Log();
  EXPECT_THAT(out[0].event.data(), HasSubstr(R"("greeting":"Hello, Ada!")"));
  EXPECT_THAT(out[1].event.data(), HasSubstr(R"("greeting":"Hello, Grace!")"));
  for (const Received& r : out) {
    EXPECT_EQ(r.event.extensions().at("h0x0greeted0by"), "runnel-greet");  // x-greeted-by
  }
  EXPECT_TRUE(WaitForGroupOffset("people", "greeter", 1));
  EXPECT_TRUE(ReadAtLeast("dlq", 1, absl::Milliseconds(500)).empty());
}

// TODO(lead): enable once runnel-processor names riff-rpc frame headers by HeaderName (the
// processor.cc rewrite, issue 12). Today it passes extension names through unchanged, so greet
// sees "h0x0salutation" instead of "x-salutation" and says "Hello". The HTTP transport already
// maps names (tests/sidecar-http: GreetOverHttpSeesAndSetsHeadersByTheirNames).
TEST_F(ExamplesPipeline, GreetSeesItsInputHeaderByItsHeaderName) {
  CreateStream("people");
  CreateStream("greetings");
  PublishWithExtensions("people", R"({"name":"Ada"})", {{"x-salutation", "Hi"}});
  const std::string fn = StartFunction(GREET_BINARY);
  ChildProcess* p = StartProcessor({"--name", "greeter", "--function", fn, "--input", In("people"),
                                    "--output", In("greetings"), "--window", "count=1"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("greetings", 1);
  ASSERT_EQ(out.size(), 1u) << p->Log();
  EXPECT_THAT(out[0].event.data(), HasSubstr(R"("greeting":"Hi, Ada!")"));
}

TEST_F(ExamplesPipeline, Square) {
  CreateStream("numbers");
  CreateStream("squares");
  Publish("numbers", Numbers(1, 5));
  const std::string fn = StartFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function", fn, "--input", In("numbers"),
                                    "--output", In("squares"), "--window", "count=5"});
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(Payloads(ReadAtLeast("squares", 5)), ElementsAre("1", "4", "9", "16", "25"))
      << p->Log();
}

TEST_F(ExamplesPipeline, Uppercase) {
  CreateStream("words", "text/plain");
  CreateStream("shouts", "text/plain");
  Publish("words", {"hello", "riff 0.5"}, "text/plain");
  const std::string fn = StartFunction(UPPERCASE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "upper", "--function", fn, "--input", In("words"),
                                    "--output", In("shouts"), "--window", "count=2"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("shouts", 2);
  EXPECT_THAT(Payloads(out), ElementsAre("HELLO", "RIFF 0.5")) << p->Log();
  ASSERT_FALSE(out.empty());
  EXPECT_THAT(out[0].event.data_content_type(), HasSubstr("text/plain"));
}

// Splitter keeps each record's headers on its outputs: an extension escaped by the header-name
// rule comes back under the same name.
TEST_F(ExamplesPipeline, Splitter) {
  CreateStream("amounts");
  CreateStream("big");
  CreateStream("small");
  for (const char* amount : {"3", "8"}) {
    PublishWithExtensions("amounts", amount, {{"x-trace-id", absl::StrCat("t", amount)}});
  }
  const std::string fn = StartFunction(SPLITTER_BINARY);
  ChildProcess* p =
      StartProcessor({"--name", "split", "--function", fn, "--input", In("amounts"), "--output",
                      In("big"), "--output", In("small"), "--window", "count=2"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> big = ReadAtLeast("big", 1);
  std::vector<Received> small = ReadAtLeast("small", 1);
  ASSERT_THAT(Payloads(big), ElementsAre("8")) << p->Log();
  ASSERT_THAT(Payloads(small), ElementsAre("3")) << p->Log();
  EXPECT_EQ(big[0].event.extensions().at("h0x0trace0id"), "t8");
  EXPECT_EQ(small[0].event.extensions().at("h0x0trace0id"), "t3");
}

TEST_F(ExamplesPipeline, Joiner) {
  CreateStream("orders");
  CreateStream("payments");
  CreateStream("joined");
  Publish("orders", {R"({"key":"a","item":"book"})"});
  Publish("payments", {R"({"key":"a","paid":10})"});
  const std::string fn = StartFunction(JOINER_BINARY);
  ChildProcess* p = StartProcessor({"--name", "join", "--function", fn, "--input",
                                    In("orders", "orders"), "--input", In("payments", "payments"),
                                    "--output", In("joined"), "--window", "count=2,time=2s"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("joined", 1);
  ASSERT_EQ(out.size(), 1u) << p->Log();
  EXPECT_THAT(out[0].event.data(), HasSubstr(R"("left":{"item":"book","key":"a"})"));
  EXPECT_THAT(out[0].event.data(), HasSubstr(R"("right":{"key":"a","paid":10})"));
}

TEST_F(ExamplesPipeline, TimeAverager) {
  CreateStream("readings");
  CreateStream("averages");
  Publish("readings", Numbers(1, 6));
  const std::string fn =
      StartFunction(TIME_AVERAGER_BINARY, {{"WINDOW_MS", "600000"}, {"WINDOW_COUNT", "1000000"}});
  ChildProcess* p = StartProcessor({"--name", "avg", "--function", fn, "--input", In("readings"),
                                    "--output", In("averages"), "--window", "count=3"});
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(Payloads(ReadAtLeast("averages", 2)), ElementsAre("2", "5")) << p->Log();
}

}  // namespace
}  // namespace runnel::testing
