#include "common/record_selector.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runnel {
namespace {

using ::com::github::bsideup::liiklus::LiiklusEvent;
using ::testing::HasSubstr;

// A record whose event has `data` and, optionally, attributes set by `edit`.
struct TestRecord {
  explicit TestRecord(std::string data, std::string key = "") : key(std::move(key)) {
    event.set_data(std::move(data));
  }
  RecordView view() const { return {.key = key, .event = &event, .broker_time = broker_time}; }

  std::string key;
  LiiklusEvent event;
  absl::Time broker_time = absl::InfinitePast();
};

absl::StatusOr<std::string> Key(std::string_view spec, const TestRecord& record) {
  absl::StatusOr<KeySelector> s = KeySelector::Parse(spec);
  if (!s.ok()) return s.status();
  return s->Select(record.view());
}

absl::StatusOr<absl::Time> Time(std::string_view spec, const TestRecord& record) {
  absl::StatusOr<TimeSelector> s = TimeSelector::Parse(spec);
  if (!s.ok()) return s.status();
  return s->Select(record.view());
}

absl::Time At(const std::string& rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << error;
  return t;
}

TEST(KeySelector, EmptyKeepsThePublishedKey) {
  absl::StatusOr<KeySelector> s = KeySelector::Parse("");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->empty());
  EXPECT_EQ(s->spec(), "");
  EXPECT_EQ(*s->Select(TestRecord("{}", "k1").view()), "k1");
  EXPECT_TRUE(KeySelector().empty());
}

TEST(KeySelector, JsonPointerSelectsAString) {
  TestRecord r(R"({"licenseId": "L-7", "a": {"b": ["x", "y"]}})");
  EXPECT_EQ(*Key("/licenseId", r), "L-7");
  EXPECT_EQ(*Key("/a/b/1", r), "y");
}

TEST(KeySelector, JsonPointerUnescapesTildeZeroAndOne) {
  TestRecord r(R"({"a/b": "slash", "m~n": "tilde", "~1": "literal"})");
  EXPECT_EQ(*Key("/a~1b", r), "slash");
  EXPECT_EQ(*Key("/m~0n", r), "tilde");
  EXPECT_EQ(*Key("/~01", r), "literal");  // "~01" is "~1", not "/".
  EXPECT_EQ(KeySelector::Parse("/a~1b")->spec(), "/a~1b");
}

TEST(KeySelector, ArgoShorthandIsAPointer) {
  TestRecord r(R"({"licenseId": "L-7", "a": {"b": "deep"}})");
  EXPECT_EQ(*Key(".licenseId", r), "L-7");
  EXPECT_EQ(*Key(".a.b", r), "deep");
  EXPECT_EQ(KeySelector::Parse(".a.b")->spec(), "/a/b");
}

TEST(KeySelector, ScalarsBecomeTheirJsonText) {
  TestRecord r(R"({"n": 42, "f": 1.5, "t": true, "z": null})");
  EXPECT_EQ(*Key("/n", r), "42");
  EXPECT_EQ(*Key("/f", r), "1.5");
  EXPECT_EQ(*Key("/t", r), "true");
  EXPECT_EQ(*Key("/z", r), "null");
}

TEST(KeySelector, RefusesObjectsAndArrays) {
  TestRecord r(R"({"o": {}, "a": []})");
  absl::StatusOr<std::string> k = Key("/o", r);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(k.status().message(), HasSubstr("'/o'"));
  EXPECT_THAT(k.status().message(), HasSubstr("an object"));
  EXPECT_THAT(Key("/a", r).status().message(), HasSubstr("an array"));
}

