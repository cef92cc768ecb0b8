#pragma once
// The processor's side of the gateway protocol, over proto/ only (liiklus + runnel.v1):
//   InputReader  Subscribe per input, ReceiveBatches per assignment, each received batch handed
//                to a sink that may block (that is the backpressure: no Read is issued while it
//                blocks). Against a plain liiklus (ReceiveBatches UNIMPLEMENTED) it receives with
//                liiklus Receive instead, one reply per record, handed over in batches all the
//                same.
//   Publisher    PublishBatches for one output stream: batched (by records and by bytes),
//                pipelined, bounded in flight, replies in order; a broken stream is reopened and
//                unacknowledged batches resent. A batch the gateway refuses for good
//                (IsPermanentPublishError: a record it does not take, or one too large) fails its
//                group instead of being resent forever. Callers hand over groups of records and
//                hear once per group. Against a plain liiklus (PublishBatches UNIMPLEMENTED before
//                any reply) it publishes with liiklus Publish, one unary call per record, several
//                in flight but one per key (KeyLanes), with the same contract.
//   Acker        liiklus Ack, at most one in flight per partition so positions never go back.
//
// Threading: InputReader and Publisher own a few std::jthreads each and use the synchronous
// gRPC API on them (never a gRPC reaction thread), except for the liiklus fallbacks: Receive and
// Publish run on the callback API, whose reactions only buffer and signal a std::jthread. Acker
// uses the callback API and never blocks.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "liiklus/LiiklusService.grpc.pb.h"
#include "common/metrics.h"
#include "runnel/v1/gateway.grpc.pb.h"
#include "sidecar/key_lanes.h"
#include "sidecar/retry_policy.h"

namespace runnel::sidecar {

namespace liiklus = ::com::github::bsideup::liiklus;

// Sleeps `d` unless `stop` is requested first; false when stopped.
bool SleepUnlessStopped(std::stop_token stop, absl::Duration d);

// One record received from an input partition.
struct InputRecord {
  int input = 0;
  uint32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  liiklus::LiiklusEvent event;
  absl::Time timestamp = absl::InfinitePast();  // The store's append time; InfinitePast: none.
};

// Whether a runnel.v1 call (ReceiveBatches, PublishBatches) that ended with `status` after
// `answered` replies says the gateway is a plain liiklus: UNIMPLEMENTED before any reply. Once
// something was answered the extension exists, and UNIMPLEMENTED is an error like any other.
bool IsPlainLiiklus(const absl::Status& status, bool answered);

struct InputReaderOptions {
  int input = 0;  // Index of the input, copied into every record.
  std::string topic;
  std::string group;
  bool start_latest = false;
  int max_records = 500;
  RetryOptions retry;
};

// Reads one input stream as a member of the group. Thread-safe.
class InputReader {
 public:
  // Takes the records of one received batch (one partition, in offset order), leaving the
  // vector empty (its capacity is reused for the next batch); may block; returns false to stop
  // reading (shutdown).
  using Sink = std::function<bool(std::vector<InputRecord>&)>;
  // Reports (re)subscriptions and failures, for logs and health.
  using OnState = std::function<void(absl::Status)>;

  InputReader(std::shared_ptr<grpc::Channel> channel, InputReaderOptions options, Sink sink,
              OnState on_state);
  ~InputReader();  // Stops.
  void Start();
  // Cancels the calls and joins the threads. Idempotent.
  void Stop();

 private:
  enum class ReceiveApi { kUnknown, kBatches, kLiiklus };

