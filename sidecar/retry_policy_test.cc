#include "sidecar/retry_policy.h"

#include <gtest/gtest.h>

namespace runnel::sidecar {
namespace {

TEST(RetryPolicy, GrowsExponentiallyWithoutJitterAndCapsAtMax) {
  RetryPolicy p({.initial_backoff = absl::Milliseconds(100), .max_backoff = absl::Seconds(1),
                 .multiplier = 2, .jitter = 0, .max_attempts = 5});
  EXPECT_EQ(p.Delay(1), absl::Milliseconds(100));
  EXPECT_EQ(p.Delay(2), absl::Milliseconds(200));
  EXPECT_EQ(p.Delay(3), absl::Milliseconds(400));
  EXPECT_EQ(p.Delay(4), absl::Milliseconds(800));
  EXPECT_EQ(p.Delay(5), absl::Seconds(1));
  EXPECT_EQ(p.Delay(500), absl::Seconds(1));
}

TEST(RetryPolicy, JitterStaysWithinItsBandAndVaries) {
  RetryPolicy p({.initial_backoff = absl::Seconds(1), .max_backoff = absl::Seconds(100),
                 .multiplier = 1, .jitter = 0.2});
  absl::Duration lo = absl::InfiniteDuration(), hi = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    absl::Duration d = p.Delay(1);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_GE(lo, absl::Milliseconds(800));
  EXPECT_LE(hi, absl::Milliseconds(1200));
  EXPECT_LT(lo, absl::Milliseconds(900));  // 1000 draws do spread over the band.
  EXPECT_GT(hi, absl::Milliseconds(1100));
}

TEST(RetryPolicy, JitterNeverExceedsTheCap) {
  RetryPolicy p({.initial_backoff = absl::Seconds(10), .max_backoff = absl::Seconds(1),
                 .jitter = 0.5});
  for (int i = 0; i < 100; ++i) EXPECT_LE(p.Delay(3), absl::Seconds(1));
}

TEST(RetryPolicy, CountsAttemptsIncludingTheFirst) {
  RetryPolicy p({.max_attempts = 3});
  EXPECT_TRUE(p.ShouldRetry(1));
  EXPECT_TRUE(p.ShouldRetry(2));
  EXPECT_FALSE(p.ShouldRetry(3));
  RetryPolicy forever({.max_attempts = 0});
  EXPECT_TRUE(forever.ShouldRetry(1'000'000));
}

TEST(RetryPolicy, SameSeedSameDelays) {
  RetryPolicy a({}, 42), b({}, 42);
  for (int i = 1; i < 10; ++i) EXPECT_EQ(a.Delay(i), b.Delay(i));
}

TEST(Backoff, ResetStartsOver) {
  Backoff b({.initial_backoff = absl::Milliseconds(10), .jitter = 0});
  EXPECT_EQ(b.NextDelay(), absl::Milliseconds(10));
  EXPECT_EQ(b.NextDelay(), absl::Milliseconds(20));
  EXPECT_EQ(b.failures(), 2);
  b.Reset();
  EXPECT_EQ(b.NextDelay(), absl::Milliseconds(10));
}

}  // namespace
}  // namespace runnel::sidecar
