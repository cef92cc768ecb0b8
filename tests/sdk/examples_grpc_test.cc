// Drives each example binary over riff-rpc with a plain gRPC client: request-reply and streaming
// models, multiple inputs and outputs, headers, protocol violations and bad input.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/sdk/sdk_test_util.h"

namespace runnel::sdk::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> Payloads(const InvokeResult& r, int index = -1) {
  std::vector<std::string> out;
  for (const auto& f : r.outputs) {
    if (index < 0 || f.resultindex() == index) {
      out.push_back(f.payload());
    }
  }
  return out;
}

Frame Json(std::string payload, int index = 0) {
  return Frame{.index = index, .payload = std::move(payload),
               .content_type = "application/json", .headers = {}};
}

class SquareTest : public ::testing::Test {
 protected:
  FunctionProcess fn_{SQUARE_BINARY};
};

TEST_F(SquareTest, SquaresEachInputInOrder) {
  ASSERT_TRUE(fn_.ready());
  InvokeResult r = Invoke(fn_.grpc_target(), {"application/json"}, {"in"}, {"out"},
                          {Json("1"), Json("2.5"), Json("-3")});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_THAT(Payloads(r), ::testing::ElementsAre("1", "6.25", "9"));
  EXPECT_EQ(r.outputs[0].contenttype(), "application/json");
}

TEST_F(SquareTest, EncodesInTheFirstAcceptedType) {
  InvokeResult r = Invoke(fn_.grpc_target(), {"text/plain, application/json"}, {"in"}, {"out"},
                          {Frame{.index = 0, .payload = "4", .content_type = "text/plain",
                                 .headers = {}}});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].payload(), "16");
  EXPECT_THAT(r.outputs[0].contenttype(), StartsWith("text/plain"));
}

TEST_F(SquareTest, UnsupportedInputTypeFailsWithRiffPrefix) {
  InvokeResult r = Invoke(fn_.grpc_target(), {"application/json"}, {"in"}, {"out"},
                          {Frame{.index = 0, .payload = "4", .content_type = "image/png",
                                 .headers = {}}});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), StartsWith("Invoker: Unsupported Media Type"));
}

TEST_F(SquareTest, UndecodablePayloadFailsAsBadInput) {
  InvokeResult r = Invoke(fn_.grpc_target(), {"application/json"}, {"in"}, {"out"},
                          {Json("2"), Json("{not json")});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), StartsWith("Invoker: Bad Input Signal"));
}

TEST_F(SquareTest, UnacceptableOutputFailsAsNotAcceptable) {
  InvokeResult r =
      Invoke(fn_.grpc_target(), {"image/png"}, {"in"}, {"out"}, {Json("2")});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), StartsWith("Invoker: Not Acceptable"));
}

TEST_F(SquareTest, DataBeforeStartIsAProtocolViolation) {
  InvokeResult r = Invoke(fn_.grpc_target(), {DataSignal(Json("1"))});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), StartsWith("Invoker: Protocol Violation"));
  EXPECT_TRUE(r.outputs.empty());
}

TEST_F(SquareTest, SecondStartIsAProtocolViolation) {
  InvokeResult r = Invoke(fn_.grpc_target(), {StartSignal({"*/*"}, {"in"}, {"out"}),
                                              StartSignal({"*/*"}, {"in"}, {"out"})});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), HasSubstr("already been received"));
}

TEST_F(SquareTest, WrongArityIsRejected) {
  InvokeResult r = Invoke(fn_.grpc_target(), {"*/*", "*/*"}, {"in"}, {"a", "b"}, {});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), HasSubstr("1 output(s)"));
  InvokeResult bad_index = Invoke(fn_.grpc_target(), {"*/*"}, {"in"}, {"out"}, {Json("1", 3)});
  EXPECT_EQ(bad_index.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad_index.status.error_message(), HasSubstr("invalid input index 3"));
}

