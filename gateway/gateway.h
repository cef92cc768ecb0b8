#pragma once
// The gateway's semantic core, shared by its fronts (liiklus gRPC, runnel.v1 gRPC, HTTP):
// publishing with validation and partitioning, consumer-group sessions, and metrics. It holds
// no transport types; the fronts turn its Status results into gRPC statuses or HTTP codes.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "gateway/liiklus_semantics.h"
#include "gateway/partitioner.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

struct GatewayOptions {
  // Publishing to (or subscribing on) an unknown stream creates it with one partition and
  // content type "*/*" instead of failing with NOT_FOUND.
  bool auto_create_streams = false;
  // Largest accepted record, serialized (data, key and attributes). RESOURCE_EXHAUSTED past it.
  uint64_t max_record_bytes = 1 << 20;
};

struct RecordPosition {
  Partition partition = 0;
  Offset offset = 0;
};

// --- Arguments from clients ---
// A partition number as a client sent it (uint32 on gRPC, any integer on HTTP), checked before
// it narrows to Partition so that it never wraps onto another partition or prints as a negative
// number: NOT_FOUND naming the stream beyond the largest partition a stream can have.
absl::StatusOr<Partition> ClientPartition(absl::string_view stream, uint64_t partition);
// An offset as a client sent it, checked before it narrows to Offset: OUT_OF_RANGE beyond the
// largest offset a partition can hold (2^63 - 1), which no partition reaches.
absl::StatusOr<Offset> ClientOffset(absl::string_view stream, Partition partition, uint64_t offset);

// Receives what happens to one subscription. Calls come from store threads, one at a time.
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  virtual void OnAssigned(const std::string& session_id,
                          const std::vector<Partition>& partitions) = 0;
};

// A partition reader attached to a session (a Receive call), ended when its partition is
// revoked or its session ends.
class SessionReceiver {
 public:
  virtual ~SessionReceiver() = default;
  // Ends the receive stream: OK when its partition moved to another member or its session
  // ended, UNAVAILABLE when the gateway shuts down. Runs with the session's lock held: must not
  // block or call into the session.
  virtual void Revoke(const absl::Status& why) = 0;
};

// A long-lived call (a stream) that shutdown asks to end.
class DrainableCall {
 public:
  virtual ~DrainableCall() = default;
  // Ends the call soon (UNAVAILABLE, or OK once in-flight work is done). Runs with the
  // gateway's call-tracking lock held: must not block or call back into the gateway.
  virtual void Drain() = 0;
};

class Gateway;

// One Subscribe call: a member of a consumer group on one stream, with the partitions it owns
// and the Receive calls reading them. Thread-safe.
class Session {
 public:
  const std::string& id() const { return id_; }
  const std::string& topic() const { return topic_; }
  const GroupId& group() const { return group_; }
  liiklus::SubscribeRequest::AutoOffsetReset reset() const { return reset_; }

  // Attaches `receiver` to `partition`. FAILED_PRECONDITION if the session does not own the
  // partition (any more); ALREADY_EXISTS if another Receive reads it.
  absl::Status Attach(Partition partition, SessionReceiver* receiver);
  // Detaches `receiver`; after it returns Revoke() is not running and won't be called.
  void Detach(Partition partition, SessionReceiver* receiver);

  // Opens a reader on an owned partition through the group membership.
  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(Partition partition, StartAt start);

 private:
  friend class Gateway;
  Session(std::string id, std::string topic, GroupId group,
          liiklus::SubscribeRequest::AutoOffsetReset reset)
      : id_(std::move(id)), topic_(std::move(topic)), group_(std::move(group)), reset_(reset) {}

  void OnChange(const AssignmentChange& change);
  // Revokes every receiver with `why` and stops listening. After it returns no listener call
  // runs.
  void Close(const absl::Status& why);

