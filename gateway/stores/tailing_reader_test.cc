#include "gateway/stores/tailing_reader.h"

#include <gtest/gtest.h>

#include <memory>

namespace runnel::gateway {
namespace {

class CountingWaiter final : public AppendWaiter {
 public:
  void Wake() override { ++wakes; }
  int wakes = 0;
};

TEST(AppendNotifier, WakesAWaiterOnceTheEndPassesItsPosition) {
  AppendNotifier notifier(/*end=*/3);
  auto waiter = std::make_shared<CountingWaiter>();
  ASSERT_TRUE(notifier.WaitBeyond(3, waiter));
  notifier.Advance(3);
  EXPECT_EQ(waiter->wakes, 0);
  notifier.Advance(4);
  EXPECT_EQ(waiter->wakes, 1);
  notifier.Advance(9);
  EXPECT_EQ(waiter->wakes, 1) << "a registration is woken once";
}

// The file log publishes records to readers before it advances the notifier, so a reader can
// register at exactly the end an Advance then announces. That Advance keeps the registration;
// the next one must still wake it (it used to find it emptied and drop it: a stalled Receive).
TEST(AppendNotifier, ARegistrationKeptByOneAdvanceIsWokenByTheNext) {
  AppendNotifier notifier(/*end=*/0);
  auto first = std::make_shared<CountingWaiter>();
  auto second = std::make_shared<CountingWaiter>();
  ASSERT_TRUE(notifier.WaitBeyond(5, first));
  ASSERT_TRUE(notifier.WaitBeyond(7, second));
  notifier.Advance(5);  // Neither is satisfied: both entries stay where they are.
  notifier.Advance(6);
  EXPECT_EQ(first->wakes, 1);
  EXPECT_EQ(second->wakes, 0);
  notifier.Advance(8);
  EXPECT_EQ(second->wakes, 1);
}

TEST(AppendNotifier, RefusesToWaitWhenTheEndIsAlreadyBeyondOrFailed) {
  AppendNotifier notifier(/*end=*/5);
  auto waiter = std::make_shared<CountingWaiter>();
  EXPECT_FALSE(notifier.WaitBeyond(4, waiter));
  ASSERT_TRUE(notifier.WaitBeyond(5, waiter));
  notifier.Fail();
  EXPECT_EQ(waiter->wakes, 1);
  EXPECT_FALSE(notifier.WaitBeyond(5, waiter));
}

}  // namespace
}  // namespace runnel::gateway