  void SubscribeLoop(std::stop_token stop);
  // Returns the status the Receive ended with.
  absl::Status ReceiveLoop(std::stop_token stop, const liiklus::Assignment& assignment);
  // runnel.v1 ReceiveBatches; `answered` tells whether any reply came.
  absl::Status ReceiveBatchesLoop(std::stop_token stop, const liiklus::Assignment& assignment,
                                  bool* answered);
  // liiklus Receive (LIIKLUS_EVENT), one reply per record: replies are buffered by the call's
  // reactions (at most max_records) and handed over together, so the lane still wakes per batch.
  absl::Status LiiklusReceiveLoop(std::stop_token stop, const liiklus::Assignment& assignment);
  // Moves a LIIKLUS_EVENT reply of `partition` into `records`; false for any other format.
  bool TakeEventRecord(liiklus::ReceiveReply& reply, uint32_t partition,
                       std::vector<InputRecord>& records) const;
  // Records the API this reader uses; logs the first choice (and a fallback) at INFO.
  void UseApi(ReceiveApi api);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<liiklus::LiiklusService::Stub> liiklus_;
  std::unique_ptr<v1::Gateway::Stub> gateway_;
  const InputReaderOptions options_;
  Sink sink_;
  OnState on_state_;
  // Learnt from the gateway: once it answered UNIMPLEMENTED, every receiver uses liiklus Receive.
  std::atomic<ReceiveApi> api_{ReceiveApi::kUnknown};
  std::jthread thread_;
};

// Whether a PublishBatches stream that ended with `code` refused its oldest unacknowledged batch
// for good: resending the same records would be refused again. INVALID_ARGUMENT (a record the
// stream does not take, e.g. a content type that does not fit), FAILED_PRECONDITION, NOT_FOUND
// (no such stream or partition) and OUT_OF_RANGE. Everything else (UNAVAILABLE,
// RESOURCE_EXHAUSTED, CANCELLED, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, ...) is a broken stream:
// the batches are resent after a back-off.
bool IsPermanentPublishError(absl::StatusCode code);

// Whether `status` refuses a record (or a request) for its size. RESOURCE_EXHAUSTED is the
// gateway's backpressure (a store's write queue is full, too many calls at once: retried) and
// also its answer to a record over its --max-record-bytes ("record of N bytes is larger than the
// limit of M bytes"), as it is gRPC's to a message over the receiver's limit ("Received message
// larger than max (N vs. M)"). Resending such a record is refused again; only the message tells
// the two apart.
bool IsTooLargePublishError(const absl::Status& status);

// IsPermanentPublishError(status.code()) or IsTooLargePublishError(status).
bool IsPermanentPublishError(const absl::Status& status);

struct PublisherOptions {
  std::string topic;
  int batch_records = 500;
  // Most bytes of records (serialized) per PublishBatches request, well below the gateway's gRPC
  // message limit (64 MiB for runnel-gateway): a batch ends before the record that would take it
  // past this. A larger record travels alone.
  size_t batch_bytes = 4 << 20;
  int inflight_batches = 8;
  // Against a plain liiklus only: liiklus Publish calls in flight (one per record; at most one
  // per key, so that a key's records, and keyless ones, keep their order).
  int inflight_records = 64;
  RetryOptions retry;
  // A batch refused for good (IsPermanentPublishError): true fails the groups it holds with the
  // gateway's status (a batch holding several groups is first resent one group per batch, so
  // that only the refused group fails); false keeps resending it after `retry` back-off, logged
  // as an error at most once a minute (the dead-letter stream: there is nowhere else to go).
  bool fail_refused = true;
  // Counts refused batches (optional; e.g. runnel_processor_publish_refused_total).
  Counter* refused = nullptr;
  // Names a refused record in the log (optional; e.g. its input coordinates).
  std::function<std::string(const liiklus::PublishRequest&)> describe;
  // Runs whenever records leave the publisher, with how many: acknowledged by the gateway, or
  // dropped (the rest of a group refused for good, everything at Stop). On a Publisher thread or
  // Stop's caller, without locks held; must not block. Optional; the processor's OutputBudget.
  std::function<void(size_t records)> on_settled;
};

// Publishes records to one stream. Thread-safe.
class Publisher {
 public:
  // Runs on a Publisher thread once every record of its group is durable (OK), once with the
  // gateway's status when it refused a batch of the group for good (fail_refused; the group's
  // records not yet durable are then dropped), or once with CANCELLED at Stop(). Must not block.
  using Done = absl::AnyInvocable<void(absl::Status) &&>;

  Publisher(std::shared_ptr<grpc::Channel> channel, PublisherOptions options);
  ~Publisher();  // Stops.
  // Queues `records` (their topic is set here), in order; `done` runs once for the group. An
  // empty group completes at once. Never blocks; callers bound what they queue (the processor's
  // OutputBudget, fed by on_settled).
  void Publish(std::vector<liiklus::PublishRequest> records, Done done);
  // Fails what is queued or in flight with CANCELLED and joins the threads. Idempotent.
  void Stop();
  size_t queued() const;

