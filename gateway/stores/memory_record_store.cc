#include "gateway/stores/memory_record_store.h"

#include <deque>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "gateway/group_coordinator.h"
#include "gateway/stores/tailing_reader.h"

namespace runnel::gateway {
namespace {

class MemoryPartition final : public PartitionSource {
 public:
  MemoryPartition(uint64_t max_records, uint64_t max_bytes)
      : max_records_(max_records), max_bytes_(max_bytes) {}

  Offset Append(std::vector<v1::Record> records, int64_t now_ms) {
    Offset first, end;
    {
      absl::MutexLock lock(&mu_);
      first = start_ + static_cast<Offset>(records_.size());
      for (v1::Record& r : records) {
        r.set_timestamp_ms(now_ms);
        bytes_ += r.ByteSizeLong();
        records_.push_back(std::move(r));
      }
      while (!records_.empty() &&
             (records_.size() > max_records_ || (bytes_ > max_bytes_ && records_.size() > 1))) {
        bytes_ -= records_.front().ByteSizeLong();
        records_.pop_front();
        ++start_;
      }
      end = start_ + static_cast<Offset>(records_.size());
    }
    notifier_.Advance(end);
    return first;
  }

  absl::StatusOr<std::vector<StoredRecord>> ReadAt(Offset from, size_t max_records,
                                                   size_t max_bytes) override {
    absl::MutexLock lock(&mu_);
    if (deleted_) {
      return absl::NotFoundError("stream was deleted");
    }
    const Offset end = start_ + static_cast<Offset>(records_.size());
    if (from > end) {
      return absl::OutOfRangeError(
          absl::StrCat("offset ", from, " is beyond the end of the partition (next offset ", end, ")"));
    }
    from = std::max(from, start_);
    std::vector<StoredRecord> out;
    size_t bytes = 0;
    for (Offset o = from; o < end && out.size() < max_records; ++o) {
      const v1::Record& r = records_[static_cast<size_t>(o - start_)];
      bytes += r.ByteSizeLong();
      if (!out.empty() && bytes > max_bytes) {
        break;
      }
      out.push_back({o, r});
    }
    return out;
  }

  PartitionBounds Bounds() override {
    absl::MutexLock lock(&mu_);
    return {start_, start_ + static_cast<Offset>(records_.size())};
  }

  AppendNotifier& notifier() override { return notifier_; }

  void MarkDeleted() {
    {
      absl::MutexLock lock(&mu_);
      deleted_ = true;
    }
    notifier_.Fail();
  }

 private:
  const uint64_t max_records_;
  const uint64_t max_bytes_;
  absl::Mutex mu_;
  std::deque<v1::Record> records_ ABSL_GUARDED_BY(mu_);
  Offset start_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool deleted_ ABSL_GUARDED_BY(mu_) = false;
  AppendNotifier notifier_;
};

struct MemoryStream {
  StreamSpec spec;
  std::vector<std::shared_ptr<MemoryPartition>> partitions;
  // group name -> version -> partition -> offset
  std::map<std::string, GroupPositions, std::less<>> positions;
};

class MemoryMembership final : public GroupMembership {
 public:
  MemoryMembership(std::unique_ptr<LocalGroupCoordinator::Member> member,
                   std::vector<std::shared_ptr<MemoryPartition>> partitions,
                   LocalGroupCoordinator* coordinator)
      : partitions_(std::move(partitions)), coordinator_(coordinator), member_(std::move(member)) {}

  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(Partition partition,
                                                              StartAt start) override {
    if (partition < 0 || partition >= static_cast<Partition>(partitions_.size())) {
      return absl::NotFoundError(absl::StrCat("partition ", partition, " does not exist"));
    }
    return TailingReader::Open(partitions_[partition], start);
  }

 private:
  std::vector<std::shared_ptr<MemoryPartition>> partitions_;
  [[maybe_unused]] LocalGroupCoordinator* coordinator_;
  std::unique_ptr<LocalGroupCoordinator::Member> member_;
};

class MemoryRecordStore final : public RecordStore {
 public:
  explicit MemoryRecordStore(const MemoryRecordStoreOptions& options)
      : options_(options), clock_(options.clock ? options.clock : &SystemClock::Get()) {}

  absl::StatusOr<StreamSpec> CreateStream(const StreamSpec& spec) override {
    RUNNEL_RETURN_IF_ERROR(ValidateStreamSpec(spec));
    absl::MutexLock lock(&mu_);
    if (streams_.contains(spec.name)) {
      return absl::AlreadyExistsError(absl::StrCat("stream '", spec.name, "' already exists"));
    }
    auto stream = std::make_shared<MemoryStream>();
    stream->spec = spec;
    stream->spec.created_unix_ms = absl::ToUnixMillis(clock_->Now());
    for (int32_t p = 0; p < spec.partitions; ++p) {
      stream->partitions.push_back(std::make_shared<MemoryPartition>(
          options_.max_records_per_partition, options_.max_bytes_per_partition));
    }
    streams_[spec.name] = stream;
    return stream->spec;
  }

