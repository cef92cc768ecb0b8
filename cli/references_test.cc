#include "cli/references.h"

#include <gtest/gtest.h>

namespace runnel::cli {
namespace {

TEST(ParseInputRef, StreamAloneDefaultsAliasAndOffset) {
  auto r = ParseInputRef("numbers");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (InputRef{.alias = "numbers", .stream = "numbers", .start_offset = "latest"}));
}

TEST(ParseInputRef, AliasAndOffset) {
  auto r = ParseInputRef("in:numbers@earliest");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (InputRef{.alias = "in", .stream = "numbers", .start_offset = "earliest"}));
}

TEST(ParseInputRef, RejectsWhatRiffsRegexRejects) {
  for (const char* bad : {"", ":s", "a:b:c", "s@", "s@middle", "a:", "@latest", "a:@earliest"}) {
    auto r = ParseInputRef(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().message(),
                std::string("malformed input stream reference \"") + bad +
                    "\", should be of the form [<alias>:]<stream>[@<offset>]");
    }
  }
}

TEST(ParseOutputRef, AliasOptional) {
  EXPECT_EQ(*ParseOutputRef("out:squares"), (OutputRef{.alias = "out", .stream = "squares"}));
  EXPECT_EQ(*ParseOutputRef("squares"), (OutputRef{.alias = "squares", .stream = "squares"}));
  EXPECT_FALSE(ParseOutputRef("a:b:c").ok());
  EXPECT_FALSE(ParseOutputRef("a:").ok());
}

TEST(FormatRef, ShowsAliasOnlyWhenItDiffers) {
  EXPECT_EQ(FormatRef("s", "s"), "s");
  EXPECT_EQ(FormatRef("in", "s"), "in:s");
}

TEST(ValidateName, KubernetesLabels) {
  EXPECT_TRUE(ValidateName("stream", "numbers-2").ok());
  for (const char* bad : {"", "Numbers", "-a", "a-", "a_b", "a.b"}) {
    EXPECT_FALSE(ValidateName("stream", bad).ok()) << bad;
  }
  EXPECT_FALSE(ValidateName("stream", std::string(64, 'a')).ok());
  EXPECT_NE(ValidateName("gateway", "X").message().find("invalid gateway name \"X\""),
            std::string::npos);
}

TEST(ParseHostPort, NeedsAPort) {
  auto hp = ParseHostPort("localhost:8081");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "localhost");
  EXPECT_EQ(hp->port, 8081);
  EXPECT_FALSE(ParseHostPort("localhost").ok());
  EXPECT_FALSE(ParseHostPort(":80").ok());
  EXPECT_FALSE(ParseHostPort("h:70000").ok());
}

}  // namespace
}  // namespace runnel::cli
