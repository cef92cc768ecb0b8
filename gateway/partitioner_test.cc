#include "gateway/partitioner.h"

#include <set>

#include <gtest/gtest.h>

namespace runnel::gateway {
namespace {

// Values from Kafka's own UtilsTest#testMurmur2.
TEST(Partitioner, Murmur2MatchesKafka) {
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2(absl::string_view("abc", 3)), 479470107);
}

TEST(Partitioner, SameKeySamePartition) {
  for (int partitions : {1, 2, 3, 7, 32}) {
    const Partition p = PartitionForKey("user-42", partitions);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, partitions);
    EXPECT_EQ(PartitionForKey("user-42", partitions), p);
  }
}

TEST(Partitioner, KeylessSinglePartitionIsAlwaysZero) {
  KeylessPartitioner k;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(k.Next(1), 0);
}

TEST(Partitioner, KeylessRoundRobinCoversAllPartitions) {
  KeylessPartitioner k;
  std::set<Partition> seen;
  for (int i = 0; i < 8; ++i) seen.insert(k.Next(4));
  EXPECT_EQ(seen.size(), 4u);
}

}  // namespace
}  // namespace runnel::gateway
