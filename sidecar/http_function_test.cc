#include "sidecar/http_function.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/header_names.h"

namespace runnel::sidecar {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

HttpFunctionOptions Url(const std::string& url) {
  HttpFunctionOptions o;
  absl::Status s = ParseFunctionUrl(url, &o);
  EXPECT_TRUE(s.ok()) << s;
  return o;
}

std::string UrlError(const std::string& url) {
  HttpFunctionOptions o;
  absl::Status s = ParseFunctionUrl(url, &o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << url;
  return std::string(s.message());
}

TEST(ParseFunctionUrl, HostPortAndPath) {
  HttpFunctionOptions o = Url("http://fn.default.svc:8080/square?x=1");
  EXPECT_EQ(o.host, "fn.default.svc");
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(o.target, "/square?x=1");
  EXPECT_EQ(o.url, "http://fn.default.svc:8080/square?x=1");
}

TEST(ParseFunctionUrl, DefaultsPortAndPath) {
  HttpFunctionOptions o = Url("HTTP://localhost");
  EXPECT_EQ(o.host, "localhost");
  EXPECT_EQ(o.port, 80);
  EXPECT_EQ(o.target, "/");
  EXPECT_EQ(Url("http://h:81#frag").target, "/");
}

TEST(ParseFunctionUrl, BracketedIpv6) {
  HttpFunctionOptions o = Url("http://[::1]:9000/");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 9000);
}

TEST(ParseFunctionUrl, RefusesWhatItCannotCall) {
  EXPECT_THAT(UrlError("https://fn:8443/"), HasSubstr("https is not supported"));
  EXPECT_THAT(UrlError("fn:8080"), HasSubstr("no http:// scheme"));
  EXPECT_THAT(UrlError("ftp://fn/"), HasSubstr("not http"));
  EXPECT_THAT(UrlError("http://:8080/"), HasSubstr("no host"));
  EXPECT_THAT(UrlError("http://fn:0/"), HasSubstr("port '0'"));
  EXPECT_THAT(UrlError("http://fn:99999/"), HasSubstr("port '99999'"));
  EXPECT_THAT(UrlError("http://fn:/"), HasSubstr("port ''"));
  EXPECT_THAT(UrlError("http://user@fn/"), HasSubstr("user info"));
}

streaming::InputFrame Frame(std::string payload, std::string content_type,
                            std::map<std::string, std::string> headers) {
  streaming::InputFrame f;
  f.set_payload(std::move(payload));
  f.set_contenttype(std::move(content_type));
  f.mutable_headers()->insert(headers.begin(), headers.end());
  return f;
}

TEST(RequestForFrame, BodyTypesAndHeaders) {
  HttpFunctionRequest r = RequestForFrame(
      Frame("7", "application/json", {{"traceparent", "00-ab"}, {"tenant", "a"}}),
      "text/plain");
  EXPECT_EQ(r.body, "7");
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.accept, "text/plain");
  EXPECT_THAT(r.headers, ElementsAre(Pair("tenant", "a"), Pair("traceparent", "00-ab")));
}

TEST(RequestForFrame, NeverClobbersContentTypeAcceptOrFraming) {
  HttpFunctionRequest r = RequestForFrame(
      Frame("x", "", {{"Content-Type", "text/evil"}, {"accept", "x/y"}, {"host", "h"},
                      {"content-length", "9"}, {"transfer-encoding", "chunked"},
                      {"connection", "close"}, {"proxy-authorization", "p"}, {"ok", "1"}}),
      "");
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(r.accept, "*/*");
  EXPECT_THAT(r.headers, ElementsAre(Pair("ok", "1")));
}

// Frame headers are header names (the processor maps extension names once, for every
// transport: record_mapping_test.cc); they travel as they are.
TEST(RequestForFrame, FrameHeadersTravelAsTheyAre) {
  HttpFunctionRequest r = RequestForFrame(
      Frame("x", "text/plain", {{"x-salutation", "Hi"}, {"user_agent", "ua"}, {"greeting", "g"}}),
      "text/plain");
  EXPECT_THAT(r.headers, ElementsAre(Pair("greeting", "g"), Pair("user_agent", "ua"),
                                     Pair("x-salutation", "Hi")));
}

