#include "sidecar/output_budget.h"

#include "common/logging.h"

namespace runnel::sidecar {

OutputBudget::OutputBudget(size_t limit) : limit_(limit) {
  RUNNEL_CHECK(limit >= 1) << "config.cc validates --max-pending-outputs >= 1";
}

void OutputBudget::Add(size_t n) {
  absl::MutexLock lock(&mu_);
  pending_ += static_cast<int64_t>(n);
}

void OutputBudget::Hold(size_t n) {
  std::vector<Resume> runnable;
  {
    absl::MutexLock lock(&mu_);
    held_ += static_cast<int64_t>(n);
    // Held outputs no longer count against released calls.
    runnable = TakeRunnableLocked();
  }
  Run(std::move(runnable));
}

void OutputBudget::Unhold(size_t n) {
  absl::MutexLock lock(&mu_);
  held_ -= static_cast<int64_t>(n);
  RUNNEL_CHECK(held_ >= 0) << "the lane unholds only outputs it held";
}

void OutputBudget::Remove(size_t n, size_t held) {
  std::vector<Resume> runnable;
  {
    absl::MutexLock lock(&mu_);
    pending_ -= static_cast<int64_t>(n);
    held_ -= static_cast<int64_t>(held);
    RUNNEL_CHECK(held_ >= 0 && pending_ >= held_)
        << "every output is added once and removed once: pending=" << pending_
        << " held=" << held_;
    runnable = TakeRunnableLocked();
  }
  Run(std::move(runnable));
}

bool OutputBudget::MayRead(std::shared_ptr<const Route> route, Resume resume) {
  absl::MutexLock lock(&mu_);
  if (MayReadLocked(*route)) {
    return true;
  }
  waiters_.emplace_back(std::move(route), std::move(resume));
  return false;
}

void OutputBudget::Recheck() {
  std::vector<Resume> runnable;
  {
    absl::MutexLock lock(&mu_);
    runnable = TakeRunnableLocked();
  }
  Run(std::move(runnable));
}

size_t OutputBudget::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<size_t>(pending_);
}

size_t OutputBudget::held() const {
  absl::MutexLock lock(&mu_);
  return static_cast<size_t>(held_);
}

size_t OutputBudget::paused() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

bool OutputBudget::MayReadLocked(const Route& route) const {
  const int64_t limit = static_cast<int64_t>(limit_);
  if (route.released.load(std::memory_order_acquire)) {
    return pending_ - held_ < limit;
  }
  return pending_ < limit;
}

std::vector<OutputBudget::Resume> OutputBudget::TakeRunnableLocked() {
  std::vector<Resume> runnable;
  if (waiters_.empty()) {
    return runnable;
  }
  std::vector<std::pair<std::shared_ptr<const Route>, Resume>> still_waiting;
  for (auto& waiter : waiters_) {
    if (MayReadLocked(*waiter.first)) {
      runnable.push_back(std::move(waiter.second));
    } else {
      still_waiting.push_back(std::move(waiter));
    }
  }
  waiters_ = std::move(still_waiting);
  return runnable;
}

void OutputBudget::Run(std::vector<Resume> resumes) {
  for (Resume& resume : resumes) {
    std::move(resume)();
  }
}

}  // namespace runnel::sidecar
