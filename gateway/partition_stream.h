#pragma once
// The server-streaming reactor behind liiklus's Receive and runnel.v1's ReceiveBatches and Read:
// streams one partition's records, from a resolved start, until the client cancels, the
// partition is revoked from its session, or the stream fails.
//
// Flow: the reader's NextBatch() fills an outbox; each message is written in turn (one write in
// flight). The next NextBatch() is issued once at most one message is queued (the one being
// written), so the next store read overlaps the current write, and a slow client holds reads
// back (backpressure by withholding reads; at most two reads' worth of replies are queued).
// Two tokens order the calls: the write slot (only its holder calls StartWrite) and the issue
// slot (held while NextBatch() is being called). Finish is called once neither is held, so it
// never races a write and comes after the last one, and OnDone (which destroys the reader)
// never runs while NextBatch() is being called.
//
// The methods are registered raw (grpc::ByteBuffer in and out): replies are serialized straight
// from the store's record views (gateway/receive_encoder.h), with no reply message per record.
// The wire format is unchanged; clients see liiklus.ReceiveReply / runnel.v1.ReceiveBatchesReply.

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/executor.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "gateway/gateway.h"
#include "gateway/grpc_calls.h"
#include "gateway/receive_encoder.h"
#include "runnel/v1/gateway.pb.h"