TEST(KeySelector, MissingFieldIsThatRecordsError) {
  TestRecord r(R"({"a": {"b": 1}, "list": [1]})");
  absl::StatusOr<std::string> k = Key("/a/c", r);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(k.status().message(), HasSubstr("key-by '/a/c'"));
  EXPECT_THAT(k.status().message(), HasSubstr("no member 'c'"));
  EXPECT_EQ(Key("/list/1", r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Key("/list/01", r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Key("/list/-", r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Key("/a/b/c", r).status().message(), HasSubstr("a number at '/a/b'"));
}

TEST(KeySelector, PayloadThatIsNotJsonIsThatRecordsError) {
  absl::StatusOr<std::string> k = Key("/a", TestRecord("notjson"));
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(k.status().message(), HasSubstr("not JSON"));
}

TEST(KeySelector, CloudEventAttributes) {
  TestRecord r("x");
  r.event.set_id("id-1");
  r.event.set_source("/src");
  r.event.set_type("t");
  r.event.set_time("2026-12-04T10:00:00Z");
  (*r.event.mutable_extensions())["subject"] = "subj";
  (*r.event.mutable_extensions())["tenant"] = "acme";
  (*r.event.mutable_extensions())["h0x0tenant0id"] = "t-9";
  EXPECT_EQ(*Key("ce:id", r), "id-1");
  EXPECT_EQ(*Key("ce:source", r), "/src");
  EXPECT_EQ(*Key("ce:type", r), "t");
  EXPECT_EQ(*Key("ce:time", r), "2026-12-04T10:00:00Z");
  EXPECT_EQ(*Key("ce:subject", r), "subj");
  EXPECT_EQ(*Key("ce:tenant", r), "acme");
  // A header name selects the extension it is stored under (common/header_names.h).
  EXPECT_EQ(*Key("ce:X-Tenant-Id", r), "t-9");
  EXPECT_EQ(KeySelector::Parse("ce:X-Tenant-Id")->spec(), "ce:h0x0tenant0id");
}

TEST(KeySelector, AbsentAttributeIsNotFound) {
  absl::StatusOr<std::string> k = Key("ce:tenant", TestRecord("x"));
  EXPECT_EQ(k.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(k.status().message(), HasSubstr("'tenant'"));
}

TEST(KeySelector, RefusesOtherSpecs) {
  for (const char* spec : {"licenseId", "ce:", ".", ".a..b", "/a~2", "/a~", "jq:.a"}) {
    absl::StatusOr<KeySelector> s = KeySelector::Parse(spec);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(s.status().message(), HasSubstr(absl::StrCat("'", spec, "'"))) << spec;
  }
  EXPECT_THAT(KeySelector::Parse("licenseId").status().message(), HasSubstr("JSON Pointer"));
}

TEST(TimeSelector, ParsesTheFourKinds) {
  EXPECT_TRUE(TimeSelector().arrival());
  EXPECT_TRUE(TimeSelector::Parse("")->arrival());
  EXPECT_EQ(TimeSelector::Parse("arrival")->spec(), "arrival");
  EXPECT_EQ(TimeSelector::Parse("cloudevent")->kind(), TimeSelector::Kind::kCloudEvent);
  EXPECT_EQ(TimeSelector::Parse("broker")->kind(), TimeSelector::Kind::kBroker);
  EXPECT_EQ(TimeSelector::Parse("/ts")->kind(), TimeSelector::Kind::kPointer);
  EXPECT_EQ(TimeSelector::Parse(".a.ts")->spec(), "/a/ts");
  absl::StatusOr<TimeSelector> bad = TimeSelector::Parse("event");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("'event'"));
  EXPECT_THAT(bad.status().message(), HasSubstr("cloudevent"));
}

TEST(TimeSelector, CloudEventTime) {
  TestRecord r("x");
  r.event.set_time("2026-12-04T10:00:00.250+01:00");
  EXPECT_EQ(*Time("cloudevent", r), At("2026-12-04T09:00:00.250Z"));
  absl::StatusOr<absl::Time> missing = Time("cloudevent", TestRecord("x"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("no CloudEvent time"));
  r.event.set_time("2026-12-04 10:00:00.000000 +0000 UTC");  // Go's time.String().
  EXPECT_THAT(Time("cloudevent", r).status().message(), HasSubstr("not an RFC 3339 time"));
}

TEST(TimeSelector, BrokerTime) {
  TestRecord r("x");
  r.broker_time = absl::FromUnixMillis(1'700'000'000'123);
  EXPECT_EQ(*Time("broker", r), absl::FromUnixMillis(1'700'000'000'123));
  EXPECT_EQ(Time("broker", TestRecord("x")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TimeSelector, PointerToStringOrEpochMillis) {
  TestRecord r(R"({"s": "2026-12-04T10:00:00Z", "ms": 1700000000123, "f": 1.5, "neg": -1000,
                   "b": true, "bad": "yesterday", "big": 18446744073709551615})");
  EXPECT_EQ(*Time("/s", r), At("2026-12-04T10:00:00Z"));
  EXPECT_EQ(*Time(".ms", r), absl::FromUnixMillis(1'700'000'000'123));
  EXPECT_EQ(*Time("/f", r), absl::UnixEpoch() + absl::Microseconds(1500));
  EXPECT_EQ(*Time("/neg", r), absl::FromUnixSeconds(-1));
  absl::StatusOr<absl::Time> b = Time("/b", r);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(b.status().message(), HasSubstr("event-time '/b'"));
  EXPECT_THAT(b.status().message(), HasSubstr("a boolean"));
  EXPECT_THAT(Time("/bad", r).status().message(), HasSubstr("'yesterday' is not an RFC 3339"));
  EXPECT_THAT(Time("/big", r).status().message(), HasSubstr("out of range"));
  EXPECT_THAT(Time("/none", r).status().message(), HasSubstr("no member 'none'"));
  EXPECT_THAT(Time("/s", TestRecord("<xml/>")).status().message(), HasSubstr("not JSON"));
}

TEST(ParseRfc3339, AcceptsFractionsAndOffsets) {
  EXPECT_EQ(*ParseRfc3339("2026-12-04T10:00:00Z"),
            absl::FromCivil(absl::CivilSecond(2026, 12, 4, 10, 0, 0), absl::UTCTimeZone()));
  EXPECT_EQ(*ParseRfc3339("2026-12-04T10:00:00.123456789Z") - *ParseRfc3339("2026-12-04T10:00:00Z"),
            absl::Nanoseconds(123456789));
  EXPECT_EQ(*ParseRfc3339("2026-12-04T12:30:00+02:30"), *ParseRfc3339("2026-12-04T10:00:00Z"));
  EXPECT_EQ(*ParseRfc3339("2026-12-04T05:00:00-05:00"), *ParseRfc3339("2026-12-04T10:00:00Z"));
  // RFC 3339 allows lower-case 't' and 'z', and a space for 'T'.
  EXPECT_EQ(*ParseRfc3339("2026-12-04t10:00:00z"), *ParseRfc3339("2026-12-04T10:00:00Z"));
  EXPECT_EQ(*ParseRfc3339("2026-12-04 10:00:00Z"), *ParseRfc3339("2026-12-04T10:00:00Z"));
}

TEST(ParseRfc3339, RefusesOtherForms) {
  for (const char* text :
       {"", "2026-12-04", "2026-12-04T10:00:00", "2026-12-04T10:00Z", "26-12-04T10:00:00Z",
        "2026-12-04T10:00:00Z ", " 2026-12-04T10:00:00Z", "2026-13-04T10:00:00Z",
        "2026-12-04T10:00:00+0100", "2026-12-04T10:00:00Zjunk", "1700000000"}) {
    absl::StatusOr<absl::Time> t = ParseRfc3339(text);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(FormatRfc3339Millis, MatchesAbslFormatTimeEverywhere) {
  for (int64_t millis : {int64_t{0}, int64_t{-1}, int64_t{-86'400'001}, int64_t{999},
                         int64_t{1'796'378'400'250}, int64_t{253'402'300'799'999}}) {
    const absl::Time t = absl::FromUnixMillis(millis) + absl::Microseconds(700);
    EXPECT_EQ(FormatRfc3339Millis(t),
              absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()))
        << millis;
  }
}

TEST(FormatRfc3339Millis, UtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339Millis(absl::FromUnixMillis(1'796'378'400'250)),
            "2026-12-04T10:00:00.250Z");
  EXPECT_EQ(FormatRfc3339Millis(*ParseRfc3339("2026-12-04T11:00:00.25+01:00")),
            "2026-12-04T10:00:00.250Z");
  EXPECT_EQ(*ParseRfc3339(FormatRfc3339Millis(absl::FromUnixMillis(5))), absl::FromUnixMillis(5));
}

TEST(KeySelector, KeyGroupsByThePublishedKey) {
  absl::StatusOr<KeySelector> s = KeySelector::Parse("key");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->empty()) << "windows per key";
  EXPECT_EQ(s->spec(), "key");
  EXPECT_EQ(*Key("key", TestRecord(R"({"k":"other"})", "card-7")), "card-7");
  EXPECT_EQ(*Key("key", TestRecord("not json", "")), "");
}

}  // namespace
}  // namespace runnel
