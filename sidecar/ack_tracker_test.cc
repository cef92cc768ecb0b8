#include "sidecar/ack_tracker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace runnel::sidecar {
namespace {

const PartitionKey kP0{.input = 0, .partition = 0};
const PartitionKey kP1{.input = 0, .partition = 1};
const PartitionKey kIn1{.input = 1, .partition = 0};

std::vector<std::pair<int, int64_t>> Acks(AckTracker& t) {
  std::vector<std::pair<int, int64_t>> out;
  for (const AckPosition& a : t.TakeAcks()) {
    out.emplace_back(a.key.input * 100 + static_cast<int>(a.key.partition), a.offset);
  }
  return out;
}

TEST(AckTracker, AcksTheHighestContiguousCompletedOffset) {
  AckTracker t;
  for (int64_t o = 0; o < 5; ++o) t.Track(kP0, o, 1);
  t.Complete(kP0, 0);
  t.Complete(kP0, 1);
  EXPECT_THAT(Acks(t), ::testing::ElementsAre(std::pair(0, int64_t{1})));
  EXPECT_TRUE(Acks(t).empty());  // Nothing new.
  EXPECT_EQ(t.pending(), 3u);
}

TEST(AckTracker, OutOfOrderCompletionWaitsForTheGap) {
  AckTracker t;
  for (int64_t o = 10; o < 16; ++o) t.Track(kP0, o, 1);
  // A later window completes first: nothing is safe yet.
  for (int64_t o = 13; o < 16; ++o) t.Complete(kP0, o);
  EXPECT_TRUE(Acks(t).empty());
  for (int64_t o = 10; o < 13; ++o) t.Complete(kP0, o);
  EXPECT_THAT(Acks(t), ::testing::ElementsAre(std::pair(0, int64_t{15})));
  EXPECT_EQ(t.pending(), 0u);
}

TEST(AckTracker, ARecordInSeveralWindowsNeedsAllOfThem) {
  AckTracker t;
  t.Track(kP0, 0, 3);
  t.Complete(kP0, 0);
  t.Complete(kP0, 0);
  EXPECT_TRUE(Acks(t).empty());
  t.Complete(kP0, 0);
  EXPECT_THAT(Acks(t), ::testing::ElementsAre(std::pair(0, int64_t{0})));
}

TEST(AckTracker, OffsetGapsInThePartitionDoNotBlock) {
  AckTracker t;
  t.Track(kP0, 3, 1);
  t.Track(kP0, 7, 1);  // 4..6 never arrive (e.g. compacted away).
  t.Complete(kP0, 7);
  EXPECT_TRUE(Acks(t).empty());
  t.Complete(kP0, 3);
  EXPECT_THAT(Acks(t), ::testing::ElementsAre(std::pair(0, int64_t{7})));
}

TEST(AckTracker, PartitionsAndInputsAreIndependent) {
  AckTracker t;
  t.Track(kP0, 0, 1);
  t.Track(kP1, 0, 1);
  t.Track(kIn1, 0, 1);
  t.Complete(kP1, 0);
  t.Complete(kIn1, 0);
  EXPECT_THAT(Acks(t), ::testing::UnorderedElementsAre(std::pair(1, int64_t{0}),
                                                       std::pair(100, int64_t{0})));
}

TEST(AckTracker, RedeliveredOffsetsAreRefusedAndUnknownCompletionsIgnored) {
  AckTracker t;
  EXPECT_TRUE(t.Track(kP0, 5, 1));
  EXPECT_FALSE(t.Track(kP0, 5, 1));
  EXPECT_FALSE(t.Track(kP0, 2, 1));
  EXPECT_EQ(t.highest_tracked(kP0), 5);
  EXPECT_EQ(t.highest_tracked(kP1), -1);
  t.Complete(kP0, 4);
  t.Complete(kP1, 5);
  EXPECT_TRUE(Acks(t).empty());
  t.Complete(kP0, 5);
  t.Complete(kP0, 5);  // Extra completion is harmless.
  EXPECT_THAT(Acks(t), ::testing::ElementsAre(std::pair(0, int64_t{5})));
}

}  // namespace
}  // namespace runnel::sidecar
