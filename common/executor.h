#pragma once
// A fixed pool of worker threads with a bounded queue: where gRPC reactions send work that may
// block (disk, broker round trips) so that the reaction itself never does.

#include <cstddef>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace runnel {

// Thread-safe. Destruction runs every task already queued, then joins the workers.
class Executor {
 public:
  Executor(std::string name, int threads, size_t max_queued);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. Returns false, without queuing, when the queue is full or the executor is
  // shutting down: the caller answers RESOURCE_EXHAUSTED (or UNAVAILABLE) instead.
  [[nodiscard]] bool Submit(absl::AnyInvocable<void() &&> task);

 private:
  void Run();

  const std::string name_;
  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace runnel