  const std::string id_;
  const std::string topic_;
  const GroupId group_;
  const liiklus::SubscribeRequest::AutoOffsetReset reset_;
  absl::Mutex mu_;
  std::set<Partition> owned_ ABSL_GUARDED_BY(mu_);
  std::map<Partition, SessionReceiver*> receivers_ ABSL_GUARDED_BY(mu_);
  SessionListener* listener_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Moved out in Close() and destroyed outside mu_: leaving the group may call OnChange.
  std::unique_ptr<GroupMembership> membership_ ABSL_GUARDED_BY(mu_);
};

// Thread-safe. Publish and session calls never block; stream administration may.
class Gateway {
 public:
  using PublishDone = absl::AnyInvocable<void(absl::StatusOr<std::vector<RecordPosition>>) &&>;

  Gateway(RecordStore* store, MetricsRegistry* metrics, GatewayOptions options);
  ~Gateway();

  RecordStore& store() { return *store_; }
  const GatewayOptions& options() const { return options_; }

  // The stream, created first when missing and auto-create is on. NOT_FOUND otherwise.
  absl::StatusOr<StreamSpec> ResolveStream(absl::string_view topic);

  // Validates and publishes `records` to `topic`: content types conformed to the stream's,
  // sizes checked, each record partitioned (key hash, else `partition` when given, else the
  // keyless rule), one atomic append per partition. `done` gets each record's position in
  // order, once every append is durable, on a store thread or inline. Errors: NOT_FOUND,
  // INVALID_ARGUMENT (content type, bad partition), RESOURCE_EXHAUSTED (too large), and the
  // store's. When a batch spans partitions and one append fails, the others may have landed.
  void Publish(absl::string_view topic, std::vector<v1::Record> records,
               std::optional<Partition> partition, PublishDone done);

  // Starts a group session on `topic`; `listener` hears of assignments (possibly before this
  // returns) until EndSession.
  absl::StatusOr<std::shared_ptr<Session>> StartSession(absl::string_view topic,
                                                        const GroupId& group,
                                                        liiklus::SubscribeRequest::AutoOffsetReset reset,
                                                        SessionListener* listener);
  std::shared_ptr<Session> FindSession(absl::string_view id);
  // Leaves the group and revokes the session's receivers. After it returns the listener is not
  // called again.
  void EndSession(const std::shared_ptr<Session>& session);

  // Remembers that `group` consumes `topic`, for lag metrics.
  void NoteGroup(absl::string_view topic, absl::string_view group_name);
  // Counts records delivered to consumers.
  void CountDelivered(absl::string_view topic, size_t records, size_t bytes);
  // Counts a failed request by front ("grpc", "http"), method and status code.
  void CountError(absl::string_view front, absl::string_view method, absl::StatusCode code);
  Histogram& PublishLatency(absl::string_view front);

  // --- Graceful shutdown ---
  // Calls register while they run. Both return false once draining began: answer UNAVAILABLE.
  [[nodiscard]] bool BeginCall();
  void EndCall();
  [[nodiscard]] bool TrackStream(DrainableCall* call);
  // After it returns Drain() is not running on `call` and won't be called.
  void UntrackStream(DrainableCall* call);
  // Refuses new calls, drains every tracked stream and waits (up to `grace`) until every call
  // has ended. Returns false if some were still running at the deadline.
  bool Drain(absl::Duration grace);

 private:
  struct StreamCounters {
    Counter* records_in;
    Counter* bytes_in;
    Counter* records_out;
    Counter* bytes_out;
    KeylessPartitioner keyless;
  };
  StreamCounters& CountersFor(absl::string_view topic);
  void CollectGauges(std::string* out);

  RecordStore* const store_;
  MetricsRegistry* const metrics_;
  const GatewayOptions options_;

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<StreamCounters>, std::less<>> counters_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<std::string>, std::less<>> groups_ ABSL_GUARDED_BY(mu_);

  absl::Mutex calls_mu_;
  bool draining_ ABSL_GUARDED_BY(calls_mu_) = false;
  int64_t calls_ ABSL_GUARDED_BY(calls_mu_) = 0;
  std::set<DrainableCall*> streams_ ABSL_GUARDED_BY(calls_mu_);
};

}  // namespace runnel::gateway