  absl::Status DeleteStream(absl::string_view name) override {
    std::shared_ptr<MemoryStream> stream;
    {
      absl::MutexLock lock(&mu_);
      auto it = streams_.find(name);
      if (it == streams_.end()) {
        return NoSuchStream(name);
      }
      stream = std::move(it->second);
      streams_.erase(it);
    }
    for (auto& p : stream->partitions) {
      p->MarkDeleted();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StreamSpec> GetStream(absl::string_view name) override {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(name);
    if (it == streams_.end()) {
      return NoSuchStream(name);
    }
    return it->second->spec;
  }

  std::vector<StreamSpec> ListStreams() override {
    absl::MutexLock lock(&mu_);
    std::vector<StreamSpec> out;
    for (auto& [name, s] : streams_) {
      out.push_back(s->spec);
    }
    return out;
  }

  void Append(absl::string_view stream, Partition partition, std::vector<v1::Record> records,
              AppendDone done) override {
    absl::StatusOr<std::shared_ptr<MemoryPartition>> p = FindPartition(stream, partition);
    if (!p.ok()) {
      std::move(done)(p.status());
      return;
    }
    const Offset first = (*p)->Append(std::move(records), absl::ToUnixMillis(clock_->Now()));
    std::move(done)(first);
  }

  absl::StatusOr<PartitionBounds> GetBounds(absl::string_view stream, Partition partition) override {
    auto p = FindPartition(stream, partition);
    if (!p.ok()) {
      return p.status();
    }
    return (*p)->Bounds();
  }

  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(absl::string_view stream,
                                                              Partition partition,
                                                              StartAt start) override {
    auto p = FindPartition(stream, partition);
    if (!p.ok()) {
      return p.status();
    }
    return TailingReader::Open(*std::move(p), start);
  }

  absl::StatusOr<std::unique_ptr<GroupMembership>> JoinGroup(
      absl::string_view stream, const GroupId& group, AssignmentCallback on_change) override {
    std::shared_ptr<MemoryStream> s;
    {
      absl::MutexLock lock(&mu_);
      auto it = streams_.find(stream);
      if (it == streams_.end()) {
        return NoSuchStream(stream);
      }
      s = it->second;
    }
    auto member = coordinator_.Join(std::string(stream), group, s->spec.partitions,
                                    std::move(on_change));
    return std::unique_ptr<GroupMembership>(
        new MemoryMembership(std::move(member), s->partitions, &coordinator_));
  }

  void CommitPosition(absl::string_view stream, const GroupId& group, Partition partition,
                      Offset offset, CommitDone done) override {
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      auto it = streams_.find(stream);
      if (it == streams_.end()) {
        status = NoSuchStream(stream);
      } else if (partition < 0 || partition >= it->second->spec.partitions) {
        status = NoSuchPartition(stream, partition);
      } else {
        it->second->positions[group.name][group.version][partition] = offset;
      }
    }
    std::move(done)(status);
  }

  absl::StatusOr<GroupPositions> GetPositions(absl::string_view stream,
                                              absl::string_view group_name) override {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(stream);
    if (it == streams_.end()) {
      return NoSuchStream(stream);
    }
    auto g = it->second->positions.find(group_name);
    if (g == it->second->positions.end()) {
      return GroupPositions{};
    }
    return g->second;
  }

 private:
  static absl::Status NoSuchStream(absl::string_view name) {
    return absl::NotFoundError(absl::StrCat("stream '", name, "' does not exist"));
  }
  static absl::Status NoSuchPartition(absl::string_view name, Partition p) {
    return absl::NotFoundError(absl::StrCat("stream '", name, "' has no partition ", p));
  }

  absl::StatusOr<std::shared_ptr<MemoryPartition>> FindPartition(absl::string_view stream,
                                                                 Partition partition) {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(stream);
    if (it == streams_.end()) {
      return NoSuchStream(stream);
    }
    if (partition < 0 || partition >= it->second->spec.partitions) {
      return NoSuchPartition(stream, partition);
    }
    return it->second->partitions[partition];
  }

  const MemoryRecordStoreOptions options_;
  const Clock* const clock_;
  LocalGroupCoordinator coordinator_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<MemoryStream>, std::less<>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<RecordStore> NewMemoryRecordStore(const MemoryRecordStoreOptions& options) {
  return std::make_unique<MemoryRecordStore>(options);
}

}  // namespace runnel::gateway
