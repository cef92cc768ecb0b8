#include "runnel/sdk/codec.h"

#include <gtest/gtest.h>

namespace runnel::sdk {
namespace {

struct Point {
  int x = 0;
  int y = 0;
};
void to_json(nlohmann::json& j, const Point& p) { j = {{"x", p.x}, {"y", p.y}}; }
void from_json(const nlohmann::json& j, Point& p) {
  j.at("x").get_to(p.x);
  j.at("y").get_to(p.y);
}

Message In(std::string payload, std::string content_type) {
  return Message{.payload = std::move(payload), .content_type = std::move(content_type),
                 .headers = {}};
}

std::vector<MediaType> Accept(std::string_view text) { return *ParseAcceptList(text); }

bool HasPrefix(const absl::Status& s, std::string_view prefix) {
  return s.code() == absl::StatusCode::kInvalidArgument &&
         std::string(s.message()).starts_with(prefix);
}

TEST(Codec, DecodesNumbersFromJsonAndText) {
  EXPECT_EQ(*DecodeAs<double>(In("2.5", "application/json")), 2.5);
  EXPECT_EQ(*DecodeAs<double>(In(" 7\n", "text/plain; charset=utf-8")), 7);
}

// Decoding a JSON number has a fast path; it must agree with the full JSON parser everywhere.
TEST(Codec, JsonNumbersDecodeAsTheJsonParserReadsThem) {
  for (const char* text : {"0", "-0", "7", "-12", "2.5", "-0.125", "1e3", "1E-3", "6.02e+23",
                           "123456789012345678901234567890", "0.1", " 42 ", "\t\n3\r\n",
                           "1.7976931348623157e308", "4.9e-324"}) {
    absl::StatusOr<double> fast = DecodeAs<double>(In(text, "application/json"));
    ASSERT_TRUE(fast.ok()) << text << ": " << fast.status();
    EXPECT_EQ(*fast, nlohmann::json::parse(text).get<double>()) << text;
  }
  for (const char* text : {"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x10", "1 2", "NaN",
                           "Infinity", "1,", "--1", "1.5.5", "\"1\""}) {
    EXPECT_TRUE(HasPrefix(DecodeAs<double>(In(text, "application/json")).status(),
                          kBadInputPrefix))
        << "'" << text << "'";
  }
  EXPECT_TRUE(HasPrefix(DecodeAs<double>(In("1", "application/json; charset=utf-16")).status(),
                        kUnsupportedMediaTypePrefix));
}

TEST(Codec, IntegralNumbersEncodeWithoutFractionOrExponent) {
  EXPECT_EQ(EncodeAs(0.0, Accept("application/json"))->payload, "0");
  EXPECT_EQ(EncodeAs(-0.0, Accept("application/json"))->payload, "-0");
  EXPECT_EQ(EncodeAs(-16.0, Accept("application/json"))->payload, "-16");
  EXPECT_EQ(EncodeAs(999999999999999.0, Accept("application/json"))->payload, "999999999999999");
  EXPECT_EQ(EncodeAs(1e15, Accept("application/json"))->payload, "1e+15");
  EXPECT_EQ(EncodeAs(1.5, Accept("application/json"))->payload, "1.5");
}

TEST(Codec, NumberFromBadPayloadIsBadInput) {
  EXPECT_TRUE(HasPrefix(DecodeAs<double>(In("{", "application/json")).status(), kBadInputPrefix));
  EXPECT_TRUE(HasPrefix(DecodeAs<double>(In("\"x\"", "application/json")).status(),
                        kBadInputPrefix));
  EXPECT_TRUE(HasPrefix(DecodeAs<double>(In("seven", "text/plain")).status(), kBadInputPrefix));
}

TEST(Codec, NumberFromOctetStreamIsUnsupportedMediaType) {
  EXPECT_TRUE(HasPrefix(DecodeAs<double>(In("1", "")).status(), kUnsupportedMediaTypePrefix));
  EXPECT_TRUE(HasPrefix(DecodeAs<double>(In("1", "image/png")).status(),
                        kUnsupportedMediaTypePrefix));
}

TEST(Codec, TextHonoursCharset) {
  EXPECT_EQ(*DecodeAs<std::string>(In("caf\xe9", "text/plain; charset=ISO-8859-1")),
            "caf\xc3\xa9");
  EXPECT_TRUE(HasPrefix(DecodeAs<std::string>(In("caf\xe9", "text/plain; charset=utf-8")).status(),
                        kBadInputPrefix));
  EXPECT_TRUE(HasPrefix(DecodeAs<std::string>(In("x", "text/plain; charset=utf-16")).status(),
                        kUnsupportedMediaTypePrefix));
  EXPECT_EQ(*DecodeAs<std::string>(In("\"hi\"", "application/json")), "hi");
  EXPECT_EQ(*DecodeAs<std::string>(In("raw", "application/octet-stream")), "raw");
}

TEST(Codec, JsonStructsRoundTrip) {
  absl::StatusOr<Point> p = DecodeAs<Point>(In(R"({"x":1,"y":2})", "application/json"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->x, 1);
  absl::StatusOr<Message> m = EncodeAs(*p, Accept("application/*"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->payload, R"({"x":1,"y":2})");
  EXPECT_EQ(m->content_type, "application/json");
}

TEST(Codec, JsonStructWithMissingFieldIsBadInput) {
  EXPECT_TRUE(HasPrefix(DecodeAs<Point>(In(R"({"x":1})", "application/json")).status(),
                        kBadInputPrefix));
  EXPECT_TRUE(HasPrefix(DecodeAs<Point>(In(R"({"x":1})", "application/json; charset=utf-16"))
                            .status(),
                        kUnsupportedMediaTypePrefix));
}

TEST(Codec, EncodesNumbersInNegotiatedType) {
  absl::StatusOr<Message> json = EncodeAs(4.0, Accept("*/*"));
  EXPECT_EQ(json->payload, "4");
  EXPECT_EQ(json->content_type, "application/json");
  absl::StatusOr<Message> text = EncodeAs(0.5, Accept("text/plain"));
  EXPECT_EQ(text->payload, "0.5");
  EXPECT_EQ(text->content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(HasPrefix(EncodeAs(1.0, Accept("image/png")).status(), kNotAcceptablePrefix));
}

TEST(Codec, EncodesStringsAsJsonStringsWhenAsked) {
  EXPECT_EQ(EncodeAs(std::string("a\"b"), Accept("application/json"))->payload, R"("a\"b")");
}

TEST(Codec, MessagesKeepTheirTypeWhichMustBeAcceptable) {
  Message m = In("x", "text/csv");
  EXPECT_TRUE(EncodeAs(m, Accept("text/*")).ok());
  EXPECT_TRUE(HasPrefix(EncodeAs(m, Accept("application/json")).status(), kNotAcceptablePrefix));
}

TEST(Codec, WithHeadersCarriesHeaders) {
  Message in = In("3", "application/json");
  in.headers["k"] = "v";
  absl::StatusOr<WithHeaders<double>> d = DecodeAs<WithHeaders<double>>(in);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->value, 3);
  EXPECT_EQ(d->headers.at("k"), "v");
  absl::StatusOr<Message> out =
      EncodeAs(WithHeaders<double>{.value = 9, .headers = {{"h", "1"}}}, Accept("*/*"));
  EXPECT_EQ(out->headers.at("h"), "1");
  EXPECT_EQ(out->payload, "9");
}

TEST(Codec, BytesAcceptAnyInput) {
  EXPECT_EQ(DecodeAs<Bytes>(In("\x01\x02", "image/png"))->data, "\x01\x02");
}

}  // namespace
}  // namespace runnel::sdk
