#include "common/header_names.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"

namespace runnel {
namespace {

TEST(IsExtensionName, LowerCaseLettersAndDigitsOnly) {
  EXPECT_TRUE(IsExtensionName("traceparent"));
  EXPECT_TRUE(IsExtensionName("b3"));
  EXPECT_TRUE(IsExtensionName("0"));
  EXPECT_FALSE(IsExtensionName(""));
  EXPECT_FALSE(IsExtensionName("Greeting"));
  EXPECT_FALSE(IsExtensionName("x-greeted-by"));
  EXPECT_FALSE(IsExtensionName("a_b"));
}

TEST(ExtensionName, KeepsValidNames) {
  EXPECT_EQ(ExtensionName("greeting"), "greeting");
  EXPECT_EQ(ExtensionName("traceparent"), "traceparent");
  EXPECT_EQ(ExtensionName("runnelerror"), "runnelerror");
  EXPECT_EQ(ExtensionName("h1"), "h1");
  EXPECT_EQ(ExtensionName("x0y"), "x0y");
}

TEST(ExtensionName, LowerCasesNames) {
  EXPECT_EQ(ExtensionName("Greeting"), "greeting");
  EXPECT_EQ(ExtensionName("TRACEPARENT"), "traceparent");
}

TEST(ExtensionName, EscapesTheDocumentedExamples) {
  EXPECT_EQ(ExtensionName("X-Greeted-By"), "h0x0greeted0by");
  EXPECT_EQ(ExtensionName("x-salutation"), "h0x0salutation");
  EXPECT_EQ(ExtensionName("x-b3-traceid"), "h0x0b30traceid");
  EXPECT_EQ(ExtensionName("user_agent"), "h0user9uagent");
  EXPECT_EQ(ExtensionName("a.b"), "h0a9db");
  EXPECT_EQ(ExtensionName("x-v0-9"), "h0x0v90099");
  EXPECT_EQ(ExtensionName("a/b"), "h0a9x2fb");
  EXPECT_EQ(ExtensionName("x-runnel-key"), "h0x0runnel0key");
}

TEST(ExtensionName, EscapesValidNamesThatLookEscaped) {
  EXPECT_EQ(ExtensionName("h0st"), "h0h90st");
  EXPECT_EQ(ExtensionName("H0"), "h0h90");
  EXPECT_EQ(HeaderName("h0h90st"), "h0st");
}

TEST(ExtensionName, NeverEmptyAndNeverTruncated) {
  EXPECT_EQ(ExtensionName(""), "h0");
  EXPECT_EQ(HeaderName("h0"), "");
  EXPECT_EQ(ExtensionName("-"), "h00");
  const std::string long_name = "x-a-very-long-header-name-that-goes-past-twenty-characters";
  EXPECT_EQ(HeaderName(ExtensionName(long_name)), long_name);
}

TEST(ExtensionName, EveryOutputIsAValidExtensionName) {
  for (const char* h : {"X-Greeted-By", "", "-", "_._", "a b", "\xff\x01", "Content-Type"}) {
    EXPECT_TRUE(IsExtensionName(ExtensionName(h))) << h;
  }
}

// HeaderName(ExtensionName(h)) == lowercase(h) over every name of up to three characters from
// the header alphabet [A-Za-z0-9._-] (plus a few bytes outside it), and no two lower-case names
// share an extension name.
TEST(HeaderName, InvertsExtensionNameExhaustively) {
  const std::string alphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/ \x80";
  std::vector<std::string> names = {""};
  for (int len = 1; len <= 3; ++len) {
    std::vector<std::string> longer;
    for (const std::string& n : names) {
      if (static_cast<int>(n.size()) != len - 1) continue;
      for (char c : alphabet) longer.push_back(n + c);
    }
    names.insert(names.end(), longer.begin(), longer.end());
  }
  std::map<std::string, std::string> seen;  // Extension name -> lower-case header name.
  for (const std::string& h : names) {
    const std::string lower = absl::AsciiStrToLower(h);
    const std::string ext = ExtensionName(h);
    ASSERT_TRUE(IsExtensionName(ext)) << "'" << h << "' -> '" << ext << "'";
    ASSERT_EQ(HeaderName(ext), lower) << "'" << h << "' -> '" << ext << "'";
    auto [it, inserted] = seen.emplace(ext, lower);
    ASSERT_TRUE(inserted || it->second == lower)
        << "'" << it->second << "' and '" << lower << "' both -> '" << ext << "'";
  }
}

TEST(HeaderName, KeepsNamesExtensionNameKeeps) {
  EXPECT_EQ(HeaderName("greeting"), "greeting");
  EXPECT_EQ(HeaderName("traceparent"), "traceparent");
  EXPECT_EQ(HeaderName("x0y"), "x0y");
}

TEST(HeaderName, DecodesEscapes) {
  EXPECT_EQ(HeaderName("h0x0greeted0by"), "x-greeted-by");
  EXPECT_EQ(HeaderName("h0user9uagent"), "user_agent");
  EXPECT_EQ(HeaderName("h0a9db"), "a.b");
  EXPECT_EQ(HeaderName("h0x0v90099"), "x-v0-9");
  EXPECT_EQ(HeaderName("h0a9x2fb"), "a/b");
}

// Extension names ExtensionName never writes present as they are: a liiklus client may publish
// them, and decoding them would alias another extension's header or yield a malformed one.
TEST(HeaderName, PresentsOtherNamesAsTheyAre) {
  EXPECT_EQ(HeaderName("h0abc"), "h0abc");      // "abc" is the extension "abc"'s header.
  EXPECT_EQ(HeaderName("h09"), "h09");          // Dangling escape.
  EXPECT_EQ(HeaderName("h09q"), "h09q");        // Unknown escape.
  EXPECT_EQ(HeaderName("h0a9x2"), "h0a9x2");    // Short hex.
  EXPECT_EQ(HeaderName("h0a9x2d"), "h0a9x2d");  // '-' has its own code.
  EXPECT_EQ(HeaderName("h09x41"), "h09x41");    // 'A': names are lower-cased.
  EXPECT_EQ(HeaderName("X-Old"), "X-Old");      // Stored before names were normalised.
}

}  // namespace
}  // namespace runnel
