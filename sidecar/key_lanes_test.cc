#include "sidecar/key_lanes.h"

#include <gtest/gtest.h>

namespace runnel::sidecar {
namespace {

TEST(KeyLanes, OneInFlightPerKeyInOrder) {
  KeyLanes<int> lanes(8);
  lanes.Push("a", 1);
  lanes.Push("a", 2);
  lanes.Push("b", 3);
  lanes.Push("", 4);  // Keyless: a lane of its own.
  lanes.Push("", 5);
  auto first = lanes.Next();
  auto second = lanes.Next();
  auto third = lanes.Next();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->second, 1);
  EXPECT_EQ(second->second, 3);
  EXPECT_EQ(third->second, 4);
  EXPECT_FALSE(lanes.Next());  // 2 waits for 1, 5 for 4.
  EXPECT_EQ(lanes.in_flight(), 3u);
  lanes.Done("a");
  auto next = lanes.Next();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first, "a");
  EXPECT_EQ(next->second, 2);
}

TEST(KeyLanes, AResendGoesBeforeWhatQueuedBehindIt) {
  KeyLanes<int> lanes(8);
  lanes.Push("k", 1);
  lanes.Push("k", 2);
  auto sent = lanes.Next();
  ASSERT_TRUE(sent);
  lanes.Done("k", sent->second);  // Failed for a while: sent again, before 2.
  EXPECT_EQ(lanes.queued(), 2u);
  auto again = lanes.Next();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->second, 1);
}

TEST(KeyLanes, BoundedInFlight) {
  KeyLanes<int> lanes(2);
  for (int i = 0; i < 5; ++i) lanes.Push(std::to_string(i), i);
  EXPECT_TRUE(lanes.Next());
  EXPECT_TRUE(lanes.Next());
  EXPECT_FALSE(lanes.can_send());
  EXPECT_FALSE(lanes.Next());
  lanes.Done("0");
  auto next = lanes.Next();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->second, 2);
  std::deque<int> left = lanes.TakeQueued();
  EXPECT_EQ(left.size(), 2u);
  EXPECT_EQ(lanes.queued(), 0u);
  EXPECT_EQ(lanes.in_flight(), 2u);
  lanes.Done("1");
  lanes.Done("2");
  EXPECT_EQ(lanes.in_flight(), 0u);
  EXPECT_FALSE(lanes.Next());
}

}  // namespace
}  // namespace runnel::sidecar
