#include "gateway/liiklus_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "gateway/grpc_calls.h"
#include "gateway/partition_stream.h"

// This file serves liiklus's deprecated forms (Ack by assignment) on purpose.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace runnel::gateway {
namespace {

// Streams a session's partition assignments until the client cancels. Created by Subscribe,
// deleted by OnDone. OnAssigned comes from store threads; writes go out one at a time.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public SessionListener,
                               public DrainableCall {
 public:
  SubscribeReactor(Gateway* gateway, const liiklus::SubscribeRequest& request) : gateway_(gateway) {
    tracked_ = gateway_->TrackStream(this);
    absl::Status status = tracked_ ? Validate(request)
                                   : absl::UnavailableError("gateway is shutting down");
    if (status.ok()) {
      absl::StatusOr<std::shared_ptr<Session>> session = gateway_->StartSession(
          request.topic(), ParseGroupId(request.group(), request.group_version()),
          request.auto_offset_reset(), this);
      if (session.ok()) {
        absl::MutexLock lock(&mu_);
        session_ = *std::move(session);
        RUNNEL_LOG(DEBUG) << "subscribed" << Kv("stream", request.topic())
                          << Kv("group", request.group()) << Kv("session", session_->id());
      } else {
        status = session.status();
      }
    }
    if (!status.ok()) {
      gateway_->CountError("grpc", "Subscribe", status.code());
      FinishWith(ToGrpcStatus(status));
    }
  }

  // SessionListener
  void OnAssigned(const std::string& session_id, const std::vector<Partition>& partitions) override {
    {
      absl::MutexLock lock(&mu_);
      for (Partition p : partitions) {
        liiklus::SubscribeReply reply;
        reply.mutable_assignment()->set_session_id(session_id);
        reply.mutable_assignment()->set_partition(static_cast<uint32_t>(p));
        outbox_.push_back(SerializeMessage(reply));
      }
    }
    Pump();
  }

  // DrainableCall
  void Drain() override {
    FinishWith(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is shutting down"));
  }

 private:
  static absl::Status Validate(const liiklus::SubscribeRequest& request) {
    if (request.topic().empty()) return absl::InvalidArgumentError("topic is required");
    if (request.group().empty()) return absl::InvalidArgumentError("group is required");
    return absl::OkStatus();
  }

  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      outbox_.pop_front();
      if (!ok && !finish_) finish_ = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    Pump();
  }
  void OnCancel() override {
    RUNNEL_LOG(DEBUG) << "subscription cancelled";
    FinishWith(grpc::Status(grpc::StatusCode::CANCELLED, "subscription cancelled"));
  }
  void OnDone() override {
    RUNNEL_LOG(DEBUG) << "subscription done";
    std::shared_ptr<Session> session;
    {
      absl::MutexLock lock(&mu_);
      session = std::move(session_);
    }
    if (session != nullptr) {
      gateway_->EndSession(session);  // After this no OnAssigned runs.
    }
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

  void Pump() {
    grpc::Status status;
    const grpc::ByteBuffer* message = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (writing_) return;
      if (finish_) {
        writing_ = true;
        status = *finish_;
      } else if (!outbox_.empty()) {
        writing_ = true;
        message = &outbox_.front();
      } else {
        return;
      }
    }
    if (message != nullptr) {
      StartWrite(message);
    } else {
      Finish(status);
    }
  }

  Gateway* const gateway_;
  bool tracked_ = false;
  absl::Mutex mu_;
  std::shared_ptr<Session> session_ ABSL_GUARDED_BY(mu_);
  std::deque<grpc::ByteBuffer> outbox_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerUnaryReactor* LiiklusServiceImpl::Publish(grpc::CallbackServerContext*,
                                                      const grpc::ByteBuffer* raw,
                                                      grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<liiklus::PublishRequest, liiklus::PublishReply>;
  Gateway* gateway = gateway_;
  return ServeUnary<liiklus::PublishRequest, liiklus::PublishReply>(
      gateway_, "Publish", raw, response, [gateway](Call* call) {
        absl::StatusOr<v1::Record> record = RecordFromPublish(call->request);
        if (!record.ok()) {
          FinishUnary(gateway, call, "Publish", record.status());
          return;
        }
        std::vector<v1::Record> records;
        records.push_back(*std::move(record));
        const absl::Time start = absl::Now();
        gateway->Publish(
            call->request.topic(), std::move(records), std::nullopt,
            [gateway, call, start](absl::StatusOr<std::vector<RecordPosition>> positions) {
              if (positions.ok()) {
                call->reply.set_topic(call->request.topic());
                call->reply.set_partition(static_cast<uint32_t>((*positions)[0].partition));
                call->reply.set_offset(static_cast<uint64_t>((*positions)[0].offset));
                gateway->PublishLatency("grpc").Observe(absl::ToDoubleSeconds(absl::Now() - start));
              }
              FinishUnary(gateway, call, "Publish", positions.status());
            });
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LiiklusServiceImpl::Subscribe(
    grpc::CallbackServerContext*, const grpc::ByteBuffer* raw) {
  liiklus::SubscribeRequest request;
  if (absl::Status s = ParseMessage(*raw, "Subscribe", &request); !s.ok()) {
    return FailedStream<grpc::ByteBuffer>(gateway_, "Subscribe", s);
  }
  return new SubscribeReactor(gateway_, request);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LiiklusServiceImpl::Receive(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw) {
  liiklus::ReceiveRequest request;
  if (absl::Status s = ParseMessage(*raw, "Receive", &request); !s.ok()) {
    return FailedStream<grpc::ByteBuffer>(gateway_, "Receive", s);
  }
  // liiklus sends one record per reply; a store read fetches up to 256 of them at a time.
  return StartGroupRead(gateway_, blocking_, "Receive", request.assignment(), request.format(),
                        request.last_known_offset(), /*max_records=*/256, /*batched=*/false);
}

grpc::ServerUnaryReactor* LiiklusServiceImpl::Ack(grpc::CallbackServerContext*,
                                                  const grpc::ByteBuffer* raw,
                                                  grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<liiklus::AckRequest, google::protobuf::Empty>;
  Gateway* gateway = gateway_;
  Executor* blocking = blocking_;
  return ServeUnary<liiklus::AckRequest, google::protobuf::Empty>(
      gateway_, "Ack", raw, response, [gateway, blocking](Call* call) {
        const liiklus::AckRequest& request = call->request;
        std::string topic = request.topic();
        GroupId group;
        uint32_t partition = request.partition();
        if (topic.empty() && request.has_assignment()) {
          // The deprecated form names the subscription session instead.
          std::shared_ptr<Session> session =
              gateway->FindSession(request.assignment().session_id());
          if (session == nullptr) {
            FinishUnary(gateway, call, "Ack",
                        absl::NotFoundError(absl::StrCat("no subscription session '",
                                                         request.assignment().session_id(), "'")));
            return;
          }
          topic = session->topic();
          group = session->group();
          partition = request.assignment().partition();
        } else {
          group = ParseGroupId(request.group(), request.group_version());
        }
        const uint64_t requested = request.offset();
        auto work = [gateway, call, topic, group, partition, requested]() {
          if (topic.empty()) return absl::InvalidArgumentError("topic is required");
          if (group.name.empty()) return absl::InvalidArgumentError("group is required");
          absl::StatusOr<Partition> p = ClientPartition(topic, partition);
          if (!p.ok()) return p.status();
          absl::StatusOr<PartitionBounds> bounds = gateway->store().GetBounds(topic, *p);
          if (!bounds.ok()) return bounds.status();
          absl::StatusOr<Offset> offset = ClientOffset(topic, *p, requested);
          if (!offset.ok() || *offset >= bounds->end) {
            return absl::OutOfRangeError(
                absl::StrCat("cannot ack offset ", requested, " of partition ", partition,
                             " of stream '", topic, "': its last offset is ", bounds->end - 1));
          }
          gateway->NoteGroup(topic, group.name);
          gateway->store().CommitPosition(
              topic, group, *p, *offset,
              [gateway, call](absl::Status s) { FinishUnary(gateway, call, "Ack", s); });
          return absl::OkStatus();
        };
        auto task = [gateway, call, work = std::move(work)]() mutable {
          if (absl::Status s = work(); !s.ok()) FinishUnary(gateway, call, "Ack", s);
        };
        if (!blocking->Submit(std::move(task))) {
          FinishUnary(gateway, call, "Ack", absl::ResourceExhaustedError("gateway is overloaded"));
        }
      });
}

grpc::ServerUnaryReactor* LiiklusServiceImpl::GetOffsets(grpc::CallbackServerContext*,
                                                         const grpc::ByteBuffer* raw,
                                                         grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<liiklus::GetOffsetsRequest, liiklus::GetOffsetsReply>;
  Gateway* gateway = gateway_;
  Executor* blocking = blocking_;
  return ServeUnary<liiklus::GetOffsetsRequest, liiklus::GetOffsetsReply>(
      gateway_, "GetOffsets", raw, response, [gateway, blocking](Call* call) {
        RunBlocking(gateway, blocking, call, "GetOffsets", [gateway, call]() -> absl::Status {
          const liiklus::GetOffsetsRequest& request = call->request;
          if (request.topic().empty()) return absl::InvalidArgumentError("topic is required");
          if (request.group().empty()) return absl::InvalidArgumentError("group is required");
          const GroupId group = ParseGroupId(request.group(), request.group_version());
          RUNNEL_RETURN_IF_ERROR(gateway->store().GetStream(request.topic()).status());
          absl::StatusOr<GroupPositions> positions =
              gateway->store().GetPositions(request.topic(), group.name);
          if (!positions.ok()) return positions.status();
          auto it = positions->find(group.version);
          if (it != positions->end()) {
            for (const auto& [p, offset] : it->second) {
              (*call->reply.mutable_offsets())[static_cast<uint32_t>(p)] =
                  static_cast<uint64_t>(offset);
            }
          }
          return absl::OkStatus();
        });
      });
}

grpc::ServerUnaryReactor* LiiklusServiceImpl::GetEndOffsets(grpc::CallbackServerContext*,
                                                            const grpc::ByteBuffer* raw,
                                                            grpc::ByteBuffer* response) {
  using Call = RawUnaryCall<liiklus::GetEndOffsetsRequest, liiklus::GetEndOffsetsReply>;
  Gateway* gateway = gateway_;
  Executor* blocking = blocking_;
  return ServeUnary<liiklus::GetEndOffsetsRequest, liiklus::GetEndOffsetsReply>(
      gateway_, "GetEndOffsets", raw, response, [gateway, blocking](Call* call) {
        RunBlocking(gateway, blocking, call, "GetEndOffsets", [gateway, call]() -> absl::Status {
          absl::StatusOr<StreamSpec> spec = gateway->store().GetStream(call->request.topic());
          if (!spec.ok()) return spec.status();
          for (Partition p = 0; p < spec->partitions; ++p) {
            absl::StatusOr<PartitionBounds> bounds = gateway->store().GetBounds(spec->name, p);
            if (!bounds.ok()) return bounds.status();
            // The offset of the last record; an empty partition reports 0 rather than wrapping
            // to 2^64-1 as liiklus on Kafka does (which makes KEDA see endless lag).
            (*call->reply.mutable_offsets())[static_cast<uint32_t>(p)] =
                static_cast<uint64_t>(std::max<Offset>(0, bounds->end - 1));
          }
          return absl::OkStatus();
        });
      });
}

}  // namespace runnel::gateway