TEST(RequestForFrame, TheInputKeyIsXRunnelKey) {
  HttpFunctionRequest r = RequestForFrame(
      Frame("x", "text/plain", {{kKeyHeader, "k1"}, {"tenant", "a"}}), "text/plain");
  EXPECT_THAT(r.headers, ElementsAre(Pair("X-Runnel-Key", "k1"), Pair("tenant", "a")));
}

TEST(RequestForFrame, DropsHeadersThatCannotTravel) {
  HttpFunctionRequest r = RequestForFrame(
      Frame("x", "text/plain", {{"a", "line\r\nInjected: 1"}, {"bad name", "v"}, {"b", "fine"}}),
      "text/plain");
  EXPECT_THAT(r.headers, ElementsAre(Pair("b", "fine")));
}

HttpFunctionResponse Response(int status, std::string content_type = "",
                              HttpHeaders headers = {}, std::string body = "") {
  return {.status = status,
          .content_type = std::move(content_type),
          .headers = std::move(headers),
          .body = std::move(body)};
}

TEST(ClassifyResponse, OkBecomesTheOutputRecord) {
  HttpVerdict v = ClassifyResponse(
      Response(200, "application/json",
               {{"X-Trace-Id", "t1"}, {"Date", "Mon"}, {"Server", "py"}, {"Content-Length", "2"},
                {"Connection", "keep-alive"}, {"X-Runnel-Key", "k7"}, {"Id", "shadow"}},
               "49"),
      "http://fn/");
  ASSERT_EQ(v.kind, HttpVerdict::Kind::kOutput);
  EXPECT_EQ(v.output.payload(), "49");
  EXPECT_EQ(v.output.contenttype(), "application/json");
  EXPECT_EQ(v.output.resultindex(), 0);
  EXPECT_THAT(v.output.headers(),
              UnorderedElementsAre(Pair("x-trace-id", "t1"), Pair("x-runnel-key", "k7")));
}

// Response headers come back as (lower-case) header names, and travel on as they are.
TEST(ClassifyResponse, ResponseHeadersComeBackAsHeaderNames) {
  HttpVerdict v = ClassifyResponse(
      Response(200, "text/plain",
               {{"X-Greeted-By", "runnel-greet"}, {"Greeting", "g"}, {"h0st", "h"}}, "hi"),
      "http://fn/");
  ASSERT_EQ(v.kind, HttpVerdict::Kind::kOutput);
  EXPECT_THAT(v.output.headers(),
              UnorderedElementsAre(Pair("x-greeted-by", "runnel-greet"), Pair("greeting", "g"),
                                   Pair("h0st", "h")));
  streaming::InputFrame next;
  next.mutable_headers()->insert(v.output.headers().begin(), v.output.headers().end());
  EXPECT_THAT(
      RequestForFrame(std::move(next), "").headers,
      ElementsAre(Pair("greeting", "g"), Pair("h0st", "h"), Pair("x-greeted-by", "runnel-greet")));
}

TEST(ClassifyResponse, MissingContentTypeIsOctetStream) {
  HttpVerdict v = ClassifyResponse(Response(201, "", {}, "raw"), "http://fn/");
  ASSERT_EQ(v.kind, HttpVerdict::Kind::kOutput);
  EXPECT_EQ(v.output.contenttype(), "application/octet-stream");
}

TEST(ClassifyResponse, NoContentMeansNoOutput) {
  EXPECT_EQ(ClassifyResponse(Response(204), "http://fn/").kind, HttpVerdict::Kind::kNoOutput);
}

TEST(ClassifyResponse, ServerErrorsAndTryAgainLaterAreRetried) {
  for (int code : {500, 502, 503, 504, 408, 429}) {
    HttpVerdict v = ClassifyResponse(Response(code, "text/plain", {}, "busy\n"), "http://fn/");
    EXPECT_EQ(v.kind, HttpVerdict::Kind::kRetry) << code;
    EXPECT_THAT(std::string(v.status.message()), HasSubstr("from http://fn/: busy")) << code;
    EXPECT_EQ(v.detail["runnelhttpstatus"], std::to_string(code));
  }
  EXPECT_EQ(ClassifyResponse(Response(503), "u").status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ClassifyResponse(Response(500), "u").status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ClassifyResponse(Response(429), "u").status.code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ClassifyResponse, ClientErrorsAreRefusedWithStatusAndBody) {
  HttpVerdict v = ClassifyResponse(
      Response(415, "application/json", {}, R"({"error":"cannot read text/csv"})"), "http://fn/");
  ASSERT_EQ(v.kind, HttpVerdict::Kind::kReject);
  EXPECT_EQ(v.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status.message()),
              StartsWith("Invoker: Unsupported Media Type: HTTP 415 from http://fn/"));
  EXPECT_EQ(v.detail["runnelhttpstatus"], "415");
  EXPECT_EQ(v.detail["runnelhttpbody"], R"({"error":"cannot read text/csv"})");
}

