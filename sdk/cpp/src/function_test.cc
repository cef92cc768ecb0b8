#include "runnel/sdk/function.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace runnel::sdk {
namespace {

std::vector<MediaType> Accept(std::string_view text) { return *ParseAcceptList(text); }

TEST(RequestReply, DecodesCallsAndEncodes) {
  Function f = Function::RequestReply([](double x) { return x * x; });
  ASSERT_TRUE(f.is_request_reply());
  absl::StatusOr<Message> out =
      f.request_reply()(Message{.payload = "3", .content_type = "application/json", .headers = {}},
                        Accept("text/plain"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->payload, "9");
  EXPECT_EQ(out->content_type, "text/plain; charset=utf-8");
}

TEST(RequestReply, StringViewArgumentsAndStatusOrResults) {
  Function f = Function::RequestReply([](std::string_view s) -> absl::StatusOr<std::string> {
    if (s.empty()) {
      return absl::FailedPreconditionError("empty");
    }
    return std::string(s) + "!";
  });
  EXPECT_EQ(f.request_reply()(Message{.payload = "a", .content_type = "text/plain", .headers = {}},
                              Accept("*/*"))
                ->payload,
            "a!");
  EXPECT_EQ(f.request_reply()(Message{.payload = "", .content_type = "text/plain", .headers = {}},
                              Accept("*/*"))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RequestReply, ExceptionsBecomeUnknownInvocationErrors) {
  Function f = Function::RequestReply([](double) -> double { throw std::runtime_error("boom"); });
  absl::Status s = f.request_reply()(
                        Message{.payload = "1", .content_type = "application/json", .headers = {}},
                        Accept("*/*"))
                       .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(std::string(s.message()), "Invoker: Unexpected Invocation Error: boom");
}

TEST(RequestReply, OutputInheritsTheInputKey) {
  Function f = Function::RequestReply([](double x) { return x * x; });
  absl::StatusOr<Message> out =
      f.request_reply()(Message{.payload = "3",
                                .content_type = "application/json",
                                .headers = {{"x-runnel-key", "k1"}, {"x-trace", "t"}}},
                        Accept("*/*"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->headers, (Headers{{"x-runnel-key", "k1"}}));  // The key only.
}

TEST(RequestReply, InputKeyHeaderIsMatchedInAnyCase) {
  Function f = Function::RequestReply([](double x) { return x; });
  absl::StatusOr<Message> out = f.request_reply()(
      Message{
          .payload = "3", .content_type = "application/json", .headers = {{"X-Runnel-Key", "k1"}}},
      Accept("*/*"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->headers, (Headers{{"x-runnel-key", "k1"}}));
}

TEST(RequestReply, AKeyTheFunctionSetsWins) {
  Function own = Function::RequestReply([](double x) {
    return WithHeaders<double>{x, {{"X-Runnel-Key", "mine"}}};
  });
  Function legacy = Function::RequestReply([](double x) {
    return WithHeaders<double>{x, {{"key", "mine"}}};
  });
  const Message in{
      .payload = "3", .content_type = "application/json", .headers = {{"x-runnel-key", "k1"}}};
  absl::StatusOr<Message> a = own.request_reply()(in, Accept("*/*"));
  absl::StatusOr<Message> b = legacy.request_reply()(in, Accept("*/*"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->headers, (Headers{{"X-Runnel-Key", "mine"}}));
  EXPECT_EQ(b->headers, (Headers{{"key", "mine"}}));
}

TEST(RequestReply, NoInputKeyNoOutputKey) {
  Function f = Function::RequestReply([](double x) { return x; });
  absl::StatusOr<Message> out = f.request_reply()(
      Message{.payload = "3", .content_type = "application/json", .headers = {}}, Accept("*/*"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->headers.empty());
}

}  // namespace
}  // namespace runnel::sdk