TEST_F(SquareTest, NoOutputIsLostWhenTheCallerHalfClosesRightAfterItsLastWrite) {
  constexpr int kFrames = 100000;
  std::vector<Frame> frames;
  frames.reserve(kFrames);
  for (int i = 0; i < kFrames; ++i) {
    frames.push_back(Json(std::to_string(i % 1000)));
  }
  InvokeResult r = Invoke(fn_.grpc_target(), {"application/json"}, {"in"}, {"out"}, frames);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.outputs.size(), static_cast<size_t>(kFrames));
  for (int i = 0; i < kFrames; i += 997) {
    ASSERT_EQ(r.outputs[i].payload(), std::to_string((i % 1000) * (i % 1000)));
  }
}

TEST_F(SquareTest, ConcurrentInvocationsDoNotInterfere) {
  constexpr int kCalls = 8;
  std::vector<InvokeResult> results(kCalls);
  std::vector<std::thread> threads;
  for (int c = 0; c < kCalls; ++c) {
    threads.emplace_back([&, c] {
      std::vector<Frame> frames;
      for (int i = 0; i < 200; ++i) {
        frames.push_back(Json(std::to_string(c * 1000 + i)));
      }
      results[c] = Invoke(fn_.grpc_target(), {"application/json"}, {"in"}, {"out"}, frames);
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  for (int c = 0; c < kCalls; ++c) {
    ASSERT_TRUE(results[c].status.ok());
    ASSERT_EQ(results[c].outputs.size(), 200u);
    for (int i = 0; i < 200; ++i) {
      double v = c * 1000 + i;
      ASSERT_EQ(results[c].outputs[i].payload(), std::to_string(static_cast<long long>(v * v)));
    }
  }
}

TEST(SquareShutdown, SigtermFinishesInFlightInvocationsThenExitsZero) {
  FunctionProcess fn(SQUARE_BINARY);
  ASSERT_TRUE(fn.ready());
  auto channel = grpc::CreateChannel(fn.grpc_target(), grpc::InsecureChannelCredentials());
  auto stub = streaming::Riff::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->Invoke(&ctx);
  ASSERT_TRUE(stream->Write(StartSignal({"application/json"}, {"in"}, {"out"})));
  ASSERT_TRUE(stream->Write(DataSignal(Json("3"))));
  streaming::OutputSignal out;
  ASSERT_TRUE(stream->Read(&out));  // The invocation is in flight.
  EXPECT_EQ(out.data().payload(), "9");
  std::thread terminator([&] { EXPECT_EQ(fn.Terminate(), 0); });
  // The in-flight invocation keeps working during the grace period.
  ASSERT_TRUE(stream->Write(DataSignal(Json("5"))));
  ASSERT_TRUE(stream->Read(&out));
  EXPECT_EQ(out.data().payload(), "25");
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&out));
  EXPECT_TRUE(stream->Finish().ok());
  terminator.join();
}

TEST(Uppercase, DecodesCharsets) {
  FunctionProcess fn(UPPERCASE_BINARY);
  InvokeResult r = Invoke(
      fn.grpc_target(), {"text/plain"}, {"in"}, {"out"},
      {Frame{.index = 0, .payload = "riff", .content_type = "text/plain", .headers = {}},
       Frame{.index = 0, .payload = "caf\xe9", .content_type = "text/plain; charset=iso-8859-1",
             .headers = {}}});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_THAT(Payloads(r), ::testing::ElementsAre("RIFF", "CAF\xc3\xa9"));
}

TEST(Greet, JsonStructsAndHeadersBothWays) {
  FunctionProcess fn(GREET_BINARY);
  InvokeResult r = Invoke(fn.grpc_target(), {"application/json"}, {"in"}, {"out"},
                          {Frame{.index = 0, .payload = R"({"name":"Ada"})",
                                 .content_type = "application/json",
                                 .headers = {{"x-salutation", "Hi"}}}});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].payload(), R"({"greeting":"Hi, Ada!","length":8})");
  EXPECT_EQ(r.outputs[0].headers().at("x-greeted-by"), "runnel-greet");
}

TEST(Greet, MissingFieldIsBadInput) {
  FunctionProcess fn(GREET_BINARY);
  InvokeResult r = Invoke(fn.grpc_target(), {"application/json"}, {"in"}, {"out"},
                          {Json(R"({"nom":"Ada"})")});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), StartsWith("Invoker: Bad Input Signal"));
}

