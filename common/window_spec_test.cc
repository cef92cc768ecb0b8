#include "common/window_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace runnel {
namespace {

using ::testing::HasSubstr;

WindowSpec Spec(const std::string& s) {
  auto spec = ParseWindowSpec(s);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

TEST(WindowSpecParser, AcceptsEveryKind) {
  WindowSpec both = Spec("count=1000,time=1s");
  EXPECT_EQ(both.kind, WindowSpec::Kind::kTumbling);
  EXPECT_EQ(both.count, 1000);
  EXPECT_EQ(both.time, absl::Seconds(1));
  EXPECT_EQ(Spec("tumbling:time=250ms").time, absl::Milliseconds(250));
  WindowSpec sliding = Spec("sliding:size=10s,slide=2s");
  EXPECT_EQ(sliding.kind, WindowSpec::Kind::kSliding);
  EXPECT_EQ(sliding.size, absl::Seconds(10));
  EXPECT_EQ(sliding.slide, absl::Seconds(2));
  WindowSpec session = Spec("session:gap=5s,count=10");
  EXPECT_EQ(session.kind, WindowSpec::Kind::kSession);
  EXPECT_EQ(session.gap, absl::Seconds(5));
  EXPECT_EQ(session.count, 10);
  EXPECT_TRUE(ParseWindowSpec(kDefaultWindowSpec).ok());
}

// charts/runnel/ci-values.yaml says "tumbling:1s"; the sidecar used to refuse it and crash-loop.
TEST(WindowSpecParser, ABareDurationIsTheKindsDuration) {
  EXPECT_EQ(FormatWindowSpec(Spec("tumbling:1s")), "time=1s");
  EXPECT_EQ(FormatWindowSpec(Spec("500ms")), "time=500ms");
  EXPECT_EQ(FormatWindowSpec(Spec("tumbling:1s,count=10")), "count=10,time=1s");
  EXPECT_EQ(FormatWindowSpec(Spec("session:5s")), "session:gap=5s");
  EXPECT_EQ(FormatWindowSpec(Spec("session:5s,count=3")), "session:gap=5s,count=3");
}

TEST(WindowSpecParser, FormatRoundTrips) {
  for (const char* s : {"count=1000,time=1s", "count=1", "time=500ms", "sliding:size=10s,slide=2s",
                        "session:gap=5s", "session:gap=1m,count=3", "tumbling:1s", "session:2m"}) {
    EXPECT_EQ(FormatWindowSpec(Spec(FormatWindowSpec(Spec(s)))), FormatWindowSpec(Spec(s))) << s;
  }
  EXPECT_EQ(FormatWindowSpec(Spec("count=1000,time=1s")), "count=1000,time=1s");
}

TEST(WindowSpecParser, RejectsBadSpecsNamingThePartAndTheSpec) {
  struct Case {
    const char* spec;
    const char* message;
  } cases[] = {
      {"", "empty"},
      {"count=0", "count='0' is not a positive integer"},
      {"count=abc", "count='abc'"},
      {"time=fast", "time='fast' is not a positive duration"},
      {"time=-1s", "time='-1s'"},
      {"count=5,count=6", "'count' given twice"},
      {"size=1s", "unknown key 'size'"},
      {"sliding:size=1s", "needs size=D and slide=D"},
      {"sliding:size=1s,slide=2s", "slide must not be larger than size"},
      {"sliding:size=10s,slide=1ms", "at most 1000"},
      {"session:count=5", "needs gap=D"},
      {"count", "'count' is not key=value or a duration"},
      {"hopping:size=1s", "unknown key 'hopping:size'"},
      // The shorthand: a duration that is not positive, given twice, or on a sliding window.
      {"tumbling:0", "time='0' is not a positive duration"},
      {"tumbling:-1s", "time='-1s' is not a positive duration"},
      {"tumbling:1s,time=2s", "'time' given twice"},
      {"session:5s,gap=1s", "'gap' given twice"},
      {"sliding:10s,slide=1s", "'10s' is not key=value"},
      {"tumbling:100", "'100' is not key=value or a duration"},
  };
  for (const Case& c : cases) {
    auto spec = ParseWindowSpec(c.spec);
    ASSERT_FALSE(spec.ok()) << c.spec;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(spec.status().message()), HasSubstr(c.message)) << c.spec;
    EXPECT_THAT(std::string(spec.status().message()), HasSubstr(absl::StrCat("'", c.spec, "'")));
  }
}

TEST(WindowSpecForEventTime, CountAndTimeTogetherAreRefusedNamingTheFix) {
  absl::Status s = CheckWindowSpecForEventTime(Spec("count=1000,time=1s"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'count=1000,time=1s'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("aligned by time alone"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("Use time=1s"));
  for (const char* ok : {"time=1s", "tumbling:5s", "count=10", "sliding:size=10s,slide=2s",
                         "session:gap=5s", "session:gap=5s,count=3"}) {
    EXPECT_TRUE(CheckWindowSpecForEventTime(Spec(ok)).ok()) << ok;
  }
}

TEST(WindowSpecHelp, GivesEveryKindAndTheShorthand) {
  const std::string help = WindowSpecHelp();
  for (const char* part : {"count=N", "time=D", "sliding:size=D,slide=D", "session:gap=D",
                           "tumbling:D is time=D", "session:D is gap=D"}) {
    EXPECT_THAT(help, HasSubstr(part));
  }
}

}  // namespace
}  // namespace runnel
