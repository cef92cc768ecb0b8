#include "sidecar/checkpoint_store.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace runnel::sidecar {
namespace {

namespace liiklus = ::com::github::bsideup::liiklus;

constexpr auto kCallTimeout = std::chrono::seconds(5);
// How far back Load looks for a lane that shares its partition with others.
constexpr int64_t kMaxScan = 10000;

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
}

}  // namespace

std::string CheckpointStreamName(const std::string& group) {
  return absl::StrCat(group, ".checkpoints");
}

CheckpointStore::CheckpointStore(std::shared_ptr<grpc::Channel> channel, std::string stream)
    : stub_(v1::Gateway::NewStub(channel)), stream_(std::move(stream)) {}

CheckpointStore::~CheckpointStore() { Stop(); }

absl::Status CheckpointStore::Open(int partitions) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::CreateStreamRequest request;
  request.mutable_stream()->set_name(stream_);
  request.mutable_stream()->set_partitions(std::max(1, partitions));
  request.mutable_stream()->set_content_type("application/json");
  request.set_if_not_exists(true);
  v1::Stream created;
  grpc::Status status = stub_->CreateStream(&context, request, &created);
  if (!status.ok()) {
    // An existing stream with other settings (say, partitions) is fine: it is ours from before.
    grpc::ClientContext get_context;
    SetDeadline(get_context);
    v1::GetStreamRequest get;
    get.set_name(stream_);
    grpc::Status got = stub_->GetStream(&get_context, get, &created);
    if (!got.ok()) {
      absl::Status s = FromGrpcStatus(status);
      return absl::Status(
          s.code(), absl::StrCat("create the checkpoint stream '", stream_, "': ", s.message()));
    }
  }
  partitions_ = std::max(1, created.partitions());
  if (!writer_.joinable()) {
    writer_ = std::jthread([this](std::stop_token stop) { WriterLoop(stop); });
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Checkpoint>> CheckpointStore::Load(uint32_t lane) {
  const uint32_t partition = lane % static_cast<uint32_t>(partitions_);
  v1::Stream info;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::GetStreamRequest request;
    request.set_name(stream_);
    grpc::Status status = stub_->GetStream(&context, request, &info);
    if (!status.ok()) {
      absl::Status s = FromGrpcStatus(status);
      return absl::Status(
          s.code(), absl::StrCat("read the checkpoint stream '", stream_, "': ", s.message()));
    }
  }
  int64_t start = 0, end = 0;  // [start, end): retained offsets.
  for (const v1::PartitionInfo& p : info.partition_info()) {
    if (static_cast<uint32_t>(p.partition()) == partition) {
      start = p.start_offset();
      end = p.end_offset();
    }
  }
  // Newest first, in chunks, until a record of this lane turns up.
  constexpr int64_t kChunk = 64;
  for (int64_t hi = end; hi > start && end - hi < kMaxScan; hi -= kChunk) {
    const int64_t lo = std::max(start, hi - kChunk);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ReadRequest request;
    request.set_topic(stream_);
    request.set_partition(partition);
    request.set_offset(static_cast<uint64_t>(lo));
    request.set_max_records(static_cast<uint32_t>(hi - lo));
    request.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
    std::unique_ptr<grpc::ClientReader<v1::ReceiveBatchesReply>> reader =
        stub_->Read(&context, request);
    std::optional<Checkpoint> newest;
    v1::ReceiveBatchesReply reply;
    bool through = false;  // Read up to hi - 1.
    while (!through && reader->Read(&reply)) {
      for (const liiklus::ReceiveReply& r : reply.records()) {
        if (!r.has_liiklus_event_record()) {
          continue;
        }
        const int64_t offset = static_cast<int64_t>(r.liiklus_event_record().offset());
        through = through || offset >= hi - 1;
        if (offset >= hi) {
          continue;
        }
        uint32_t written_by = 0;
        absl::StatusOr<Checkpoint> c =
            DecodeCheckpoint(r.liiklus_event_record().event().data(), &written_by);
        if (c.ok() && written_by == lane) newest = *c;  // Later records win.
      }
    }
    // Read streams until cancelled (it waits for new records at the end): without this every
    // Load lasted the whole call deadline, and a restarted lane started kCallTimeout late.
    if (through) context.TryCancel();
    grpc::Status status = reader->Finish();
    if (!status.ok() && status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
        !(through && status.error_code() == grpc::StatusCode::CANCELLED)) {
      absl::Status s = FromGrpcStatus(status);
      return absl::Status(
          s.code(), absl::StrCat("read the checkpoint stream '", stream_, "': ", s.message()));
    }
    if (newest) {
      return newest;
    }
  }
  return std::optional<Checkpoint>();
}

void CheckpointStore::Write(uint32_t lane, const Checkpoint& checkpoint, Done done) {
  absl::MutexLock lock(&mu_);
  if (stopped_) {
    std::move(done)(absl::CancelledError("checkpoint store stopped"));
    return;
  }
  queue_.push_back({lane, EncodeCheckpoint(lane, checkpoint), std::move(done)});
}

void CheckpointStore::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }
  if (writer_.joinable()) {
    writer_.request_stop();
    writer_.join();
  }
  std::deque<Pending> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  for (Pending& p : left) std::move(p.done)(absl::CancelledError("checkpoint store stopped"));
}

void CheckpointStore::WriterLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    Pending next;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty(); };
      // Wakes at least every 100 ms to notice a stop request.
      if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100))) continue;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    // One short PublishBatches call per checkpoint: at most a few a second per lane.
    grpc::ClientContext context;
    SetDeadline(context);
    auto call = stub_->PublishBatches(&context);
    v1::PublishBatchRequest request;
    request.set_topic(stream_);
    request.set_partition_plus_one(next.lane % static_cast<uint32_t>(partitions_) + 1);
    liiklus::PublishRequest& record = *request.add_records();
    liiklus::LiiklusEvent& event = *record.mutable_liiklusevent();
    event.set_id(absl::StrCat(stream_, "/", next.lane, "/", absl::ToUnixNanos(absl::Now())));
    event.set_type("runnel-checkpoint");
    event.set_source(stream_);
    event.set_data_content_type("application/json");
    event.set_data(std::move(next.json));
    v1::PublishBatchReply reply;
    absl::Status result;
    if (!call->Write(request) || !call->WritesDone() || !call->Read(&reply)) {
      result = FromGrpcStatus(call->Finish());
      if (result.ok()) result = absl::UnavailableError("the gateway ended the call");
    } else {
      result = FromGrpcStatus(call->Finish());
    }
    if (!result.ok()) {
      result = absl::Status(
          result.code(), absl::StrCat("write a checkpoint to '", stream_, "': ", result.message()));
    }
    std::move(next.done)(std::move(result));
  }
}

}  // namespace runnel::sidecar