TEST(TimeAverager, AveragesWindowsAndFlushesAtEndOfInput) {
  FunctionProcess fn(TIME_AVERAGER_BINARY, {},
                     {{"WINDOW_COUNT", "2"}, {"WINDOW_MS", "3600000"}});
  InvokeResult r = Invoke(fn.grpc_target(), {"application/json"}, {"numbers"}, {"averages"},
                          {Json("1"), Json("3"), Json("5"), Json("6"), Json("10")});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_THAT(Payloads(r), ::testing::ElementsAre("2", "5.5", "10"));
}

TEST(TimeAverager, StreamingFunctionsRejectWrongArity) {
  FunctionProcess fn(TIME_AVERAGER_BINARY);
  InvokeResult r = Invoke(fn.grpc_target(), {"*/*"}, {"a", "b"}, {"out"}, {});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), HasSubstr("function has 1 input(s)"));
}

TEST(Splitter, RoutesToTwoOutputsKeepingHeaders) {
  FunctionProcess fn(SPLITTER_BINARY);
  std::vector<Frame> frames;
  for (const char* v : {"1", "7", "3", "9", "5"}) {
    frames.push_back(Frame{.index = 0, .payload = v, .content_type = "application/json",
                           .headers = {{"order", v}}});
  }
  InvokeResult r = Invoke(fn.grpc_target(), {"application/json", "text/plain"}, {"amounts"},
                          {"big", "small"}, frames);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_THAT(Payloads(r, 0), ::testing::ElementsAre("7", "9"));
  EXPECT_THAT(Payloads(r, 1), ::testing::ElementsAre("1", "3", "5"));
  for (const auto& f : r.outputs) {
    EXPECT_EQ(f.headers().at("order"), f.payload());
    EXPECT_EQ(f.contenttype().rfind(f.resultindex() == 0 ? "application/json" : "text/plain", 0),
              0u);
  }
}

TEST(Joiner, JoinsTwoInputsByKey) {
  FunctionProcess fn(JOINER_BINARY);
  InvokeResult r = Invoke(fn.grpc_target(), {"application/json"}, {"orders", "customers"},
                          {"joined"},
                          {Json(R"({"key":"a","item":"pen"})", 0),
                           Json(R"({"key":"b","name":"Bo"})", 1),
                           Json(R"({"key":"a","name":"Al"})", 1),
                           Json(R"({"key":"c","item":"ink"})", 0)});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_THAT(Payloads(r), ::testing::ElementsAre(
                               R"({"key":"a","left":{"item":"pen","key":"a"},)"
                               R"("right":{"key":"a","name":"Al"}})"));
}

TEST(Joiner, UnevenFeedDoesNotStall) {
  // 5,000 left messages before the single right one: far more than the input buffer, so the
  // SDK must keep reading while the function waits in NextAny (no deadlock).
  FunctionProcess fn(JOINER_BINARY);
  std::vector<Frame> frames;
  for (int i = 0; i < 5000; ++i) {
    frames.push_back(Json(R"({"key":"k)" + std::to_string(i) + R"("})", 0));
  }
  frames.push_back(Json(R"({"key":"k4999","x":1})", 1));
  InvokeResult r =
      Invoke(fn.grpc_target(), {"application/json"}, {"l", "r"}, {"j"}, frames);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.outputs.size(), 1u);
}

TEST(Joiner, NonObjectInputFailsTheInvocationNotTheProcess) {
  FunctionProcess fn(JOINER_BINARY);
  InvokeResult bad =
      Invoke(fn.grpc_target(), {"application/json"}, {"l", "r"}, {"j"}, {Json("42", 1)});
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  InvokeResult good = Invoke(fn.grpc_target(), {"application/json"}, {"l", "r"}, {"j"},
                             {Json(R"({"key":"a"})", 0), Json(R"({"key":"a"})", 1)});
  EXPECT_TRUE(good.status.ok());
  EXPECT_EQ(good.outputs.size(), 1u);
}

}  // namespace
}  // namespace runnel::sdk::testing
