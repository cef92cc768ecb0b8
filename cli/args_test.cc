#include "cli/args.h"

#include <gtest/gtest.h>

namespace runnel::cli {
namespace {

using Kind = FlagSpec::Kind;

const std::vector<FlagSpec> kSpecs = {{"gateway", Kind::kValue, ""},
                                      {"input", Kind::kRepeated, "", 'i'},
                                      {"dry-run", Kind::kBool, ""},
                                      {"output", Kind::kValue, "", 'o'},
                                      {"partitions", Kind::kValue, ""},
                                      {"timeout", Kind::kValue, ""}};

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args) {
  return ParseArgs(args, kSpecs, "runnel test");
}

TEST(ParseArgs, AcceptsSpaceAndEqualsForms) {
  auto a = Parse({"name", "--gateway", "g", "--output=yaml"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->positionals, std::vector<std::string>{"name"});
  EXPECT_EQ(a->Get("gateway"), "g");
  EXPECT_EQ(a->Get("output"), "yaml");
}

TEST(ParseArgs, CollectsRepeatedFlagsInOrder) {
  auto a = Parse({"--input", "a", "-i", "b", "--input=c"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->GetAll("input"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ParseArgs, BooleanFlagTakesNoValue) {
  auto a = Parse({"--dry-run", "x"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->Has("dry-run"));
  EXPECT_EQ(a->positionals, std::vector<std::string>{"x"});
  EXPECT_FALSE(Parse({"--dry-run=maybe"}).ok());
  EXPECT_FALSE(Parse({"--dry-run=false"})->Has("dry-run"));
}

TEST(ParseArgs, RejectsUnknownFlagNamingTheCommand) {
  auto a = Parse({"--gatway", "g"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("--gatway"), std::string::npos);
  EXPECT_NE(a.status().message().find("runnel test"), std::string::npos);
}

TEST(ParseArgs, RejectsMissingValue) { EXPECT_FALSE(Parse({"--gateway"}).ok()); }

TEST(ParseArgs, DoubleDashEndsFlags) {
  auto a = Parse({"--", "--gateway"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->positionals, std::vector<std::string>{"--gateway"});
}

TEST(ParsedArgs, GetIntChecksRange) {
  auto a = Parse({"--partitions", "0"});
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->GetInt("partitions", 1, 1, 1024).ok());
  EXPECT_EQ(*Parse({"--partitions", "8"})->GetInt("partitions", 1, 1, 1024), 8);
  EXPECT_EQ(*Parse({})->GetInt("partitions", 1, 1, 1024), 1);
  EXPECT_FALSE(Parse({"--partitions", "eight"})->GetInt("partitions", 1, 1, 1024).ok());
}

TEST(ParsedArgs, GetDurationAcceptsUnitsAndBareSeconds) {
  EXPECT_EQ(*Parse({"--timeout", "1m30s"})->GetDuration("timeout", absl::ZeroDuration()),
            absl::Seconds(90));
  EXPECT_EQ(*Parse({"--timeout", "2.5"})->GetDuration("timeout", absl::ZeroDuration()),
            absl::Milliseconds(2500));
  EXPECT_FALSE(Parse({"--timeout", "soon"})->GetDuration("timeout", absl::ZeroDuration()).ok());
}

}  // namespace
}  // namespace runnel::cli
