#pragma once
// THE storage seam of the gateway: durable, ordered, partitioned logs of records ("streams"),
// consumer-group membership and group positions. Implementations: MemoryRecordStore
// (stores/memory_record_store.h), the file log (stores/file_record_store.h) and Kafka
// (stores/kafka_record_store.h). All pass record_store_conformance_test.cc.
//
// Threading contract, for every implementation:
//  - Every method may be called concurrently from any thread.
//  - Methods marked "never blocks" answer from memory and may be called from gRPC reactions.
//    Methods marked "may block" can wait on disk or a broker; the gateway calls them from its
//    own worker threads, never from a reaction.
//  - Asynchronous methods take a `done` callback last. It runs exactly once, either inline on
//    the caller's thread or on a store-owned thread (each method says which), must not block,
//    and must not call back into the store object whose callback it is (reader, membership)
//    except to request more (PartitionReader::Next).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runnel/v1/record.pb.h"

namespace runnel::gateway {

using Offset = int64_t;
using Partition = int32_t;

// What a stream is: its name, number of partitions and the media type of its records.
struct StreamSpec {
  std::string name;
  int32_t partitions = 1;
  std::string content_type = "application/octet-stream";
  // Set by the store when the stream is created.
  int64_t created_unix_ms = 0;
};

// A record and the offset it has in its partition.
struct StoredRecord {
  Offset offset = 0;
  v1::Record record;
};

// A stored record borrowed from the RecordBatch that holds it: every view stays valid while
// that batch lives. The same fields as StoredRecord, without a v1::Record (and its heap strings)
// per record, so that a front can encode its replies straight from the store's bytes.
struct RecordView {
  using Extension = std::pair<absl::string_view, absl::string_view>;  // (name, value)

  Offset offset = 0;
  int64_t timestamp_ms = 0;
  absl::string_view key;
  absl::string_view data;
  // CloudEvent attributes, as in v1::Record; an empty `id` means "not an event".
  absl::string_view id;
  absl::string_view type;
  absl::string_view source;
  absl::string_view time;
  absl::string_view data_content_type;
  absl::Span<const Extension> extensions;  // In no particular order.
};

// The record a view shows, with its own copies of the bytes.
StoredRecord ToStoredRecord(const RecordView& view);

// Records of one partition in offset order, with the bytes their views point into.
// PartitionReader::NextBatch delivers them. Move-only; one owner at a time (not thread-safe).
class RecordBatch {
 public:
  RecordBatch() = default;
  RecordBatch(RecordBatch&&) = default;
  RecordBatch& operator=(RecordBatch&&) = default;

  // Views of `records`, which the batch keeps: no bytes are copied.
  static RecordBatch FromStored(std::vector<StoredRecord> records);

  absl::Span<const RecordView> records() const { return views_; }
  size_t size() const { return views_.size(); }
  bool empty() const { return views_.empty(); }

  // Builds a batch from records it copies in: their bytes go into a few large buffers (one,
  // when `bytes_hint` covers them), never one allocation per record. Views handed to Add()
  // need only live until it returns.
  class Builder {
   public:
    // Hints: how many records, and how many bytes of keys, data, attributes and extensions.
    explicit Builder(size_t records_hint = 0, size_t bytes_hint = 0);
    void Add(const RecordView& record);
    RecordBatch Finish() &&;

   private:
    // Copies `bytes` into the current buffer (a new one if it is full) and views the copy.
    absl::string_view Copy(absl::string_view bytes);

    std::vector<RecordView> views_;
    std::vector<RecordView::Extension> extensions_;
    // Per view: where its extensions start in extensions_ (spans are set by Finish, once
    // extensions_ stops moving).
    std::vector<size_t> extension_starts_;
    std::vector<std::unique_ptr<char[]>> buffers_;
    char* free_ = nullptr;  // Next free byte of buffers_.back().
    size_t left_ = 0;       // Bytes left after free_.
    size_t bytes_hint_;
  };

