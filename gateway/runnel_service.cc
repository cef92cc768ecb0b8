#include "gateway/runnel_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "gateway/grpc_calls.h"
#include "gateway/partition_stream.h"

namespace runnel::gateway {
namespace {

constexpr size_t kMaxBatchesInFlight = 32;
constexpr uint32_t kDefaultBatchRecords = 500;
constexpr uint32_t kMaxBatchRecords = 10'000;

// Publishes batches as they are read, up to kMaxBatchesInFlight at once, and acknowledges them
// in request order. Reading pauses while the window is full (backpressure to the client).
// Finish is only called once no publish is in flight, so store callbacks never outlive it.
class PublishBatchesReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public DrainableCall {
 public:
  explicit PublishBatchesReactor(Gateway* gateway) : gateway_(gateway) {
    tracked_ = gateway_->TrackStream(this);
    if (!tracked_) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is shutting down"));
      return;
    }
    StartRead(&raw_request_);
  }

  // DrainableCall: stop reading, acknowledge what is in flight, then end with UNAVAILABLE so
  // the client resends whatever it has not seen acknowledged to another gateway.
  void Drain() override {
    {
      absl::MutexLock lock(&mu_);
      draining_ = true;
    }
    Pump();
  }

 private:
  struct Slot {
    std::optional<absl::StatusOr<grpc::ByteBuffer>> result;  // A serialized reply.
  };

  // grpc::ServerBidiReactor
  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      // A read that raced with Finish or shutdown: nothing more is published; the client
      // resends it.
      if (finished_ || draining_) {
        reading_ = false;
        reads_done_ = true;
        ok = false;
      }
    }
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        if (!draining_ && !finished_) client_done_ = true;
        reads_done_ = true;
        reading_ = false;
      }
      Pump();
      return;
    }
    // A message that does not decode fails the stream; the client must not take the end of the
    // stream for an acknowledgement of what it sent after it.
    v1::PublishBatchRequest request;
    absl::Status status = ParseMessage(raw_request_, "PublishBatches", &request);
    ++messages_read_;
    if (!status.ok()) {
      status = absl::InvalidArgumentError(
          absl::StrCat(status.message(), " (message ", messages_read_, " of the stream)"));
    }
    std::vector<v1::Record> records;
    records.reserve(request.records_size());
    for (liiklus::PublishRequest& r : *request.mutable_records()) {
      if (!status.ok()) break;
      absl::StatusOr<v1::Record> record = RecordFromPublish(std::move(r));
      if (!record.ok()) {
        status = record.status();
        break;
      }
      records.push_back(*std::move(record));
    }
    const std::string topic = request.topic();
    std::optional<Partition> partition;
    if (status.ok() && request.partition_plus_one() > 0) {
      absl::StatusOr<Partition> p = ClientPartition(topic, request.partition_plus_one() - 1);
      if (p.ok()) {
        partition = *p;
      } else {
        status = p.status();
      }
    }
    Slot* slot;
    {
      absl::MutexLock lock(&mu_);
      slots_.emplace_back();
      slot = &slots_.back();
      ++in_flight_;
      // Nothing after a refused batch is published: the stream ends with its error.
      if (!status.ok()) refused_ = true;
      // reading_ stays true until this batch has been handed to the store: were it cleared here
      // with the window full, a Pump() on another thread could start the next read, and that
      // batch could reach the store first and land before this one.
    }
    if (!status.ok()) {
      Complete(slot, status);
    } else {
      const absl::Time start = absl::Now();
      gateway_->Publish(topic, std::move(records), partition,
                        [this, slot, topic, start](absl::StatusOr<std::vector<RecordPosition>> r) {
                          if (!r.ok()) {
                            Complete(slot, r.status());
                            return;
                          }
                          gateway_->PublishLatency("grpc").Observe(
                              absl::ToDoubleSeconds(absl::Now() - start));
                          v1::PublishBatchReply reply;
                          reply.set_topic(topic);
                          for (const RecordPosition& p : *r) {
                            auto* pos = reply.add_positions();
                            pos->set_partition(static_cast<uint32_t>(p.partition));
                            pos->set_offset(static_cast<uint64_t>(p.offset));
                          }
                          Complete(slot, SerializeMessage(reply));
                        });
    }
    bool read_more;
    {
      absl::MutexLock lock(&mu_);
      read_more =
          !finished_ && !failure_ && !refused_ && !draining_ && slots_.size() < kMaxBatchesInFlight;
      reading_ = read_more;
    }
    if (read_more) {
      StartRead(&raw_request_);
    } else {
      Pump();  // A completion that came while reading_ was set may have left work undone.
    }
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      slots_.pop_front();
      if (!ok && !failure_) failure_ = absl::CancelledError("client went away");
    }
    Pump();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (!failure_) failure_ = absl::CancelledError("publish stream cancelled");
    }
    Pump();
  }

  void OnDone() override {
    if (tracked_) gateway_->UntrackStream(this);
    delete this;
  }

  void Complete(Slot* slot, absl::StatusOr<grpc::ByteBuffer> result) {
    {
      absl::MutexLock lock(&mu_);
      slot->result = std::move(result);
      --in_flight_;
    }
    Pump();
  }

  // Writes finished batches in order; resumes reading when the window has room; finishes once
  // the client is done (or something failed) and nothing is in flight.
  void Pump() {
    enum { kNothing, kWrite, kFinish, kRead } action = kNothing;
    const grpc::ByteBuffer* message = nullptr;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (!failure_ && !slots_.empty() && slots_.front().result.has_value()) {
        if (slots_.front().result->ok()) {
          writing_ = true;
          message = &**slots_.front().result;
          action = kWrite;
        } else {
          failure_ = slots_.front().result->status();
        }
      }
      if (action == kNothing) {
        const bool drained = failure_ ? in_flight_ == 0
                                      : ((reads_done_ || draining_) && slots_.empty());
        if (drained) {
          finished_ = true;
          if (failure_) {
            status = ToGrpcStatus(*failure_);
          } else if (draining_ && !client_done_) {
            status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is shutting down");
          } else {
            status = grpc::Status::OK;
          }
          action = kFinish;
        } else if (!failure_ && !refused_ && !draining_ && !reading_ && !reads_done_ &&
                   slots_.size() < kMaxBatchesInFlight) {
          reading_ = true;
          action = kRead;
        }
      }
    }
    switch (action) {
      case kWrite:
        StartWrite(message);
        break;
      case kFinish:
        if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
          gateway_->CountError("grpc", "PublishBatches",
                               static_cast<absl::StatusCode>(status.error_code()));
        }
        Finish(status);
        break;
      case kRead:
        StartRead(&raw_request_);
        break;
      case kNothing:
        break;
    }
  }

  Gateway* const gateway_;
  bool tracked_ = false;
  grpc::ByteBuffer raw_request_;  // Owned by the read in flight.
  int64_t messages_read_ = 0;     // Touched only by OnReadDone (one read at a time).
  absl::Mutex mu_;
  std::deque<Slot> slots_ ABSL_GUARDED_BY(mu_);  // Batches not yet acknowledged, in order.
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = true;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool client_done_ ABSL_GUARDED_BY(mu_) = false;  // The client half-closed.
  bool refused_ ABSL_GUARDED_BY(mu_) = false;      // A batch was refused: read no more.
  std::optional<absl::Status> failure_ ABSL_GUARDED_BY(mu_);
};