TEST(ClassifyResponse, RiffPrefixesForTheAdapterStatuses) {
  EXPECT_THAT(std::string(ClassifyResponse(Response(406), "u").status.message()),
              StartsWith("Invoker: Not Acceptable: HTTP 406"));
  EXPECT_THAT(std::string(ClassifyResponse(Response(400), "u").status.message()),
              StartsWith("Invoker: Bad Input Signal: HTTP 400"));
  EXPECT_EQ(ClassifyResponse(Response(404), "u").status.code(), absl::StatusCode::kNotFound);
}

TEST(ClassifyResponse, PermanentServerErrorsAndRedirectsAreNotRetried) {
  EXPECT_EQ(ClassifyResponse(Response(501), "u").kind, HttpVerdict::Kind::kReject);
  EXPECT_EQ(ClassifyResponse(Response(505), "u").kind, HttpVerdict::Kind::kReject);
  HttpVerdict v = ClassifyResponse(Response(302), "u");
  EXPECT_EQ(v.kind, HttpVerdict::Kind::kReject);
  EXPECT_THAT(std::string(v.status.message()), HasSubstr("redirects are not followed"));
}

TEST(ClassifyResponse, BodyExcerptIsBoundedUtf8) {
  HttpVerdict v = ClassifyResponse(Response(400, "", {}, std::string(10000, 'x') + "\xff"), "u");
  EXPECT_EQ(v.detail["runnelhttpbody"].size(), 4096u);
  EXPECT_LT(v.status.message().size(), 400u);
}

TEST(Utf8Excerpt, KeepsValidTextAndReplacesInvalidBytes) {
  EXPECT_EQ(Utf8Excerpt("héllo", 100), "héllo");
  EXPECT_EQ(Utf8Excerpt("a\xff" "b", 100), "a?b");
  EXPECT_EQ(Utf8Excerpt("\xc0\xaf", 100), "??");        // Overlong '/'.
  EXPECT_EQ(Utf8Excerpt("\xed\xa0\x80", 100), "???");  // A surrogate.
  EXPECT_EQ(Utf8Excerpt("ab\xe2\x82", 100), "ab??");   // Truncated sequence.
}

TEST(Utf8Excerpt, NeverCutsACharacter) {
  EXPECT_EQ(Utf8Excerpt("aé", 2), "a");
  EXPECT_EQ(Utf8Excerpt("aé", 3), "aé");
  EXPECT_EQ(Utf8Excerpt("abc", 0), "");
}

TEST(ReorderBuffer, HandsOutInRequestOrder) {
  ReorderBuffer<std::string> b;
  EXPECT_EQ(b.Add(), 0u);
  EXPECT_EQ(b.Add(), 1u);
  EXPECT_EQ(b.Add(), 2u);
  b.Complete(2, "c");
  EXPECT_THAT(b.TakeReady(), IsEmpty());
  b.Complete(1, "b");
  EXPECT_THAT(b.TakeReady(), IsEmpty());
  b.Complete(0, "a");
  EXPECT_THAT(b.TakeReady(), ElementsAre("a", "b", "c"));
  EXPECT_EQ(b.pending(), 0u);
}

TEST(ReorderBuffer, IndicesKeepCountingAfterTakes) {
  ReorderBuffer<int> b;
  b.Complete(b.Add(), 10);
  EXPECT_THAT(b.TakeReady(), ElementsAre(10));
  EXPECT_EQ(b.Add(), 1u);
  EXPECT_EQ(b.Add(), 2u);
  b.Complete(1, 11);
  EXPECT_THAT(b.TakeReady(), ElementsAre(11));
  EXPECT_EQ(b.pending(), 1u);
}

}  // namespace
}  // namespace runnel::sidecar
