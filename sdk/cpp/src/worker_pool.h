#pragma once
// A bounded, lazily grown pool of worker threads that run user functions, so that neither gRPC
// reaction threads nor HTTP I/O threads ever run user code that may block.
//
// Thread-safety: Submit may be called from any thread. Tasks run on pool threads; a task that
// blocks holds its thread (a streaming invocation holds one for its whole life), so the pool grows
// up to `max_threads` and further tasks queue until a thread is free.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace runnel::sdk::internal {

class WorkerPool {
 public:
  explicit WorkerPool(int max_threads);
  ~WorkerPool();  // Stop().
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`. After Stop() began, tasks are dropped (the transports are shut down first).
  void Submit(absl::AnyInvocable<void()> task);

  // Runs every queued task, then joins all threads. Idempotent.
  void Stop();

 private:
  void Loop();

  const int max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void()>> queue_;  // GUARDED_BY(mu_)
  int idle_ = 0;                             // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;         // GUARDED_BY(mu_)
};

}  // namespace runnel::sdk::internal
