#include "sidecar/output_budget.h"

#include <gtest/gtest.h>

namespace runnel::sidecar {
namespace {

std::shared_ptr<OutputBudget::Route> Released() {
  auto route = std::make_shared<OutputBudget::Route>();
  route->released = true;
  return route;
}

std::shared_ptr<OutputBudget::Route> Held() { return std::make_shared<OutputBudget::Route>(); }

TEST(OutputBudget, ReadsWhileUnderTheLimit) {
  OutputBudget budget(3);
  int resumed = 0;
  auto route = Released();
  for (int i = 0; i < 3; ++i) {
    budget.Add(1);
    EXPECT_EQ(budget.MayRead(route, [&] { ++resumed; }), i < 2) << i;
  }
  EXPECT_EQ(budget.pending(), 3u);
  EXPECT_EQ(budget.paused(), 1u);
  EXPECT_EQ(resumed, 0);
}

TEST(OutputBudget, ResumesOnceWhenOutputsDrainBelowTheLimit) {
  OutputBudget budget(2);
  auto route = Released();
  budget.Add(2);
  int resumed = 0;
  ASSERT_FALSE(budget.MayRead(route, [&] { ++resumed; }));
  budget.Add(1);  // Outputs read before the call asked (one per call) keep it paused.
  budget.Remove(1);
  EXPECT_EQ(resumed, 0);
  budget.Remove(1);
  EXPECT_EQ(resumed, 1);
  budget.Remove(1);
  EXPECT_EQ(resumed, 1);  // Exactly once.
  EXPECT_EQ(budget.paused(), 0u);
  EXPECT_EQ(budget.pending(), 0u);
}

// Held outputs wait for an earlier window's call; were they to pause that call, neither could
// ever go on. They count only against calls whose own outputs are held.
TEST(OutputBudget, HeldOutputsNeverPauseTheCallTheyWaitFor) {
  OutputBudget budget(4);
  auto head = Released();
  auto later = Held();
  budget.Add(4);
  budget.Hold(4);  // A later window's outputs, behind `head`.
  EXPECT_FALSE(budget.MayRead(later, [] {}));
  EXPECT_TRUE(budget.MayRead(head, [] {}));
  budget.Add(3);
  EXPECT_TRUE(budget.MayRead(head, [] {}));
  budget.Add(1);
  int resumed = 0;
  EXPECT_FALSE(budget.MayRead(head, [&] { ++resumed; }));  // Its own 4 not yet published.
  budget.Remove(2);
  EXPECT_EQ(resumed, 1);
}

TEST(OutputBudget, HoldingAMailboxOutputMakesRoomForReleasedCalls) {
  OutputBudget budget(2);
  auto head = Released();
  budget.Add(2);
  int resumed = 0;
  ASSERT_FALSE(budget.MayRead(head, [&] { ++resumed; }));
  budget.Hold(1);  // The lane found it belongs to a later window.
  EXPECT_EQ(resumed, 1);
}

TEST(OutputBudget, ReleasingARouteResumesItsPausedCallOnRecheck) {
  OutputBudget budget(2);
  auto later = Held();
  budget.Add(2);
  budget.Hold(2);
  int resumed = 0;
  ASSERT_FALSE(budget.MayRead(later, [&] { ++resumed; }));
  budget.Recheck();
  EXPECT_EQ(resumed, 0);
  later->released = true;  // Every earlier window completed its function.
  budget.Unhold(2);        // Its held outputs go to a publisher...
  budget.Recheck();
  EXPECT_EQ(resumed, 0);   // ...and fill the budget themselves.
  budget.Remove(1);
  EXPECT_EQ(resumed, 1);
}

TEST(OutputBudget, DroppedHeldOutputsLeaveBothCounts) {
  OutputBudget budget(2);
  auto later = Held();
  budget.Add(2);
  budget.Hold(2);
  int resumed = 0;
  ASSERT_FALSE(budget.MayRead(later, [&] { ++resumed; }));
  budget.Remove(2, /*held=*/2);  // The attempt failed: its held outputs are dropped.
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(budget.pending(), 0u);
  EXPECT_EQ(budget.held(), 0u);
}

TEST(OutputBudget, ResumeRunsWithoutTheLockHeld) {
  OutputBudget budget(1);
  auto route = Released();
  budget.Add(1);
  bool asked_again = false;
  ASSERT_FALSE(budget.MayRead(route, [&] {
    // A resumed call reads at once and asks again, from inside the resume.
    budget.Add(1);
    asked_again = !budget.MayRead(route, [] {});
  }));
  budget.Remove(1);
  EXPECT_TRUE(asked_again);
  EXPECT_EQ(budget.paused(), 1u);
}

}  // namespace
}  // namespace runnel::sidecar
