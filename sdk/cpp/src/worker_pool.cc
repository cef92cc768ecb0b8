#include "sdk/cpp/src/worker_pool.h"

#include <utility>

namespace runnel::sdk::internal {

WorkerPool::WorkerPool(int max_threads) : max_threads_(max_threads < 1 ? 1 : max_threads) {}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Submit(absl::AnyInvocable<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    return;
  }
  queue_.push_back(std::move(task));
  if (idle_ > 0) {
    cv_.notify_one();
  } else if (static_cast<int>(threads_.size()) < max_threads_) {
    threads_.emplace_back([this] { Loop(); });
  }
}

void WorkerPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) {
        return;
      }
      ++idle_;
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      --idle_;
      continue;
    }
    absl::AnyInvocable<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

void WorkerPool::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) {
    if (t.joinable()) {
      t.join();
    }
  }
}

}  // namespace runnel::sdk::internal