 private:
  std::vector<RecordView> views_;
  // What the views point into: copies (Builder) or the records themselves (FromStored).
  // Moving a batch moves these vectors' heap buffers, so views stay valid.
  std::vector<RecordView::Extension> extensions_;
  std::vector<std::unique_ptr<char[]>> buffers_;
  std::vector<StoredRecord> stored_;
};

// The offsets of a partition: records [start, end) are readable; `end` is the offset the next
// appended record gets. start == end means the partition is empty (or all of it expired).
struct PartitionBounds {
  Offset start = 0;
  Offset end = 0;
};

// A consumer group as liiklus identifies it: a name and a version, 0 meaning "unversioned".
struct GroupId {
  std::string name;
  uint32_t version = 0;
  friend bool operator==(const GroupId&, const GroupId&) = default;
  friend auto operator<=>(const GroupId&, const GroupId&) = default;
};

// Last acknowledged offset per partition, per group version, for one group name.
using GroupPositions = std::map<uint32_t, std::map<Partition, Offset>>;

// Where a reader starts.
struct StartAt {
  enum class Kind { kOffset, kEarliest, kLatest } kind = Kind::kEarliest;
  // kOffset only. Below the partition's start it is raised to the start; above the end the
  // reader fails with OUT_OF_RANGE.
  Offset offset = 0;
  static StartAt Earliest() { return {Kind::kEarliest, 0}; }
  static StartAt Latest() { return {Kind::kLatest, 0}; }
  static StartAt At(Offset o) { return {Kind::kOffset, o}; }
};

// A change in which partitions of a stream a group member owns.
struct AssignmentChange {
  std::vector<Partition> revoked;
  std::vector<Partition> assigned;
};

// Reads one partition in order. Destroying a reader cancels a pending Next(); once the
// destructor returns no callback of it is running or will run. Destroy a reader from outside
// its own callback.
class PartitionReader {
 public:
  using ReadDone = absl::AnyInvocable<void(absl::StatusOr<std::vector<StoredRecord>>) &&>;
  using BatchDone = absl::AnyInvocable<void(absl::StatusOr<RecordBatch>) &&>;

  virtual ~PartitionReader() = default;

  // Delivers the next records (at least one, at most `max_records`, and about `max_bytes`),
  // waiting as long as it takes for one to be appended. At most one Next() or NextBatch() may
  // be pending. `done` runs inline when records are at hand, else on a store thread. Errors:
  // OUT_OF_RANGE (start beyond the end), NOT_FOUND (stream deleted), UNAVAILABLE (disk or
  // broker). CANCELLED is never delivered: destruction just drops the callback.
  virtual void Next(size_t max_records, size_t max_bytes, ReadDone done) = 0;

  // Next(), delivering a RecordBatch: what the gateway's receive paths use, since a store can
  // hand over its records without building a v1::Record per record. The same records, limits,
  // threads and errors as Next(). The default wraps Next(); the Kafka store overrides it.
  virtual void NextBatch(size_t max_records, size_t max_bytes, BatchDone done);
};

// Membership of one member in a consumer group of one stream. The callback given at join time
// receives assignment changes (serialized: never two at once); the first one carries the
// initial assignment. Destroying the membership leaves the group, which rebalances the
// remaining members; once the destructor returns its callback is not running and won't run.
class GroupMembership {
 public:
  virtual ~GroupMembership() = default;

  // Opens a reader on a partition this member is assigned. May block briefly, as
  // RecordStore::OpenReader.
  virtual absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(Partition partition,
                                                                      StartAt start) = 0;
};

class RecordStore {
 public:
  using AppendDone = absl::AnyInvocable<void(absl::StatusOr<Offset>) &&>;
  using CommitDone = absl::AnyInvocable<void(absl::Status) &&>;
  using AssignmentCallback = absl::AnyInvocable<void(AssignmentChange)>;

  virtual ~RecordStore() = default;

  // --- Streams (control plane) ---

  // Creates a stream. May block. Errors: ALREADY_EXISTS, INVALID_ARGUMENT (bad name or
  // partition count), UNAVAILABLE.
  virtual absl::StatusOr<StreamSpec> CreateStream(const StreamSpec& spec) = 0;
  // Deletes a stream with its records and group positions; open readers fail with NOT_FOUND.
  // May block. Errors: NOT_FOUND, UNAVAILABLE.
  virtual absl::Status DeleteStream(absl::string_view name) = 0;
  // Never blocks. Errors: NOT_FOUND.
  virtual absl::StatusOr<StreamSpec> GetStream(absl::string_view name) = 0;
  // Never blocks. Sorted by name.
  virtual std::vector<StreamSpec> ListStreams() = 0;

