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

}  // namespace
}  // namespace runnel::sdk
