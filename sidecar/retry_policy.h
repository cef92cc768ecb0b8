#pragma once
// Bounded exponential back-off with jitter. Pure: the random source is seeded by the caller, so
// tests are deterministic.

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace runnel::sidecar {

struct RetryOptions {
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double multiplier = 2.0;
  // Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter], then capped.
  double jitter = 0.2;
  // Attempts in total (the first one included) before giving up; 0 = never give up.
  int max_attempts = 5;
};

// Thread-compatible (one owner).
class RetryPolicy {
 public:
  explicit RetryPolicy(const RetryOptions& options, uint64_t seed = 0x5eed)
      : options_(options), random_(seed) {}

  // Whether another attempt may follow `attempts_made` failed attempts.
  bool ShouldRetry(int attempts_made) const {
    return options_.max_attempts == 0 || attempts_made < options_.max_attempts;
  }
  // The wait before attempt number `attempts_made + 1` (attempts_made >= 1): initial *
  // multiplier^(attempts_made-1), jittered, never above max_backoff and never negative.
  absl::Duration Delay(int attempts_made);
  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  std::mt19937_64 random_;
};

// A retry loop's state: how many attempts failed in a row and the next delay. Reset() after a
// success.
class Backoff {
 public:
  explicit Backoff(const RetryOptions& options, uint64_t seed = 0xb0ff) : policy_(options, seed) {}
  absl::Duration NextDelay() { return policy_.Delay(++failures_); }
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  RetryPolicy policy_;
  int failures_ = 0;
};

}  // namespace runnel::sidecar
