#include "runnel/sdk/media_type.h"

#include <gtest/gtest.h>

namespace runnel::sdk {
namespace {

std::vector<MediaType> Accept(std::string_view text) {
  absl::StatusOr<std::vector<MediaType>> a = ParseAcceptList(text);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.value_or(std::vector<MediaType>{});
}

std::vector<MediaType> Offers(std::initializer_list<std::string_view> types) {
  std::vector<MediaType> out;
  for (std::string_view t : types) {
    out.push_back(*ParseMediaType(t));
  }
  return out;
}

std::string Pick(std::string_view accept, std::initializer_list<std::string_view> offers) {
  std::vector<MediaType> o = Offers(offers);
  std::optional<MediaType> m = Negotiate(Accept(accept), o);
  return m ? m->ToString() : "<none>";
}

TEST(MediaType, ParsesTypeSubtypeAndParametersCaseInsensitively) {
  absl::StatusOr<MediaType> m = ParseMediaType(" Text/Plain ; Charset=\"UTF-8\" ");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Essence(), "text/plain");
  EXPECT_EQ(m->Param("charset"), "UTF-8");
  EXPECT_EQ(m->ToString(), "text/plain; charset=UTF-8");
}

TEST(MediaType, RejectsMalformedTypes) {
  EXPECT_FALSE(ParseMediaType("").ok());
  EXPECT_FALSE(ParseMediaType("textplain").ok());
  EXPECT_FALSE(ParseMediaType("*/json").ok());
  EXPECT_FALSE(ParseMediaType("text/plain; charset").ok());
  EXPECT_FALSE(ParseAcceptList("text/plain;q=2").ok());
  EXPECT_FALSE(ParseAcceptList("text/plain;q=abc").ok());
}

TEST(MediaType, EmptyAcceptMeansAnything) {
  std::vector<MediaType> a = Accept("  ");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].Essence(), "*/*");
}

TEST(Negotiate, FirstAcceptedTypeWinsOverServerPreference) {
  EXPECT_EQ(Pick("text/plain, application/json", {"application/json", "text/plain"}),
            "text/plain");
  EXPECT_EQ(Pick("application/json, text/plain", {"text/plain", "application/json"}),
            "application/json");
}

TEST(Negotiate, QValuesOrderRanges) {
  EXPECT_EQ(Pick("text/plain;q=0.5, application/json", {"text/plain", "application/json"}),
            "application/json");
}

TEST(Negotiate, WildcardsPickServerPreference) {
  EXPECT_EQ(Pick("*/*", {"application/json", "text/plain"}), "application/json");
  EXPECT_EQ(Pick("text/*", {"application/json", "text/plain; charset=utf-8"}),
            "text/plain; charset=utf-8");
}

TEST(Negotiate, QZeroExcludesEvenUnderWildcard) {
  EXPECT_EQ(Pick("*/*, application/json;q=0", {"application/json", "text/plain"}),
            "text/plain");
}

TEST(Negotiate, CharsetMustMatch) {
  EXPECT_EQ(Pick("text/plain; charset=UTF-8", {"text/plain; charset=utf-8"}),
            "text/plain; charset=utf-8");
  EXPECT_EQ(Pick("text/plain; charset=iso-8859-1", {"text/plain; charset=utf-8"}), "<none>");
  EXPECT_EQ(Pick("application/json; charset=utf-8", {"application/json"}), "application/json");
}

TEST(Negotiate, NothingAcceptable) {
  EXPECT_EQ(Pick("image/png", {"application/json", "text/plain"}), "<none>");
}

}  // namespace
}  // namespace runnel::sdk
