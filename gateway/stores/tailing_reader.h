#pragma once
// Building blocks shared by the stores that keep a partition in this process (memory and file):
// an AppendNotifier that wakes readers waiting at a partition's end, and TailingReader, the
// PartitionReader that reads a PartitionSource and waits on its notifier.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

// Something that can be woken when a partition grows past the offset it waits at.
class AppendWaiter {
 public:
  virtual ~AppendWaiter() = default;
  // Runs on the appending thread, without store locks held. Must not block.
  virtual void Wake() = 0;
};

// Tracks a partition's end offset and the readers waiting for it to grow.
// Thread-safe; Wake() calls are made with no lock held.
class AppendNotifier {
 public:
  explicit AppendNotifier(Offset end = 0) : end_(end) {}

  // Registers `waiter` to be woken once the end exceeds `position`. Returns false, without
  // registering, if it already does or the partition failed (the caller reads again and sees).
  bool WaitBeyond(Offset position, std::weak_ptr<AppendWaiter> waiter);

  // Records the new end offset and wakes every waiter it satisfies.
  void Advance(Offset new_end);

  // Marks the partition gone (stream deleted, store closing) and wakes every waiter.
  void Fail();

 private:
  struct Entry {
    Offset position;
    std::weak_ptr<AppendWaiter> waiter;
  };
  absl::Mutex mu_;
  Offset end_ ABSL_GUARDED_BY(mu_);
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Entry> waiting_ ABSL_GUARDED_BY(mu_);
};

// A partition kept in this process, as a reader sees it.
class PartitionSource {
 public:
  virtual ~PartitionSource() = default;

  // Records from `from` on (at most max_records, about max_bytes, at least one if any exist).
  // `from` below the start is raised to it; `from` == end gives an empty vector; `from` beyond
  // the end is OUT_OF_RANGE; a deleted partition is NOT_FOUND. Never blocks for long (memory,
  // or a read from the page cache).
  virtual absl::StatusOr<std::vector<StoredRecord>> ReadAt(Offset from, size_t max_records,
                                                           size_t max_bytes) = 0;
  virtual PartitionBounds Bounds() = 0;
  virtual AppendNotifier& notifier() = 0;
};

// A PartitionReader over a PartitionSource. Next() is served inline when records are at hand,
// else from the appending thread when they arrive.
class TailingReader final : public PartitionReader {
 public:
  // Resolves `start` against the source's bounds now (kLatest = the current end).
  static absl::StatusOr<std::unique_ptr<PartitionReader>> Open(std::shared_ptr<PartitionSource> source,
                                                               StartAt start);
  ~TailingReader() override;

  void Next(size_t max_records, size_t max_bytes, ReadDone done) override;

 private:
  class State;
  explicit TailingReader(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace runnel::gateway
