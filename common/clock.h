#pragma once
// Time as an injected dependency. Pure logic (windowing, retry, retention) takes a Clock& so that
// tests drive time with FakeClock and never sleep.

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace runnel {

// Thread-safety: implementations are safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// Wall-clock time.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance; SystemClock has no state.
  static SystemClock& Get();
};

// Time that moves only when told to. Starts at a fixed, arbitrary instant.
class FakeClock final : public Clock {
 public:
  FakeClock() : now_(absl::FromUnixSeconds(1'700'000'000)) {}
  explicit FakeClock(absl::Time start) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel
