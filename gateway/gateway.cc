#include "gateway/gateway.h"

#include <limits>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"

namespace runnel::gateway {
namespace {

std::string NewSessionId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%016x%016x", rng(), rng());
}

}  // namespace

// --- Session ---

absl::StatusOr<Partition> ClientPartition(absl::string_view stream, uint64_t partition) {
  if (partition > static_cast<uint64_t>(std::numeric_limits<Partition>::max())) {
    return absl::NotFoundError(absl::StrCat("stream '", stream, "' has no partition ", partition));
  }
  return static_cast<Partition>(partition);
}

absl::StatusOr<Offset> ClientOffset(absl::string_view stream, Partition partition,
                                    uint64_t offset) {
  if (offset > static_cast<uint64_t>(std::numeric_limits<Offset>::max())) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is beyond the end of partition ",
                                              partition, " of stream '", stream, "'"));
  }
  return static_cast<Offset>(offset);
}

absl::Status Session::Attach(Partition partition, SessionReceiver* receiver) {
  absl::MutexLock lock(&mu_);
  if (!owned_.contains(partition)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session ", id_, " is not assigned partition ", partition, " of '", topic_, "'"));
  }
  auto [it, inserted] = receivers_.emplace(partition, receiver);
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("partition ", partition, " of session ", id_,
                                                 " is already being received"));
  }
  return absl::OkStatus();
}

void Session::Detach(Partition partition, SessionReceiver* receiver) {
  absl::MutexLock lock(&mu_);
  auto it = receivers_.find(partition);
  if (it != receivers_.end() && it->second == receiver) {
    receivers_.erase(it);
  }
}

absl::StatusOr<std::unique_ptr<PartitionReader>> Session::OpenReader(Partition partition,
                                                                     StartAt start) {
  // Under the lock: Close() marks the session closed before it destroys the membership, so a
  // Receive starting while its subscription ends never reaches a destroyed membership.
  absl::MutexLock lock(&mu_);
  if (closed_ || membership_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("session ", id_, " has ended"));
  }
  return membership_->OpenReader(partition, start);
}

void Session::OnChange(const AssignmentChange& change) {
  SessionListener* listener;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;  // Close() revokes every receiver itself.
    for (Partition p : change.revoked) {
      owned_.erase(p);
      auto it = receivers_.find(p);
      if (it != receivers_.end()) {
        it->second->Revoke(absl::OkStatus());
        receivers_.erase(it);
      }
    }
    owned_.insert(change.assigned.begin(), change.assigned.end());
    listener = listener_;
  }
  // The listener stays valid until Close() returns, and Close() waits for this callback (the
  // membership's destructor does), so it may be used outside the lock.
  if (listener != nullptr && !change.assigned.empty()) {
    listener->OnAssigned(id_, change.assigned);
  }
}

void Session::Close(const absl::Status& why) {
  std::unique_ptr<GroupMembership> membership;
  {
    absl::MutexLock lock(&mu_);
    listener_ = nullptr;
    closed_ = true;
    owned_.clear();  // No Attach succeeds from here on.
    membership = std::move(membership_);
  }
  // Leaving the group waits for an assignment callback in progress to finish; outside mu_,
  // which that callback takes.
  membership.reset();
  absl::MutexLock lock(&mu_);
  for (auto& [p, receiver] : receivers_) {
    receiver->Revoke(why);
  }
  receivers_.clear();
  owned_.clear();
}

// --- Gateway ---

Gateway::Gateway(RecordStore* store, MetricsRegistry* metrics, GatewayOptions options)
    : store_(store), metrics_(metrics), options_(options) {
  metrics_->AddCollector([this](std::string* out) { CollectGauges(out); });
}

Gateway::~Gateway() {
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions;
  {
    absl::MutexLock lock(&mu_);
    sessions.swap(sessions_);
  }
  for (auto& [id, s] : sessions) {
    s->Close(absl::UnavailableError("gateway is shutting down"));
  }
}

absl::StatusOr<StreamSpec> Gateway::ResolveStream(absl::string_view topic) {
  absl::StatusOr<StreamSpec> spec = store_->GetStream(topic);
  if (spec.ok() || spec.status().code() != absl::StatusCode::kNotFound ||
      !options_.auto_create_streams) {
    return spec;
  }
  spec = store_->CreateStream({.name = std::string(topic), .partitions = 1, .content_type = "*/*"});
  if (spec.status().code() == absl::StatusCode::kAlreadyExists) {
    return store_->GetStream(topic);  // Another publisher created it first.
  }
  if (spec.ok()) {
    RUNNEL_LOG(INFO) << "auto-created stream" << Kv("stream", topic);
  }
  return spec;
}

Gateway::StreamCounters& Gateway::CountersFor(absl::string_view topic) {
  absl::MutexLock lock(&mu_);
  auto it = counters_.find(topic);
  if (it != counters_.end()) {
    return *it->second;
  }
  const MetricLabels labels{{"stream", std::string(topic)}};
  auto c = std::make_unique<StreamCounters>();
  c->records_in = &metrics_->GetCounter("runnel_gateway_records_in_total",
                                        "Records published to a stream.", labels);
  c->bytes_in = &metrics_->GetCounter("runnel_gateway_bytes_in_total",
                                      "Payload bytes published to a stream.", labels);
  c->records_out = &metrics_->GetCounter("runnel_gateway_records_out_total",
                                         "Records delivered to consumers of a stream.", labels);
  c->bytes_out = &metrics_->GetCounter("runnel_gateway_bytes_out_total",
                                       "Payload bytes delivered to consumers of a stream.", labels);
  return *counters_.emplace(std::string(topic), std::move(c)).first->second;
}

void Gateway::Publish(absl::string_view topic, std::vector<v1::Record> records,
                      std::optional<Partition> partition, PublishDone done) {
  absl::StatusOr<StreamSpec> spec = ResolveStream(topic);
  if (!spec.ok()) {
    std::move(done)(spec.status());
    return;
  }
  if (records.empty()) {
    std::move(done)(std::vector<RecordPosition>{});
    return;
  }
  if (partition.has_value() && (*partition < 0 || *partition >= spec->partitions)) {
    std::move(done)(absl::NotFoundError(absl::StrCat("stream '", topic, "' has no partition ",
                                                     *partition, " (it has ", spec->partitions,
                                                     ")")));
    return;
  }
  StreamCounters& counters = CountersFor(topic);
  uint64_t bytes = 0;
  // Each record's partition.
  std::vector<Partition> placement(records.size());
  bool one_partition = true;
  for (size_t i = 0; i < records.size(); ++i) {
    v1::Record& r = records[i];
    if (absl::Status s = ConformContentType(*spec, r); !s.ok()) {
      std::move(done)(s);
      return;
    }
    const size_t size = r.ByteSizeLong();
    if (size > options_.max_record_bytes) {
      std::move(done)(WithReason(
          absl::ResourceExhaustedError(absl::StrCat("record of ", size,
                                                    " bytes is larger than the limit of ",
                                                    options_.max_record_bytes, " bytes")),
          kReasonTooLarge));
      return;
    }
    bytes += r.data().size();
    if (!r.key().empty()) {
      placement[i] = PartitionForKey(r.key(), spec->partitions);
    } else if (partition.has_value()) {
      placement[i] = *partition;
    } else {
      placement[i] = counters.keyless.Next(spec->partitions);
    }
    one_partition = one_partition && placement[i] == placement[0];
  }

  // Joins the per-partition appends: the last one to finish answers.
  struct Join {
    absl::Mutex mu;
    size_t remaining;
    absl::Status status;
    std::vector<RecordPosition> positions;
    PublishDone done;
  };
  auto join = std::make_shared<Join>();
  join->positions.resize(records.size());
  join->done = std::move(done);
  const size_t count = records.size();
  // Appends `batch` to partition `p`; `indices` are the batch's places in `records` (empty:
  // the batch is `records`, in order).
  auto append = [&](Partition p, std::vector<v1::Record> batch, std::vector<size_t> indices) {
    const size_t n = batch.size();
    store_->Append(topic, p, std::move(batch),
                   [join, p, n, indices = std::move(indices), &counters, count,
                    bytes](absl::StatusOr<Offset> first) mutable {
                     PublishDone finish;
                     absl::StatusOr<std::vector<RecordPosition>> result;
                     {
                       absl::MutexLock lock(&join->mu);
                       if (!first.ok()) {
                         if (join->status.ok()) join->status = first.status();
                       } else {
                         for (size_t k = 0; k < n; ++k) {
                           join->positions[indices.empty() ? k : indices[k]] = {
                               p, *first + static_cast<Offset>(k)};
                         }
                       }
                       if (--join->remaining > 0) return;
                       finish = std::move(join->done);
                       if (join->status.ok()) {
                         result = std::move(join->positions);
                       } else {
                         result = join->status;
                       }
                     }
                     if (result.ok()) {
                       counters.records_in->Add(count);
                       counters.bytes_in->Add(bytes);
                     }
                     std::move(finish)(std::move(result));
                   });
  };
  if (one_partition) {
    // The usual case (one-partition streams, an explicit partition, one key): the records go
    // to the store as they are, without grouping or moving each one again.
    join->remaining = 1;
    const Partition p = placement[0];
    append(p, std::move(records), {});
    return;
  }
  // The records grouped per partition, in publish order.
  std::map<Partition, std::vector<size_t>> by_partition;
  for (size_t i = 0; i < records.size(); ++i) by_partition[placement[i]].push_back(i);
  join->remaining = by_partition.size();
  for (auto& [p, indices] : by_partition) {
    std::vector<v1::Record> batch;
    batch.reserve(indices.size());
    for (size_t i : indices) batch.push_back(std::move(records[i]));
    append(p, std::move(batch), std::move(indices));
  }
}

absl::StatusOr<std::shared_ptr<Session>> Gateway::StartSession(
    absl::string_view topic, const GroupId& group, liiklus::SubscribeRequest::AutoOffsetReset reset,
    SessionListener* listener) {
  absl::StatusOr<StreamSpec> spec = ResolveStream(topic);
  if (!spec.ok()) {
    return spec.status();
  }
  std::shared_ptr<Session> session(new Session(NewSessionId(), std::string(topic), group, reset));
  {
    absl::MutexLock lock(&session->mu_);
    session->listener_ = listener;
  }
  // The membership's callback holds a raw pointer: the session outlives its membership, which
  // Close() destroys first.
  Session* raw = session.get();
  absl::StatusOr<std::unique_ptr<GroupMembership>> membership =
      store_->JoinGroup(topic, group, [raw](AssignmentChange change) { raw->OnChange(change); });
  if (!membership.ok()) {
    return membership.status();
  }
  {
    absl::MutexLock lock(&session->mu_);
    session->membership_ = *std::move(membership);
  }
  NoteGroup(topic, group.name);
  absl::MutexLock lock(&mu_);
  sessions_[session->id()] = session;
  return session;
}

std::shared_ptr<Session> Gateway::FindSession(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void Gateway::EndSession(const std::shared_ptr<Session>& session) {
  {
    absl::MutexLock lock(&mu_);
    sessions_.erase(session->id());
  }
  bool draining;
  {
    absl::MutexLock lock(&calls_mu_);
    draining = draining_;
  }
  // A session that ends because the gateway drains ends its receives the same way the drain
  // does, whichever reaches them first.
  session->Close(draining ? absl::UnavailableError("gateway is shutting down") : absl::OkStatus());
}

void Gateway::NoteGroup(absl::string_view topic, absl::string_view group_name) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(topic);
  if (it == groups_.end()) {
    it = groups_.emplace(std::string(topic), std::set<std::string>{}).first;
  }
  it->second.insert(std::string(group_name));
}

void Gateway::CountDelivered(absl::string_view topic, size_t records, size_t bytes) {
  StreamCounters& c = CountersFor(topic);
  c.records_out->Add(records);
  c.bytes_out->Add(bytes);
}

void Gateway::CountError(absl::string_view front, absl::string_view method, absl::StatusCode code) {
  metrics_
      ->GetCounter("runnel_gateway_request_errors_total", "Requests that failed, by status.",
                   {{"front", std::string(front)},
                    {"method", std::string(method)},
                    {"code", absl::StatusCodeToString(code)}})
      .Add();
}

Histogram& Gateway::PublishLatency(absl::string_view front) {
  return metrics_->GetHistogram("runnel_gateway_publish_latency_seconds",
                                "Time from a publish request to its durable acknowledgement.",
                                {{"front", std::string(front)}});
}

bool Gateway::BeginCall() {
  absl::MutexLock lock(&calls_mu_);
  if (draining_) return false;
  ++calls_;
  return true;
}

void Gateway::EndCall() {
  absl::MutexLock lock(&calls_mu_);
  --calls_;
}

bool Gateway::TrackStream(DrainableCall* call) {
  absl::MutexLock lock(&calls_mu_);
  if (draining_) return false;
  streams_.insert(call);
  return true;
}

void Gateway::UntrackStream(DrainableCall* call) {
  absl::MutexLock lock(&calls_mu_);
  streams_.erase(call);
}

bool Gateway::Drain(absl::Duration grace) {
  absl::MutexLock lock(&calls_mu_);
  draining_ = true;
  // Drain() only records a status and schedules a Finish; the call unregisters itself from
  // OnDone, which waits for this lock, so the pointers stay valid here.
  for (DrainableCall* call : streams_) {
    call->Drain();
  }
  return calls_mu_.AwaitWithTimeout(
      absl::Condition(
          +[](Gateway* g) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return g->calls_ == 0 && g->streams_.empty();
          },
          this),
      grace);
}

void Gateway::CollectGauges(std::string* out) {
  std::map<std::string, std::set<std::string>, std::less<>> groups;
  {
    absl::MutexLock lock(&mu_);
    groups = groups_;
  }
  std::string ends = "# HELP runnel_gateway_end_offset Next offset to be written, per partition.\n"
                     "# TYPE runnel_gateway_end_offset gauge\n";
  std::string lags = "# HELP runnel_gateway_group_lag Records not yet acknowledged by a group.\n"
                     "# TYPE runnel_gateway_group_lag gauge\n";
  for (const StreamSpec& spec : store_->ListStreams()) {
    std::vector<Offset> end_offsets(spec.partitions, 0);
    for (Partition p = 0; p < spec.partitions; ++p) {
      auto bounds = store_->GetBounds(spec.name, p);
      if (!bounds.ok()) continue;
      end_offsets[p] = bounds->end;
      absl::StrAppend(&ends, "runnel_gateway_end_offset",
                      MetricsRegistry::FormatLabels(
                          {{"stream", spec.name}, {"partition", absl::StrCat(p)}}),
                      " ", bounds->end, "\n");
    }
    auto it = groups.find(spec.name);
    if (it == groups.end()) continue;
    for (const std::string& group : it->second) {
      auto positions = store_->GetPositions(spec.name, group);
      if (!positions.ok()) continue;
      int64_t lag = 0;
      for (Partition p = 0; p < spec.partitions; ++p) {
        lag += std::max<int64_t>(0, end_offsets[p] - (LatestAcked(*positions, p) + 1));
      }
      absl::StrAppend(&lags, "runnel_gateway_group_lag",
                      MetricsRegistry::FormatLabels({{"stream", spec.name}, {"group", group}}), " ",
                      lag, "\n");
    }
  }
  absl::StrAppend(out, ends, lags);
}

}  // namespace runnel::gateway
