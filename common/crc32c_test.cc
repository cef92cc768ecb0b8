#include "common/crc32c.h"

#include <string>

#include <gtest/gtest.h>

namespace runnel::crc32c {
namespace {

// Check values from RFC 3720, appendix B.4.
TEST(Crc32c, MatchesRfc3720Vectors) {
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Value(ascending), 0x46DD794Eu);
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
}

TEST(Crc32c, ExtendEqualsWholeValue) {
  const std::string data = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t crc = Extend(0, data.data(), split);
    crc = Extend(crc, data.data() + split, data.size() - split);
    EXPECT_EQ(crc, Value(data)) << "split at " << split;
  }
}

}  // namespace
}  // namespace runnel::crc32c
