#include "cli/processor_settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/window_spec.h"

namespace runnel::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

ProcessorSpec Base() {
  ProcessorSpec p{.name = "rides"};
  p.inputs = {{.alias = "in", .stream = "rides"}};
  return p;
}

std::string Error(const ProcessorSpec& p) {
  absl::Status s = ValidateProcessorSettings(p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

TEST(ValidateProcessorSettings, EverySettingUnsetIsValid) {
  EXPECT_TRUE(ValidateProcessorSettings(Base()).ok());
}

TEST(ValidateProcessorSettings, EventTimeWithEverySetting) {
  ProcessorSpec p = Base();
  p.window = "tumbling:1m";
  p.key_by = ".licenseId";
  p.event_time = "/ts";
  p.max_out_of_orderness = "5s";
  p.allowed_lateness = "1m";
  p.idle_timeout = "0";
  p.late = "side-output:late-rides";
  p.max_attempts = 0;
  p.invoke_timeout = "30s";
  EXPECT_TRUE(ValidateProcessorSettings(p).ok()) << ValidateProcessorSettings(p);
  for (const char* late : {"drop", "refire"}) {
    p.late = late;
    EXPECT_TRUE(ValidateProcessorSettings(p).ok()) << late;
  }
  // Count-only windows stay in arrival order on event time.
  p.window = "count=100";
  EXPECT_TRUE(ValidateProcessorSettings(p).ok());
  // Arrival time keeps the count-or-time window.
  p = Base();
  p.window = "count=100,time=1s";
  p.event_time = "arrival";
  p.max_attempts = 3;
  EXPECT_TRUE(ValidateProcessorSettings(p).ok());
}

// The sidecar used to crash-loop on specs the CLI let through: now they are refused at create,
// with the parser's message and the grammar.
TEST(ValidateProcessorSettings, ABadWindowGetsTheParsersMessageAndTheGrammar) {
  ProcessorSpec p = Base();
  p.window = "tumbling:1x";
  std::string e = Error(p);
  EXPECT_THAT(e, HasSubstr("invalid --window \"tumbling:1x\": window spec 'tumbling:1x'"));
  EXPECT_THAT(e, HasSubstr(WindowSpecHelp()));
  p.window = "tumbling:1s";  // The chart's ci-values.yaml spec.
  EXPECT_TRUE(ValidateProcessorSettings(p).ok());
}

TEST(ValidateProcessorSettings, CountAndTimeOnEventTimeIsRefused) {
  ProcessorSpec p = Base();
  p.window = "count=10,time=2s";
  p.event_time = "cloudevent";
  std::string e = Error(p);
  EXPECT_THAT(e, HasSubstr("--window \"count=10,time=2s\" with --event-time cloudevent"));
  EXPECT_THAT(e, HasSubstr("aligned by time alone"));
}

TEST(ValidateProcessorSettings, BadSettingsNameTheFlagAndTheFix) {
  struct Case {
    void (*set)(ProcessorSpec&);
    const char* message;
  } cases[] = {
      {[](ProcessorSpec& p) { p.key_by = "licenseId"; }, "invalid --key-by \"licenseId\": "},
      {[](ProcessorSpec& p) { p.event_time = "yesterday"; }, "invalid --event-time \"yesterday\""},
      {[](ProcessorSpec& p) { p.max_out_of_orderness = "5s"; },
       "--max-out-of-orderness applies to event time only"},
      {[](ProcessorSpec& p) { p.allowed_lateness = "5s"; },
       "--allowed-lateness applies to event time only"},
      {[](ProcessorSpec& p) { p.idle_timeout = "0"; },
       "add --event-time cloudevent|broker|/POINTER"},
      {[](ProcessorSpec& p) {
         p.event_time = "arrival";
         p.late = "refire";
       },
       "--late applies to event time only"},
      {[](ProcessorSpec& p) {
         p.event_time = "broker";
         p.max_out_of_orderness = "5";
       },
       "invalid --max-out-of-orderness \"5\": want a duration"},
      {[](ProcessorSpec& p) {
         p.event_time = "broker";
         p.idle_timeout = "-1s";
       },
       "invalid --idle-timeout \"-1s\""},
      {[](ProcessorSpec& p) { p.invoke_timeout = "forever"; }, "invalid --invoke-timeout"},
      {[](ProcessorSpec& p) {
         p.event_time = "broker";
         p.late = "keep";
       },
       "want drop, refire or side-output:STREAM"},
      {[](ProcessorSpec& p) {
         p.event_time = "broker";
         p.late = "side-output:";
       },
       "side-output needs the stream"},
      {[](ProcessorSpec& p) {
         p.event_time = "broker";
         p.late = "side-output:Late_Rides";
       },
       "invalid stream name \"Late_Rides\""},
      {[](ProcessorSpec& p) { p.max_attempts = 1001; }, "invalid --max-attempts \"1001\""},
  };
  for (const Case& c : cases) {
    ProcessorSpec p = Base();
    c.set(p);
    EXPECT_THAT(Error(p), HasSubstr(c.message));
  }
}

TEST(ProcessorSettingArgs, OnlyWhatIsSetInAFixedOrder) {
  EXPECT_THAT(ProcessorSettingArgs(Base(), ""), IsEmpty());
  ProcessorSpec p = Base();
  p.window = "tumbling:1m";
  p.key_by = ".licenseId";
  p.event_time = "/ts";
  p.max_out_of_orderness = "5s";
  p.allowed_lateness = "1m";
  p.idle_timeout = "0";
  p.late = "side-output:late-rides";
  p.max_attempts = 0;
  p.invoke_timeout = "30s";
  EXPECT_THAT(ProcessorSettingArgs(p, "127.0.0.1:7000/late-rides"),
              ElementsAre("--window", "tumbling:1m", "--key-by", ".licenseId", "--event-time",
                          "/ts", "--max-out-of-orderness", "5s", "--allowed-lateness", "1m",
                          "--idle-timeout", "0", "--late", "side-output:127.0.0.1:7000/late-rides",
                          "--max-attempts", "0", "--invoke-timeout", "30s"));
  p = Base();
  p.late = "refire";
  p.max_attempts = 3;
  EXPECT_THAT(ProcessorSettingArgs(p, "ignored"),
              ElementsAre("--late", "refire", "--max-attempts", "3"));
}

TEST(ProcessorSettingsHelp, GivesTheWindowGrammar) {
  EXPECT_THAT(ProcessorSettingsHelp(), HasSubstr(WindowSpecHelp()));
  EXPECT_THAT(ProcessorSettingsHelp(), HasSubstr("--event-time"));
}

}  // namespace
}  // namespace runnel::cli