  // --- Records (data plane) ---

  // Appends `records` to one partition, atomically and in order, and stamps each with the
  // store's timestamp. On success `done` receives the offset of the first record, once the
  // records are as durable as the store promises (file log: per its fsync policy). `done` runs
  // inline or on a store thread. Errors: NOT_FOUND (stream or partition), UNAVAILABLE
  // (disk or broker; retryable), RESOURCE_EXHAUSTED (too many appends pending; retryable).
  virtual void Append(absl::string_view stream, Partition partition,
                      std::vector<v1::Record> records, AppendDone done) = 0;

  // First and next offset of a partition. May block (Kafka asks the broker).
  // Errors: NOT_FOUND, UNAVAILABLE.
  virtual absl::StatusOr<PartitionBounds> GetBounds(absl::string_view stream,
                                                    Partition partition) = 0;

  // Opens a reader outside any group. Errors: NOT_FOUND, OUT_OF_RANGE. May block briefly: the
  // Kafka store resolves the start to an offset with one bounded broker query.
  virtual absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(absl::string_view stream,
                                                                      Partition partition,
                                                                      StartAt start) = 0;

  // --- Consumer groups ---

  // Joins `group` on `stream`. `on_change` runs on a store thread or inline (the initial
  // assignment may be delivered before JoinGroup returns). Never blocks.
  // Errors: NOT_FOUND (stream).
  virtual absl::StatusOr<std::unique_ptr<GroupMembership>> JoinGroup(
      absl::string_view stream, const GroupId& group, AssignmentCallback on_change) = 0;

  // Stores `offset` as the group's last acknowledged offset in `partition` (verbatim: a lower
  // offset rewinds, as in liiklus). Durable before `done` runs OK. Errors: NOT_FOUND,
  // UNAVAILABLE.
  virtual void CommitPosition(absl::string_view stream, const GroupId& group, Partition partition,
                              Offset offset, CommitDone done) = 0;

  // Every version's positions of group `group_name` on `stream`. May block.
  virtual absl::StatusOr<GroupPositions> GetPositions(absl::string_view stream,
                                                      absl::string_view group_name) = 0;
};

// --- Shared validation used by every store ---

// OK if `name` is a valid stream name: [A-Za-z0-9._-]{1,249}, not "." or "..".
absl::Status ValidateStreamName(absl::string_view name);
// OK if `spec` has a valid name, 1..kMaxPartitions partitions and a media type "type/subtype".
absl::Status ValidateStreamSpec(const StreamSpec& spec);
inline constexpr int32_t kMaxPartitions = 1024;

// Which store to open, and its settings.
struct RecordStoreOptions {
  enum class Kind { kMemory, kFile, kKafka } kind = Kind::kFile;

  struct File {
    std::string data_dir = "./runnel-data";
    uint64_t segment_bytes = 64ull << 20;
    uint64_t retention_bytes = 0;  // Per partition; 0 = unlimited.
    uint64_t retention_ms = 0;     // 0 = forever.
    enum class Fsync { kAlways, kInterval } fsync = Fsync::kAlways;
    uint32_t fsync_interval_ms = 100;
  } file;

  struct Memory {
    uint64_t max_records_per_partition = 1'000'000;
    uint64_t max_bytes_per_partition = 256ull << 20;
  } memory;

  struct Kafka {
    std::string bootstrap_servers;
    std::map<std::string, std::string> properties;
    int32_t replication_factor = 1;
  } kafka;
};

// Opens the store `options` describes. Errors: INVALID_ARGUMENT (bad options), UNIMPLEMENTED
// (Kafka in a build without it), UNAVAILABLE/DATA_LOSS from opening the file log.
absl::StatusOr<std::unique_ptr<RecordStore>> OpenRecordStore(const RecordStoreOptions& options);

}  // namespace runnel::gateway