namespace runnel::gateway {

struct PartitionStreamParams {
  std::string topic;
  Partition partition = 0;
  liiklus::ReceiveRequest::ContentFormat format = liiklus::ReceiveRequest::BINARY;
  // Set for group reads (Receive): the session that owns the partition.
  std::shared_ptr<Session> session;
  uint64_t last_known_offset = 0;
  // For direct reads (Read): where to start.
  StartAt start;
  size_t max_records = 500;
  size_t max_bytes = 1 << 20;
  // One v1::ReceiveBatchesReply per store read (ReceiveBatches, Read), or one
  // liiklus::ReceiveReply per record (Receive).
  bool batched = true;
};

// `bytes` as a message to write, without copying them.
inline grpc::ByteBuffer OwningByteBuffer(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

class PartitionStreamReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                                     public SessionReceiver,
                                     public DrainableCall {
 public:
  // Starts on `blocking` (resolving the start may ask the store for positions).
  PartitionStreamReactor(Gateway* gateway, Executor* blocking, PartitionStreamParams params)
      : gateway_(gateway), params_(std::move(params)) {
    tracked_ = gateway_->TrackStream(this);
    if (!tracked_) {
      {
        absl::MutexLock lock(&mu_);
        starting_ = false;
        finish_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is shutting down");
      }
      Pump();
      return;
    }
    if (!blocking->Submit([this] { Start(); })) {
      {
        absl::MutexLock lock(&mu_);
        starting_ = false;
        finish_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "gateway is overloaded: too many calls starting at once");
      }
      Pump();
    }
  }

  // SessionReceiver
  void Revoke(const absl::Status& why) override { FinishWith(ToGrpcStatus(why)); }
  // DrainableCall
  void Drain() override {
    FinishWith(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is shutting down"));
  }

 private:
  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      outbox_.pop_front();
      if (!ok && !finish_) {
        finish_ = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
    Pump();
  }
  void OnCancel() override {
    RUNNEL_LOG(DEBUG) << "receive cancelled" << Kv("stream", params_.topic);
    FinishWith(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }
  void OnDone() override {
    RUNNEL_LOG(DEBUG) << "receive done" << Kv("stream", params_.topic);
    if (attached_) {
      params_.session->Detach(params_.partition, this);
    }
    reader_.reset();  // Waits out a reader callback in progress.
    if (tracked_) gateway_->UntrackStream(this);
    delete this;
  }

  void FinishWith(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (!finish_) finish_ = std::move(status);
    }
    Pump();
  }

  void Start() {
    absl::Status status = Open();
    RUNNEL_LOG(DEBUG) << "receive started" << Kv("stream", params_.topic)
                      << Kv("partition", params_.partition) << Kv("status", status.ToString());
    {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      if (!status.ok() && !finish_) finish_ = ToGrpcStatus(status);
    }
    Pump();
  }

  absl::Status Open() {
    StartAt start = params_.start;
    if (params_.session != nullptr) {
      Session& s = *params_.session;
      absl::StatusOr<GroupPositions> positions =
          gateway_->store().GetPositions(s.topic(), s.group().name);
      if (!positions.ok()) return positions.status();
      start = GroupStart(*positions, s.group().version, params_.partition, s.reset());
      RUNNEL_LOG(DEBUG) << "receive start position" << Kv("kind", static_cast<int>(start.kind))
                        << Kv("offset", start.offset) << Kv("versions", positions->size());
      latest_acked_ = LatestAcked(*positions, params_.partition);
      if (params_.last_known_offset > 0) {
        const Offset after_known = static_cast<Offset>(params_.last_known_offset) + 1;
        if (start.kind != StartAt::Kind::kOffset || start.offset < after_known) {
          if (start.kind != StartAt::Kind::kLatest) start = StartAt::At(after_known);
        }
      }
      if (absl::Status a = s.Attach(params_.partition, this); !a.ok()) {
        return a;
      }
      attached_ = true;
      absl::StatusOr<std::unique_ptr<PartitionReader>> reader = s.OpenReader(params_.partition, start);
      if (!reader.ok()) return reader.status();
      reader_ = *std::move(reader);
    } else {
      absl::StatusOr<std::unique_ptr<PartitionReader>> reader =
          gateway_->store().OpenReader(params_.topic, params_.partition, start);
      if (!reader.ok()) return reader.status();
      reader_ = *std::move(reader);
    }
    return absl::OkStatus();
  }

  void OnRecords(absl::StatusOr<RecordBatch> batch) {
    RUNNEL_LOG(DEBUG) << "receive got records" << Kv("count", batch.ok() ? batch->size() : 0)
                      << Kv("status", batch.status().ToString());
    // Encoded outside the lock: nothing else touches the batch, and writes need not wait.
    std::vector<grpc::ByteBuffer> replies;
    if (batch.ok()) {
      const ReceiveContext context{.topic = params_.topic,
                                   .partition = params_.partition,
                                   .format = params_.format,
                                   .latest_acked = latest_acked_};
      size_t bytes = 0;
      for (const RecordView& r : batch->records()) bytes += r.data.size();
      if (params_.batched) {
        replies.push_back(OwningByteBuffer(EncodeReceiveBatchesReply(batch->records(), context)));
      } else {
        replies.reserve(batch->size());
        for (const RecordView& r : batch->records()) {
          replies.push_back(OwningByteBuffer(EncodeReceiveReply(r, context)));
        }
      }
      gateway_->CountDelivered(params_.topic, batch->size(), bytes);
    }
    {
      absl::MutexLock lock(&mu_);
      read_pending_ = false;
      if (!batch.ok()) {
        if (!finish_) finish_ = ToGrpcStatus(batch.status());
      } else {
        for (grpc::ByteBuffer& reply : replies) outbox_.push_back(std::move(reply));
      }
    }
    Pump();
  }

  // Starts whatever can start: Finish (once nothing is being written or issued), the next
  // write, and the next read.
  void Pump() {
    while (true) {
      enum { kNothing, kFinish, kWrite, kRead } action = kNothing;
      grpc::Status status;
      const grpc::ByteBuffer* message = nullptr;
      {
        absl::MutexLock lock(&mu_);
        if (starting_ || finished_) return;
        if (finish_) {
          if (writing_ || issuing_) return;  // Whoever holds the slot pumps again.
          finished_ = true;                  // Nothing is written or read after Finish.
          action = kFinish;
          status = *finish_;
        } else if (!writing_ && !outbox_.empty()) {
          writing_ = true;
          action = kWrite;
          message = &outbox_.front();
        } else if (!issuing_ && !read_pending_ && reader_ != nullptr && outbox_.size() <= 1) {
          issuing_ = true;
          read_pending_ = true;
          action = kRead;
        }
      }
      switch (action) {
        case kFinish:
          RUNNEL_LOG(DEBUG) << "receive finishing" << Kv("status", status.error_message());
          this->Finish(status);
          return;
        case kWrite:
          // No buffer hint even when more messages are queued: a hinted write may sit in gRPC's
          // buffer without completing until something flushes it, and with one write in flight
          // nothing would (seen as a stalled Receive under load). Batching is what
          // ReceiveBatches is for.
          this->StartWrite(message);
          break;  // A read may start too.
        case kRead:
          reader_->NextBatch(params_.max_records, params_.max_bytes,
                             [this](absl::StatusOr<RecordBatch> b) { OnRecords(std::move(b)); });
          {
            absl::MutexLock lock(&mu_);
            issuing_ = false;
          }
          break;  // Records may have arrived inline meanwhile.
        case kNothing:
          return;
      }
    }
  }

  Gateway* const gateway_;
  PartitionStreamParams params_;
  Offset latest_acked_ = -1;  // Written by Start() before any read; read by OnRecords().
  bool attached_ = false;     // Written by Start(); read by OnDone().
  bool tracked_ = false;      // Written by the constructor.
  std::unique_ptr<PartitionReader> reader_;  // Set by Start() before starting_ clears.

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> outbox_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool starting_ ABSL_GUARDED_BY(mu_) = true;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;   // The write slot: a write is in flight.
  bool issuing_ ABSL_GUARDED_BY(mu_) = false;   // The issue slot: NextBatch() is being called.
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;  // Issued; its records have not come yet.
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish was called.
};

// A group read (liiklus Receive, runnel.v1 ReceiveBatches) of the partition `assignment` names,
// resuming after `last_known_offset`; a stream failed with NOT_FOUND when the assignment's session
// is gone.
inline grpc::ServerWriteReactor<grpc::ByteBuffer>* StartGroupRead(
    Gateway* gateway, Executor* blocking, const char* method, const liiklus::Assignment& assignment,
    liiklus::ReceiveRequest::ContentFormat format, uint64_t last_known_offset, size_t max_records,
    bool batched) {
  std::shared_ptr<Session> session = gateway->FindSession(assignment.session_id());
  if (session == nullptr) {
    return FailedStream<grpc::ByteBuffer>(
        gateway, method,
        absl::NotFoundError(absl::StrCat("no subscription session '", assignment.session_id(),
                                         "' (it ended, or the gateway restarted): subscribe again")));
  }
  absl::StatusOr<Partition> partition = ClientPartition(session->topic(), assignment.partition());
  if (!partition.ok()) return FailedStream<grpc::ByteBuffer>(gateway, method, partition.status());
  absl::StatusOr<Offset> known = ClientOffset(session->topic(), *partition, last_known_offset);
  if (!known.ok()) return FailedStream<grpc::ByteBuffer>(gateway, method, known.status());
  PartitionStreamParams params{
      .topic = session->topic(),
      .partition = *partition,
      .format = format,
      .session = std::move(session),
      .last_known_offset = last_known_offset,
      .max_records = max_records,
      .batched = batched,
  };
  return new PartitionStreamReactor(gateway, blocking, std::move(params));
}

}  // namespace runnel::gateway
