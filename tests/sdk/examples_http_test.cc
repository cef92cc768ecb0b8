// Drives example binaries over the HTTP fallback: riff's request-reply semantics and the
// streaming-http-adapter's status mapping.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/sdk/sdk_test_util.h"

namespace runnel::sdk::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class SquareHttpTest : public ::testing::Test {
 protected:
  HttpResponse Post(const std::map<std::string, std::string>& headers, const std::string& body) {
    HttpConnection c(fn_.http_port());
    return c.Request("POST", "/", headers, body);
  }
  FunctionProcess fn_{SQUARE_BINARY, {"--max-body-bytes=64"}};
};

TEST_F(SquareHttpTest, PostReturnsTheEncodedResult) {
  ASSERT_TRUE(fn_.ready());
  HttpResponse r = Post({{"Content-Type", "application/json"}, {"Accept", "application/json"}}, "12");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "144");
  EXPECT_EQ(r.headers["content-type"], "application/json");
  HttpResponse text = Post({{"Content-Type", "text/plain"}, {"Accept", "text/*;q=0.9, */*;q=0.1"}}, "3");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.body, "9");
  EXPECT_THAT(text.headers["content-type"], StartsWith("text/plain"));
}

TEST_F(SquareHttpTest, MissingContentTypeMeansOctetStreamWhichIsUnsupported) {
  HttpResponse r = Post({}, "12");
  EXPECT_EQ(r.status, 415);
  EXPECT_THAT(r.body, HasSubstr("Invoker: Unsupported Media Type"));
  EXPECT_EQ(r.headers["content-type"], "application/json");
}

TEST_F(SquareHttpTest, ErrorStatuses) {
  EXPECT_EQ(Post({{"Content-Type", "application/json"}}, "{").status, 400);
  EXPECT_EQ(Post({{"Content-Type", "application/json"}, {"Accept", "image/png"}}, "2").status, 406);
  EXPECT_EQ(Post({{"Content-Type", "application/json"}}, std::string(100, '1')).status, 413);
  // 1e200 squared overflows to infinity, which JSON cannot encode: a function-side failure.
  HttpResponse overflow = Post({{"Content-Type", "application/json"}}, "1e200");
  EXPECT_EQ(overflow.status, 500);
  EXPECT_THAT(overflow.body, StartsWith("{\"error\":"));
}

TEST_F(SquareHttpTest, MethodsAndPaths) {
  HttpConnection c(fn_.http_port());
  HttpResponse get = c.Request("GET", "/", {}, "");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers["allow"], "POST");
  EXPECT_EQ(c.Request("POST", "/other", {}, "").status, 404);
  EXPECT_EQ(c.Request("GET", "/healthz", {}, "").status, 200);
  EXPECT_EQ(c.Request("GET", "/readyz", {}, "").status, 200);
}

TEST_F(SquareHttpTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpConnection c(fn_.http_port());
  for (int i = 0; i < 50; ++i) {
    HttpResponse r = c.Request("POST", "/", {{"Content-Type", "application/json"}},
                               std::to_string(i));
    ASSERT_EQ(r.status, 200) << "request " << i;
    ASSERT_EQ(r.body, std::to_string(i * i));
  }
}

TEST(GreetHttp, HeadersReachTheFunctionAndComeBack) {
  FunctionProcess fn(GREET_BINARY);
  HttpConnection c(fn.http_port());
  HttpResponse r = c.Request("POST", "/",
                             {{"Content-Type", "application/json"}, {"X-Salutation", "Howdy"}},
                             R"({"name":"Bo"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"greeting":"Howdy, Bo!","length":10})");
  EXPECT_EQ(r.headers["x-greeted-by"], "runnel-greet");
}

TEST(UppercaseHttp, BlockingCapableFunctionsRunOnWorkers) {
  FunctionProcess fn(UPPERCASE_BINARY);
  HttpConnection c(fn.http_port());
  for (int i = 0; i < 20; ++i) {
    HttpResponse r = c.Request("POST", "/", {{"Content-Type", "text/plain"}}, "abc");
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body, "ABC");
  }
}

TEST(StreamingHttp, StreamingFunctionsAnswer501) {
  FunctionProcess fn(SPLITTER_BINARY);
  HttpConnection c(fn.http_port());
  HttpResponse r = c.Request("POST", "/", {{"Content-Type", "application/json"}}, "1");
  EXPECT_EQ(r.status, 501);
  EXPECT_THAT(r.body, HasSubstr("streaming function"));
}

}  // namespace
}  // namespace runnel::sdk::testing
