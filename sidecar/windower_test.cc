#include "sidecar/windower.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"

namespace runnel::sidecar {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The grammar's own tests are common/window_spec_test.cc.
WindowSpec Spec(const std::string& s) {
  auto spec = ParseWindowSpec(s);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

TEST(Windower, TumblingByCountClosesOnTheNthRecord) {
  FakeClock clock;
  Windower w(Spec("count=3"));
  Placement a = w.Add(clock.Now());
  EXPECT_THAT(a.opened, ElementsAre(1));
  EXPECT_THAT(a.member_of, ElementsAre(1));
  EXPECT_THAT(a.closed, IsEmpty());
  EXPECT_THAT(w.Add(clock.Now()).closed, IsEmpty());
  Placement c = w.Add(clock.Now());
  EXPECT_THAT(c.member_of, ElementsAre(1));
  EXPECT_THAT(c.closed, ElementsAre(1));
  EXPECT_EQ(w.NextDeadline(), std::nullopt);  // Count-only windows have no deadline.
  Placement d = w.Add(clock.Now());
  EXPECT_THAT(d.opened, ElementsAre(2));
}

TEST(Windower, TumblingByTimeClosesAtItsDeadlineAndOpensNoEmptyWindows) {
  FakeClock clock;
  Windower w(Spec("time=1s"));
  EXPECT_EQ(w.NextDeadline(), std::nullopt);
  const absl::Time start = clock.Now();
  w.Add(start);
  EXPECT_EQ(w.NextDeadline(), start + absl::Seconds(1));
  clock.Advance(absl::Milliseconds(999));
  EXPECT_THAT(w.Advance(clock.Now()), IsEmpty());
  clock.Advance(absl::Milliseconds(1));
  EXPECT_THAT(w.Advance(clock.Now()), ElementsAre(1));
  clock.Advance(absl::Seconds(10));
  EXPECT_THAT(w.Advance(clock.Now()), IsEmpty());
  EXPECT_EQ(w.open_windows(), 0u);
}

TEST(Windower, TumblingCountAndTimeWhicheverComesFirst) {
  FakeClock clock;
  Windower w(Spec("count=2,time=1s"));
  w.Add(clock.Now());
  EXPECT_THAT(w.Add(clock.Now()).closed, ElementsAre(1));  // Count first.
  w.Add(clock.Now());                                       // Window 2.
  clock.Advance(absl::Seconds(2));
  Placement p = w.Add(clock.Now());  // Time first: window 2 expired before this record.
  EXPECT_THAT(p.closed, ElementsAre(2));
  EXPECT_THAT(p.opened, ElementsAre(3));
  EXPECT_THAT(p.member_of, ElementsAre(3));
}

TEST(Windower, SlidingRecordJoinsEveryCoveringWindow) {
  FakeClock clock(absl::FromUnixSeconds(1000));  // Aligned to the slide.
  Windower w(Spec("sliding:size=3s,slide=1s"));
  Placement p = w.Add(clock.Now());  // t=1000: windows starting 998, 999, 1000.
  EXPECT_THAT(p.opened, ElementsAre(1, 2, 3));
  EXPECT_THAT(p.member_of, ElementsAre(1, 2, 3));
  clock.Advance(absl::Milliseconds(1500));  // t=1001.5: windows 999, 1000, 1001; 998 closed.
  Placement q = w.Add(clock.Now());
  EXPECT_THAT(q.closed, ElementsAre(1));
  EXPECT_THAT(q.opened, ElementsAre(4));
  EXPECT_THAT(q.member_of, ElementsAre(2, 3, 4));
  EXPECT_EQ(w.NextDeadline(), absl::FromUnixSeconds(1002));  // Window 999 ends at 1002.
  EXPECT_THAT(w.Advance(absl::FromUnixSeconds(1004)), ElementsAre(2, 3, 4));
}

TEST(Windower, SessionStaysOpenWhileRecordsArriveWithinTheGap) {
  FakeClock clock;
  Windower w(Spec("session:gap=5s"));
  w.Add(clock.Now());
  for (int i = 0; i < 10; ++i) {
    clock.Advance(absl::Seconds(4));
    Placement p = w.Add(clock.Now());
    EXPECT_THAT(p.member_of, ElementsAre(1));
    EXPECT_THAT(p.closed, IsEmpty());
  }
  EXPECT_EQ(w.NextDeadline(), clock.Now() + absl::Seconds(5));
  clock.Advance(absl::Seconds(5));
  EXPECT_THAT(w.Advance(clock.Now()), ElementsAre(1));
}

TEST(Windower, SessionWithCountClosesWhenFull) {
  FakeClock clock;
  Windower w(Spec("session:gap=5s,count=2"));
  w.Add(clock.Now());
  EXPECT_THAT(w.Add(clock.Now()).closed, ElementsAre(1));
}

TEST(Windower, CloseAndCloseAllEndOpenWindowsEarly) {
  FakeClock clock;
  Windower w(Spec("time=1s"));
  w.Add(clock.Now());
  EXPECT_TRUE(w.Close(1));
  EXPECT_FALSE(w.Close(1));
  EXPECT_THAT(w.Add(clock.Now()).opened, ElementsAre(2));
  EXPECT_THAT(w.CloseAll(), ElementsAre(2));
  EXPECT_EQ(w.NextDeadline(), std::nullopt);
}

}  // namespace
}  // namespace runnel::sidecar
