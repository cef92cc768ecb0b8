#include "gateway/stores/tailing_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel::gateway {

bool AppendNotifier::WaitBeyond(Offset position, std::weak_ptr<AppendWaiter> waiter) {
  absl::MutexLock lock(&mu_);
  if (failed_ || end_ > position) {
    return false;
  }
  // Drop registrations of readers that have gone away, so a quiet partition does not collect
  // them without bound.
  std::erase_if(waiting_, [](const Entry& e) { return e.waiter.expired(); });
  waiting_.push_back({position, std::move(waiter)});
  return true;
}

void AppendNotifier::Advance(Offset new_end) {
  std::vector<std::shared_ptr<AppendWaiter>> ready;
  {
    absl::MutexLock lock(&mu_);
    if (new_end > end_) {
      end_ = new_end;
    }
    // remove_if moves an entry only onto an earlier slot. A hand-written compaction that
    // assigned each kept entry onto itself (`*keep++ = std::move(*it)` with keep == it) emptied
    // its weak_ptr (libstdc++'s self-move-assignment of a weak_ptr releases it), so a reader
    // registered at exactly the new end was dropped on the following Advance and never woken:
    // a Receive that stopped for good while its partition grew.
    std::erase_if(waiting_, [&](const Entry& e) {
      if (e.position >= end_) {
        return false;
      }
      if (auto w = e.waiter.lock()) {
        ready.push_back(std::move(w));
      }
      return true;
    });
  }
  for (auto& w : ready) {
    w->Wake();
  }
}

void AppendNotifier::Fail() {
  std::vector<Entry> waiting;
  {
    absl::MutexLock lock(&mu_);
    failed_ = true;
    waiting.swap(waiting_);
  }
  for (auto& e : waiting) {
    if (auto w = e.waiter.lock()) {
      w->Wake();
    }
  }
}

// The reader's state, shared with the notifier (weakly) so that a wake-up racing with the
// reader's destruction finds either a live state or nothing.
class TailingReader::State final : public AppendWaiter,
                                   public std::enable_shared_from_this<TailingReader::State> {
 public:
  State(std::shared_ptr<PartitionSource> source, Offset position)
      : source_(std::move(source)), position_(position) {}

  void Next(size_t max_records, size_t max_bytes, ReadDone done) {
    {
      absl::MutexLock lock(&mu_);
      RUNNEL_CHECK(pending_ == nullptr) << "only one Next() may be pending";
      pending_ = std::move(done);
      max_records_ = max_records;
      max_bytes_ = max_bytes;
    }
    TryDeliver();
  }

  void Wake() override { TryDeliver(); }

  // Drops the pending callback and waits until a delivery in progress on another thread ends.
  void Cancel() {
    ReadDone dropped;
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    dropped = std::move(pending_);
    mu_.Await(absl::Condition(
        +[](bool* delivering) { return !*delivering; }, &delivering_));
  }

 private:
  // Reads at the position; delivers what it finds, or waits for an append.
  void TryDeliver() {
    for (;;) {
      Offset position;
      size_t max_records, max_bytes;
      {
        absl::MutexLock lock(&mu_);
        if (cancelled_ || pending_ == nullptr || delivering_) {
          return;
        }
        // Claim the delivery so that a concurrent Wake() does not read the same records.
        delivering_ = true;
        position = position_;
        max_records = max_records_;
        max_bytes = max_bytes_;
      }
      absl::StatusOr<std::vector<StoredRecord>> records =
          source_->ReadAt(position, max_records, max_bytes);
      if (records.ok() && records->empty()) {
        {
          absl::MutexLock lock(&mu_);
          delivering_ = false;
        }
        if (source_->notifier().WaitBeyond(position, weak_from_this())) {
          return;  // Wake() retries once the partition grows.
        }
        continue;  // It grew (or failed) meanwhile: read again.
      }
      ReadDone done;
      {
        absl::MutexLock lock(&mu_);
        if (records.ok()) {
          position_ = records->back().offset + 1;
        }
        done = std::move(pending_);
        pending_ = nullptr;
        if (cancelled_ || done == nullptr) {
          delivering_ = false;
          return;
        }
      }
      std::move(done)(std::move(records));
      absl::MutexLock lock(&mu_);
      delivering_ = false;
      // A Next() issued from inside `done` found delivering_ set and returned; serve it now.
      if (pending_ == nullptr || cancelled_) {
        return;
      }
    }
  }

  const std::shared_ptr<PartitionSource> source_;
  absl::Mutex mu_;
  Offset position_ ABSL_GUARDED_BY(mu_);
  ReadDone pending_ ABSL_GUARDED_BY(mu_);
  size_t max_records_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool delivering_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<PartitionReader>> TailingReader::Open(
    std::shared_ptr<PartitionSource> source, StartAt start) {
  const PartitionBounds bounds = source->Bounds();
  Offset position = bounds.start;
  switch (start.kind) {
    case StartAt::Kind::kEarliest:
      position = bounds.start;
      break;
    case StartAt::Kind::kLatest:
      position = bounds.end;
      break;
    case StartAt::Kind::kOffset:
      if (start.offset > bounds.end) {
        return absl::OutOfRangeError(absl::StrCat("offset ", start.offset,
                                                  " is beyond the end of the partition (next offset ",
                                                  bounds.end, ")"));
      }
      position = std::max(start.offset, bounds.start);
      break;
  }
  return std::unique_ptr<PartitionReader>(
      new TailingReader(std::make_shared<State>(std::move(source), position)));
}

TailingReader::~TailingReader() { state_->Cancel(); }

void TailingReader::Next(size_t max_records, size_t max_bytes, ReadDone done) {
  state_->Next(max_records, max_bytes, std::move(done));
}

}  // namespace runnel::gateway