 private:
  struct Group {
    size_t remaining = 0;  // Records not yet acknowledged.
    Done done;             // Empty once run.
    bool failed = false;   // Refused for good: its records still queued are dropped.
    bool isolate = false;  // Was in a refused batch with other groups: sent in batches alone.
  };
  struct Pending {
    liiklus::PublishRequest record;
    std::shared_ptr<Group> group;
    size_t bytes = 0;  // record.ByteSizeLong().
  };
  // One PublishBatches request: written as is, kept until its reply (resent if the stream
  // breaks first). `groups` says, run-length, which group each record belongs to.
  struct Batch {
    v1::PublishBatchRequest request;
    std::vector<std::pair<std::shared_ptr<Group>, size_t>> groups;
  };
  // A liiklus Publish in flight (the fallback). Owned by its callback until it has run.
  struct UnaryCall {
    grpc::ClientContext context;
    liiklus::PublishRequest request;
    liiklus::PublishReply reply;
    std::string key;
    std::shared_ptr<Group> group;
    size_t bytes = 0;
    grpc::Status status;  // Set by the callback.
  };
  void WriterLoop(std::stop_token stop);
  void Settled(size_t records) const;
  // The fallback: publishes the queue with liiklus Publish until stop, then waits for its calls.
  void UnaryLoop(std::stop_token stop);
  // One PublishBatches call, until it breaks or stop. Unacked batches go back to the queue.
  absl::Status Session(std::stop_token stop);

  std::unique_ptr<v1::Gateway::Stub> stub_;
  std::unique_ptr<liiklus::LiiklusService::Stub> liiklus_;
  const PublisherOptions options_;
  std::string refused_detail_;                // Writer thread: what the last refusal was.
  absl::Time refusal_logged_ = absl::InfinitePast();  // Writer thread.
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Pending> queue_;                    // Guarded by mu_.
  std::deque<std::shared_ptr<Batch>> inflight_;  // Guarded by mu_; written, awaiting replies.
  bool session_broken_ = false;                  // Guarded by mu_.
  bool answered_ = false;  // Guarded by mu_: a PublishBatches reply came (runnel.v1 exists).
  // The fallback's records per key, queued or in flight (guarded by mu_), the calls in flight
  // (guarded by mu_) and the ones whose callback ran, for the writer (guarded by mu_).
  KeyLanes<Pending> lanes_;
  std::vector<std::shared_ptr<UnaryCall>> calls_;
  std::vector<std::shared_ptr<UnaryCall>> finished_;
  std::jthread writer_;
};

// Acknowledges input positions. Thread-safe; never blocks.
class Acker {
 public:
  Acker(std::shared_ptr<grpc::Channel> channel, std::string topic, std::string group);
  ~Acker();  // Waits for calls in flight.
  // Stores `offset` as the group's position in `partition` (the gateway resumes after it).
  // Lower-or-equal offsets than one already sent are ignored.
  void Ack(uint32_t partition, int64_t offset);
  // Re-sends positions whose last Ack failed.
  void RetryFailed();
  // Waits until no Ack is in flight or `timeout` passes; true when idle.
  bool WaitIdle(absl::Duration timeout);
  uint64_t acks_sent() const;

 private:
  struct PartitionState {
    int64_t sent = -1;     // Offset of the Ack in flight or last succeeded.
    int64_t wanted = -1;   // Highest offset asked for.
    bool in_flight = false;
    bool failed = false;
  };
  // Marks an Ack of state.wanted in flight; returns the function that starts it (call it
  // without mu_ held).
  std::function<void()> PrepareLocked(uint32_t partition, PartitionState& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAckDone(uint32_t partition, int64_t offset, grpc::Status status);

  std::unique_ptr<liiklus::LiiklusService::Stub> stub_;
  const std::string topic_;
  const std::string group_;
  mutable absl::Mutex mu_;
  std::map<uint32_t, PartitionState> partitions_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acks_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

// Per partition of `topic`, how far `group` is behind its end, as KEDA's liiklus scaler counts
// it: the partition's end offset (GetEndOffsets: the offset of its last record) minus the
// group's acknowledged position (GetOffsets; 0 when it has none), never below 0.
absl::StatusOr<std::map<uint32_t, int64_t>> LookUpLag(const std::shared_ptr<grpc::Channel>& channel,
                                                      const std::string& topic,
                                                      const std::string& group);

// The stream's content type from runnel.v1 GetStream; "*/*" when the gateway does not implement
// runnel.v1 (a plain liiklus). Other errors are returned (NOT_FOUND, UNAVAILABLE, ...).
absl::StatusOr<std::string> LookUpContentType(const std::shared_ptr<grpc::Channel>& channel,
                                              const std::string& stream);

// How many partitions `stream` has (runnel.v1 GetStream; 1 from a plain liiklus).
absl::StatusOr<int> LookUpPartitionCount(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& stream);

}  // namespace runnel::sidecar