size_t BatchSize(uint32_t requested) {
  if (requested == 0) return kDefaultBatchRecords;
  return std::min(requested, kMaxBatchRecords);
}

}  // namespace

v1::Stream ToProto(const StreamSpec& spec, const std::vector<PartitionBounds>& bounds) {
  v1::Stream s;
  s.set_name(spec.name);
  s.set_partitions(spec.partitions);
  s.set_content_type(spec.content_type);
  s.set_created_unix_ms(spec.created_unix_ms);
  for (size_t p = 0; p < bounds.size(); ++p) {
    auto* info = s.add_partition_info();
    info->set_partition(static_cast<int32_t>(p));
    info->set_start_offset(bounds[p].start);
    info->set_end_offset(bounds[p].end);
  }
  return s;
}

StreamSpec FromProto(const v1::Stream& stream) {
  StreamSpec spec{.name = stream.name()};
  if (stream.partitions() != 0) spec.partitions = stream.partitions();
  if (!stream.content_type().empty()) spec.content_type = stream.content_type();
  return spec;
}

absl::StatusOr<v1::Stream> DescribeStream(RecordStore& store, absl::string_view name) {
  absl::StatusOr<StreamSpec> spec = store.GetStream(name);
  if (!spec.ok()) return spec.status();
  std::vector<PartitionBounds> bounds;
  for (Partition p = 0; p < spec->partitions; ++p) {
    absl::StatusOr<PartitionBounds> b = store.GetBounds(name, p);
    if (!b.ok()) return b.status();
    bounds.push_back(*b);
  }
  return ToProto(*spec, bounds);
}

grpc::ServerUnaryReactor* RunnelServiceImpl::CreateStream(grpc::CallbackServerContext*,
                                                          const grpc::ByteBuffer* raw,
                                                          grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<v1::CreateStreamRequest, v1::Stream>;
  Gateway* gateway = gateway_;
  Executor* blocking = blocking_;
  return ServeUnary<v1::CreateStreamRequest, v1::Stream>(
      gateway_, "CreateStream", raw, response, [gateway, blocking](Call* call) {
        RunBlocking(gateway, blocking, call, "CreateStream", [gateway, call]() -> absl::Status {
          const v1::CreateStreamRequest& request = call->request;
          const StreamSpec wanted = FromProto(request.stream());
          absl::StatusOr<StreamSpec> created = gateway->store().CreateStream(wanted);
          if (created.status().code() == absl::StatusCode::kAlreadyExists &&
              request.if_not_exists()) {
            absl::StatusOr<StreamSpec> existing = gateway->store().GetStream(wanted.name);
            if (!existing.ok()) return existing.status();
            if (existing->partitions != wanted.partitions ||
                existing->content_type != wanted.content_type) {
              return absl::AlreadyExistsError(
                  absl::StrCat("stream '", wanted.name, "' exists with ", existing->partitions,
                               " partition(s) and content type '", existing->content_type, "'"));
            }
          } else if (!created.ok()) {
            return created.status();
          } else {
            RUNNEL_LOG(INFO) << "created stream" << Kv("stream", created->name)
                             << Kv("partitions", created->partitions)
                             << Kv("content_type", created->content_type);
          }
          absl::StatusOr<v1::Stream> described = DescribeStream(gateway->store(), wanted.name);
          if (!described.ok()) return described.status();
          call->reply = *std::move(described);
          return absl::OkStatus();
        });
      });
}

