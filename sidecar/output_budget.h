#pragma once
// The processor's bound on function outputs that are not durable yet (--max-pending-outputs).
// It is flow control, not a queue: before reading each further output a call asks MayRead
// (FunctionCallCallbacks::may_read); while the bound is reached the answer is no, the transport
// stops reading from the function (riff-rpc withholds StartRead, so HTTP/2 flow control stops
// the function; HTTP issues no new request) and the budget resumes the call once outputs drain.
// Nothing waits on a lock or a condition: house style B.5.3, backpressure by withholding reads.
//
// An output counts from the moment the transport hands it over until it is durable or dropped:
// in a lane's mailbox, held behind an earlier window, staged, or queued in a Publisher. Two
// rules keep the bound without a deadlock:
//   - a call whose window's outputs go straight to a publisher (Route::released: every earlier
//     window of its lane completed its function) may read while the outputs *not held* are under
//     the limit. Those drain by publishing alone, whatever the function does.
//   - a call whose outputs are held behind an earlier window (sliding windows, concurrent
//     invocations) may read while *all* pending outputs are under the limit. Held outputs wait
//     for earlier calls to complete, so they must never pause those calls: the first rule ignores
//     them.
// Pending outputs therefore stay under the limit plus one output per running call (a call reads
// one output before it asks), and under twice that when held outputs fill their share too.
//
// Thread-safe; never blocks (one short critical section per call). A resume runs on the thread
// that made room (a Publisher thread, a lane thread), after the lock is released; it must not
// block.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace runnel::sidecar {

class OutputBudget {
 public:
  using Resume = absl::AnyInvocable<void() &&>;

  // Where one window's outputs go. The lane thread sets `released` once, when every earlier
  // window completed its function; calls read it from transport threads.
  struct Route {
    std::atomic<bool> released{false};
  };

  // REQUIRES: limit >= 1.
  explicit OutputBudget(size_t limit);

  // `n` outputs arrived from the function.
  void Add(size_t n);
  // `n` pending outputs were set aside behind an earlier window (may resume released calls).
  void Hold(size_t n);
  // `n` held outputs go on to a publisher (they stay pending).
  void Unhold(size_t n);
  // `n` pending outputs are durable or were dropped (an abandoned attempt, a refused group,
  // stop); `held` of them were held (dropped with a failed attempt).
  void Remove(size_t n, size_t held = 0);

  // Whether a call whose window goes by `route` may read its next output. When not, the budget
  // keeps `resume` and runs it exactly once, as soon as the call may read (or destroys it unrun
  // with the budget).
  bool MayRead(std::shared_ptr<const Route> route, Resume resume);
  // Resumes the paused calls that may read now: after a route was released.
  void Recheck();

  size_t limit() const { return limit_; }
  size_t pending() const;
  size_t held() const;
  size_t paused() const;  // Calls waiting for room.

 private:
  bool MayReadLocked(const Route& route) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the resumes of the calls that may read now out of waiters_.
  std::vector<Resume> TakeRunnableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Run(std::vector<Resume> resumes);

  const size_t limit_;
  mutable absl::Mutex mu_;
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t held_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<std::shared_ptr<const Route>, Resume>> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::sidecar