grpc::ServerUnaryReactor* RunnelServiceImpl::GetStream(grpc::CallbackServerContext*,
                                                       const grpc::ByteBuffer* raw,
                                                       grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<v1::GetStreamRequest, v1::Stream>;
  Gateway* gateway = gateway_;
  Executor* blocking = blocking_;
  return ServeUnary<v1::GetStreamRequest, v1::Stream>(
      gateway_, "GetStream", raw, response, [gateway, blocking](Call* call) {
        RunBlocking(gateway, blocking, call, "GetStream", [gateway, call]() -> absl::Status {
          absl::StatusOr<v1::Stream> described =
              DescribeStream(gateway->store(), call->request.name());
          if (!described.ok()) return described.status();
          call->reply = *std::move(described);
          return absl::OkStatus();
        });
      });
}

grpc::ServerUnaryReactor* RunnelServiceImpl::ListStreams(grpc::CallbackServerContext*,
                                                         const grpc::ByteBuffer* raw,
                                                         grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<v1::ListStreamsRequest, v1::ListStreamsReply>;
  Gateway* gateway = gateway_;
  Executor* blocking = blocking_;
  return ServeUnary<v1::ListStreamsRequest, v1::ListStreamsReply>(
      gateway_, "ListStreams", raw, response, [gateway, blocking](Call* call) {
        RunBlocking(gateway, blocking, call, "ListStreams", [gateway, call]() -> absl::Status {
          for (const StreamSpec& spec : gateway->store().ListStreams()) {
            absl::StatusOr<v1::Stream> described = DescribeStream(gateway->store(), spec.name);
            if (described.ok()) *call->reply.add_streams() = *std::move(described);
          }
          return absl::OkStatus();
        });
      });
}

grpc::ServerUnaryReactor* RunnelServiceImpl::DeleteStream(grpc::CallbackServerContext*,
                                                          const grpc::ByteBuffer* raw,
                                                          grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<v1::DeleteStreamRequest, v1::DeleteStreamReply>;
  Gateway* gateway = gateway_;
  Executor* blocking = blocking_;
  return ServeUnary<v1::DeleteStreamRequest, v1::DeleteStreamReply>(
      gateway_, "DeleteStream", raw, response, [gateway, blocking](Call* call) {
        RunBlocking(gateway, blocking, call, "DeleteStream", [gateway, call]() -> absl::Status {
          absl::Status s = gateway->store().DeleteStream(call->request.name());
          if (s.ok()) RUNNEL_LOG(INFO) << "deleted stream" << Kv("stream", call->request.name());
          return s;
        });
      });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* RunnelServiceImpl::PublishBatches(
    grpc::CallbackServerContext*) {
  return new PublishBatchesReactor(gateway_);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* RunnelServiceImpl::ReceiveBatches(
    grpc::CallbackServerContext*, const grpc::ByteBuffer* raw) {
  v1::ReceiveBatchesRequest request;
  if (absl::Status s = ParseMessage(*raw, "ReceiveBatches", &request); !s.ok()) {
    return FailedStream<grpc::ByteBuffer>(gateway_, "ReceiveBatches", s);
  }
  return StartGroupRead(gateway_, blocking_, "ReceiveBatches", request.assignment(),
                        request.format(), request.last_known_offset(),
                        BatchSize(request.max_records()), /*batched=*/true);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* RunnelServiceImpl::Read(grpc::CallbackServerContext*,
                                                                    const grpc::ByteBuffer* raw) {
  v1::ReadRequest request;
  if (absl::Status s = ParseMessage(*raw, "Read", &request); !s.ok()) {
    return FailedStream<grpc::ByteBuffer>(gateway_, "Read", s);
  }
  absl::StatusOr<Partition> partition = ClientPartition(request.topic(), request.partition());
  if (!partition.ok()) return FailedStream<grpc::ByteBuffer>(gateway_, "Read", partition.status());
  absl::StatusOr<Offset> offset = ClientOffset(request.topic(), *partition, request.offset());
  if (!offset.ok()) return FailedStream<grpc::ByteBuffer>(gateway_, "Read", offset.status());
  PartitionStreamParams params{
      .topic = request.topic(),
      .partition = *partition,
      .format = request.format(),
      .start = StartAt::At(*offset),
      .max_records = BatchSize(request.max_records()),
  };
  return new PartitionStreamReactor(gateway_, blocking_, std::move(params));
}

}  // namespace runnel::gateway
