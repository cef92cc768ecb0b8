#include "sidecar/gateway_client.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace runnel::sidecar {

bool SleepUnlessStopped(std::stop_token stop, absl::Duration d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  return !cv.wait_for(lock, stop, absl::ToChronoNanoseconds(d), [] { return false; }) &&
         !stop.stop_requested();
}

// ---------------------------------------------------------------------------------------------
// InputReader

InputReader::InputReader(std::shared_ptr<grpc::Channel> channel, InputReaderOptions options,
                         Sink sink, OnState on_state)
    : channel_(std::move(channel)),
      liiklus_(liiklus::LiiklusService::NewStub(channel_)),
      gateway_(v1::Gateway::NewStub(channel_)),
      options_(std::move(options)),
      sink_(std::move(sink)),
      on_state_(std::move(on_state)) {}

InputReader::~InputReader() { Stop(); }

void InputReader::Start() {
  thread_ = std::jthread([this](std::stop_token stop) { SubscribeLoop(stop); });
}

void InputReader::Stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void InputReader::SubscribeLoop(std::stop_token stop) {
  Backoff backoff(options_.retry, /*seed=*/options_.input + 1);
  while (!stop.stop_requested()) {
    grpc::ClientContext context;
    std::stop_callback cancel(stop, [&context] { context.TryCancel(); });
    liiklus::SubscribeRequest request;
    request.set_topic(options_.topic);
    request.set_group(options_.group);
    request.set_auto_offset_reset(options_.start_latest ? liiklus::SubscribeRequest::LATEST
                                                        : liiklus::SubscribeRequest::EARLIEST);
    std::unique_ptr<grpc::ClientReader<liiklus::SubscribeReply>> reader =
        liiklus_->Subscribe(&context, request);
    // Receivers of this subscription. A receiver whose call fails cancels the subscription, so
    // that the whole session is renewed: a broken Receive usually means a broken gateway.
    std::vector<std::jthread> receivers;
    liiklus::SubscribeReply reply;
    while (reader->Read(&reply)) {
      if (!reply.has_assignment()) {
        continue;
      }
      backoff.Reset();
      on_state_(absl::OkStatus());
      receivers.emplace_back([this, &context, assignment = reply.assignment()](std::stop_token s) {
        absl::Status status = ReceiveLoop(s, assignment);
        if (!status.ok() && !s.stop_requested()) {
          RUNNEL_LOG(WARNING) << "receive failed; renewing the subscription"
                              << Kv("topic", options_.topic)
                              << Kv("partition", assignment.partition())
                              << Kv("status", status.ToString());
          context.TryCancel();
        }
      });
    }
    for (std::jthread& r : receivers) {
      r.request_stop();
    }
    receivers.clear();  // Joins.
    absl::Status status = FromGrpcStatus(reader->Finish());
    if (stop.stop_requested()) {
      return;
    }
    if (status.ok()) {
      status = absl::UnavailableError("the gateway ended the subscription");
    }
    absl::Duration delay = backoff.NextDelay();
    on_state_(absl::Status(status.code(), absl::StrCat("subscribe to '", options_.topic,
                                                       "': ", status.message())));
    RUNNEL_LOG(WARNING) << "subscription ended; retrying" << Kv("topic", options_.topic)
                        << Kv("status", status.ToString()) << Kv("retry_in", delay);
    SleepUnlessStopped(stop, delay);
  }
}

bool InputReader::TakeEventRecord(liiklus::ReceiveReply& reply, uint32_t partition,
                                  std::vector<InputRecord>& records) const {
  if (!reply.has_liiklus_event_record()) {
    return false;  // We asked for LIIKLUS_EVENT: a gateway bug, not data to guess at.
  }
  liiklus::ReceiveReply::LiiklusEventRecord& r = *reply.mutable_liiklus_event_record();
  records.push_back({.input = options_.input,
                     .partition = partition,
                     .offset = static_cast<int64_t>(r.offset()),
                     .key = std::move(*r.mutable_key()),
                     .event = std::move(*r.mutable_event()),
                     .timestamp = r.has_timestamp()
                                      ? absl::FromUnixSeconds(r.timestamp().seconds()) +
                                            absl::Nanoseconds(r.timestamp().nanos())
                                      : absl::InfinitePast()});
  return true;
}

bool IsPlainLiiklus(const absl::Status& status, bool answered) {
  return !answered && status.code() == absl::StatusCode::kUnimplemented;
}

void InputReader::UseApi(ReceiveApi api) {
  const ReceiveApi before = api_.exchange(api);
  if (before == api) return;
  if (api == ReceiveApi::kLiiklus) {
    RUNNEL_LOG(INFO) << "the gateway does not implement runnel.v1 ReceiveBatches; receiving with "
                        "liiklus Receive (one reply per record)"
                     << Kv("topic", options_.topic) << Kv("group", options_.group);
  } else if (before == ReceiveApi::kUnknown) {
    RUNNEL_LOG(INFO) << "receiving with runnel.v1 ReceiveBatches" << Kv("topic", options_.topic)
                     << Kv("group", options_.group);
  }
}

absl::Status InputReader::ReceiveLoop(std::stop_token stop,
                                      const liiklus::Assignment& assignment) {
  if (api_.load() != ReceiveApi::kLiiklus) {
    bool answered = false;
    absl::Status status = ReceiveBatchesLoop(stop, assignment, &answered);
    if (!IsPlainLiiklus(status, answered)) {
      return status;
    }
    UseApi(ReceiveApi::kLiiklus);
  }
  return LiiklusReceiveLoop(stop, assignment);
}

absl::Status InputReader::ReceiveBatchesLoop(std::stop_token stop,
                                             const liiklus::Assignment& assignment,
                                             bool* answered) {
  grpc::ClientContext context;
  std::stop_callback cancel(stop, [&context] { context.TryCancel(); });
  v1::ReceiveBatchesRequest request;
  *request.mutable_assignment() = assignment;
  request.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
  request.set_max_records(static_cast<uint32_t>(options_.max_records));
  std::unique_ptr<grpc::ClientReader<v1::ReceiveBatchesReply>> reader =
      gateway_->ReceiveBatches(&context, request);
  v1::ReceiveBatchesReply batch;
  std::vector<InputRecord> records;  // Reused: a batch's worth of records is a large block.
  bool stopped = false;
  while (!stopped && reader->Read(&batch)) {
    if (!*answered) {
      *answered = true;
      UseApi(ReceiveApi::kBatches);
    }
    records.clear();
    records.reserve(static_cast<size_t>(batch.records_size()));
    for (liiklus::ReceiveReply& reply : *batch.mutable_records()) {
      if (!TakeEventRecord(reply, assignment.partition(), records)) {
        stopped = true;
        break;
      }
    }
    // One hand-over per received batch: the lane takes its lock and wakes once, not per record.
    if (stopped || !sink_(records)) {
      context.TryCancel();
      stopped = true;
    }
  }
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (stopped || stop.stop_requested()) {
    return absl::OkStatus();
  }
  return status;
}

namespace {

// One liiklus Receive call on the callback API. Its reactions never block: a reply is appended
// to a buffer and the next read issued only while the buffer holds fewer than `max_buffered`
// replies; Take (on the receiver thread) empties the buffer and resumes reading. While the sink
// blocks, replies gather (bounded) and then gRPC flow control holds the gateway back.
class LiiklusReceiveCall final : public grpc::ClientReadReactor<liiklus::ReceiveReply> {
 public:
  LiiklusReceiveCall(liiklus::LiiklusService::Stub* stub, liiklus::ReceiveRequest request,
                     size_t max_buffered)
      : stub_(stub), request_(std::move(request)), max_buffered_(max_buffered) {}

  void Start() {
    stub_->async()->Receive(&context_, &request_, this);
    reading_ = true;
    StartRead(&reply_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }

  // Waits until replies are buffered or the stream ended; moves the buffered replies into `out`
  // (cleared first). False once the stream ended and nothing is left.
  bool Take(std::vector<liiklus::ReceiveReply>& out) {
    out.clear();
    bool resume = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !buffer_.empty() || ended_; });
      out.swap(buffer_);
      if (!reading_ && !ended_) {
        reading_ = true;
        resume = true;
      }
    }
    if (resume) StartRead(&reply_);  // No read was outstanding: reply_ is ours.
    return !out.empty();
  }

  // Waits for the call's end (after Cancel, or once Take returned false).
  grpc::Status Await() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return status_;
  }

  void OnReadDone(bool ok) override {
    bool more = false;
    {
      std::lock_guard lock(mu_);
      if (ok) {
        buffer_.push_back(std::move(reply_));
        reply_.Clear();
        more = buffer_.size() < max_buffered_;
      } else {
        ended_ = true;
      }
      reading_ = more;
      cv_.notify_all();
    }
    if (more) StartRead(&reply_);  // Outside mu_: a reaction may run inline.
  }

  void OnDone(const grpc::Status& status) override {
    // Notified under the lock: once Await sees done_, nothing here touches the call again.
    std::lock_guard lock(mu_);
    status_ = status;
    ended_ = true;
    done_ = true;
    cv_.notify_all();
  }

 private:
  liiklus::LiiklusService::Stub* const stub_;
  grpc::ClientContext context_;
  const liiklus::ReceiveRequest request_;
  const size_t max_buffered_;
  liiklus::ReceiveReply reply_;  // The read in flight writes here.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<liiklus::ReceiveReply> buffer_;  // Guarded by mu_.
  bool reading_ = false;                        // Guarded by mu_: a read is outstanding.
  bool ended_ = false;                          // Guarded by mu_: no more replies will come.
  bool done_ = false;                           // Guarded by mu_: OnDone ran.
  grpc::Status status_;                         // Guarded by mu_.
};

}  // namespace

absl::Status InputReader::LiiklusReceiveLoop(std::stop_token stop,
                                             const liiklus::Assignment& assignment) {
  liiklus::ReceiveRequest request;
  *request.mutable_assignment() = assignment;
  request.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
  LiiklusReceiveCall call(liiklus_.get(), std::move(request),
                          static_cast<size_t>(std::max(options_.max_records, 1)));
  std::stop_callback cancel(stop, [&call] { call.Cancel(); });
  call.Start();
  std::vector<liiklus::ReceiveReply> replies;  // Reused, as are the records.
  std::vector<InputRecord> records;
  bool stopped = false;
  while (!stopped && call.Take(replies)) {
    records.clear();
    records.reserve(replies.size());
    for (liiklus::ReceiveReply& reply : replies) {
      if (!TakeEventRecord(reply, assignment.partition(), records)) {
        stopped = true;
        break;
      }
    }
    // One hand-over for whatever arrived meanwhile, as with ReceiveBatches.
    if (stopped || !sink_(records)) {
      call.Cancel();
      stopped = true;
    }
  }
  if (stopped) call.Cancel();
  absl::Status status = FromGrpcStatus(call.Await());
  if (stopped || stop.stop_requested()) {
    return absl::OkStatus();
  }
  return status;
}

// ---------------------------------------------------------------------------------------------
// Publisher

Publisher::Publisher(std::shared_ptr<grpc::Channel> channel, PublisherOptions options)
    : stub_(v1::Gateway::NewStub(channel)),
      liiklus_(liiklus::LiiklusService::NewStub(channel)),
      options_(std::move(options)),
      lanes_(static_cast<size_t>(std::max(options_.inflight_records, 1))) {
  writer_ = std::jthread([this](std::stop_token stop) { WriterLoop(stop); });
}

Publisher::~Publisher() { Stop(); }

void Publisher::Publish(std::vector<liiklus::PublishRequest> records, Done done) {
  if (records.empty()) {
    std::move(done)(absl::OkStatus());
    return;
  }
  auto group = std::make_shared<Group>();
  group->remaining = records.size();
  group->done = std::move(done);
  {
    std::lock_guard lock(mu_);
    for (liiklus::PublishRequest& r : records) {
      r.set_topic(options_.topic);
      const size_t bytes = r.ByteSizeLong();
      queue_.push_back({std::move(r), group, bytes});
    }
  }
  cv_.notify_all();
}

size_t Publisher::queued() const {
  std::lock_guard lock(mu_);
  size_t n = queue_.size() + lanes_.queued() + lanes_.in_flight();
  for (const auto& b : inflight_) n += static_cast<size_t>(b->request.records_size());
  return n;
}

void Publisher::Stop() {
  if (!writer_.joinable()) {
    return;
  }
  writer_.request_stop();
  cv_.notify_all();
  writer_.join();
  std::vector<Done> failed;
  size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    auto fail = [&failed](Group& g) {
      if (g.done) failed.push_back(std::move(g.done));
      g.done = nullptr;
    };
    for (auto& b : inflight_) {
      for (auto& [group, n] : b->groups) fail(*group);
      dropped += static_cast<size_t>(b->request.records_size());
    }
    inflight_.clear();
    for (Pending& p : queue_) fail(*p.group);
    dropped += queue_.size();
    queue_.clear();
    // The fallback's: its writer waited for every call, so all that is left is queued.
    for (Pending& p : lanes_.TakeQueued()) {
      fail(*p.group);
      ++dropped;
    }
  }
  Settled(dropped);
  for (Done& done : failed) {
    std::move(done)(absl::CancelledError("publisher stopped"));
  }
}

void Publisher::Settled(size_t records) const {
  if (records > 0 && options_.on_settled) {
    options_.on_settled(records);
  }
}

bool IsPermanentPublishError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

bool IsTooLargePublishError(const absl::Status& status) {
  // The texts of runnel-gateway's record limit (gateway/gateway.cc, Gateway::Publish) and of
  // gRPC core's message size limit, send or receive side. tests/sidecar checks the gateway's end
  // to end, so that a change of its wording cannot silently turn these back into resends.
  return status.code() == absl::StatusCode::kResourceExhausted &&
         (absl::StrContains(status.message(), "larger than the limit") ||
          absl::StrContains(status.message(), "message larger than max"));
}

bool IsPermanentPublishError(const absl::Status& status) {
  return IsPermanentPublishError(status.code()) || IsTooLargePublishError(status);
}

void Publisher::WriterLoop(std::stop_token stop) {
  Backoff backoff(options_.retry);
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait(lock, stop, [this] { return !queue_.empty(); })) {
        return;
      }
    }
    absl::Status status = Session(stop);
    if (stop.stop_requested()) {
      return;
    }
    bool answered = false;
    {
      std::lock_guard lock(mu_);
      answered = answered_;
    }
    if (IsPlainLiiklus(status, answered)) {
      // Session put the batches back in the queue, in order: they go out one record per call.
      RUNNEL_LOG(INFO) << "the gateway does not implement runnel.v1 PublishBatches; publishing "
                          "with liiklus Publish (one call per record, one per key in flight)"
                       << Kv("topic", options_.topic)
                       << Kv("inflight_records", options_.inflight_records);
      UnaryLoop(stop);
      return;
    }
    if (status.ok()) {
      backoff.Reset();
      continue;
    }
    absl::Duration delay = backoff.NextDelay();
    if (IsPermanentPublishError(status)) {
      // Only without fail_refused: the refused batch is resent as it is. Once a minute is
      // enough to say so; runnel_processor_publish_refused_total counts every refusal.
      const absl::Time now = absl::Now();
      if (now - refusal_logged_ >= absl::Minutes(1)) {
        refusal_logged_ = now;
        RUNNEL_LOG(ERROR) << "the gateway refuses a batch for good; resending it after a back-off "
                             "(nothing is acknowledged meanwhile)"
                          << Kv("topic", options_.topic) << Kv("status", status.ToString())
                          << Kv("first_record", refused_detail_) << Kv("retry_in", delay);
      }
    } else {
      RUNNEL_LOG(WARNING) << "publish stream broke; resending unacknowledged batches"
                          << Kv("topic", options_.topic) << Kv("status", status.ToString())
                          << Kv("retry_in", delay);
    }
    SleepUnlessStopped(stop, delay);
  }
}

absl::Status Publisher::Session(std::stop_token stop) {
  grpc::ClientContext context;
  std::stop_callback cancel(stop, [&context] { context.TryCancel(); });
  std::shared_ptr<grpc::ClientReaderWriter<v1::PublishBatchRequest, v1::PublishBatchReply>> stream =
      stub_->PublishBatches(&context);
  {
    std::lock_guard lock(mu_);
    session_broken_ = false;
  }
  // Replies come in request order, one per batch: the reader pops the oldest in-flight batch
  // and runs the `done` of every group whose last record it acknowledged.
  std::jthread reader([this, stream, &context](std::stop_token) {
    v1::PublishBatchReply reply;
    std::vector<Done> completed;
    while (stream->Read(&reply)) {
      bool unexpected = false;
      size_t acknowledged = 0;
      {
        std::lock_guard lock(mu_);
        if (inflight_.empty()) {
          unexpected = true;
        } else {
          answered_ = true;
          std::shared_ptr<Batch> done = std::move(inflight_.front());
          inflight_.pop_front();
          acknowledged = static_cast<size_t>(done->request.records_size());
          for (auto& [group, n] : done->groups) {
            group->remaining -= n;
            if (group->remaining == 0 && group->done) {
              completed.push_back(std::move(group->done));
              group->done = nullptr;
            }
          }
        }
      }
      if (unexpected) {
        // A reply we did not ask for: the stream is broken; cancelling it is the only way to
        // end it from here (Finish then reports CANCELLED, which is resent like UNAVAILABLE).
        context.TryCancel();
        break;
      }
      cv_.notify_all();
      Settled(acknowledged);
      for (Done& d : completed) {
        std::move(d)(absl::OkStatus());
      }
      completed.clear();
    }
    // No TryCancel here: Read ended because the gateway finished the call, and cancelling now
    // would replace its status (say INVALID_ARGUMENT for a refused record) with CANCELLED.
    {
      std::lock_guard lock(mu_);
      session_broken_ = true;
    }
    cv_.notify_all();
  });

  while (true) {
    std::shared_ptr<Batch> batch;
    size_t dropped = 0;  // Records of groups refused for good, left in the queue.
    {
      std::unique_lock lock(mu_);
      // Idle sessions stay open: the stream is cheap and reopening costs a round trip.
      cv_.wait(lock, stop, [this] {
        return session_broken_ ||
               (!queue_.empty() &&
                inflight_.size() < static_cast<size_t>(options_.inflight_batches));
      });
      if (stop.stop_requested() || session_broken_) {
        break;
      }
      batch = std::make_shared<Batch>();
      batch->request.set_topic(options_.topic);
      const size_t count =
          std::min(queue_.size(), static_cast<size_t>(options_.batch_records));
      batch->request.mutable_records()->Reserve(static_cast<int>(count));
      size_t bytes = 0;
      for (size_t i = 0; i < count && !queue_.empty();) {
        Pending& p = queue_.front();
        if (p.group->failed) {
          queue_.pop_front();  // The rest of a group refused for good: its caller was told.
          ++dropped;
          continue;
        }
        // A group under suspicion travels alone, so that a refusal names it and no other.
        if (!batch->groups.empty() && batch->groups.back().first != p.group &&
            (p.group->isolate || batch->groups.back().first->isolate)) {
          break;
        }
        // Bounded in bytes too: 500 records of 200 KiB would pass the gateway's gRPC message
        // limit, and that request would be refused whole, every time.
        if (i > 0 && bytes + p.bytes > options_.batch_bytes) {
          break;
        }
        bytes += p.bytes;
        batch->request.mutable_records()->Add(std::move(p.record));
        if (batch->groups.empty() || batch->groups.back().first != p.group) {
          batch->groups.emplace_back(std::move(p.group), 0);
        }
        ++batch->groups.back().second;
        queue_.pop_front();
        ++i;
      }
      if (!batch->groups.empty()) {
        // In flight before it is written: its reply may come before Write returns. The writer
        // keeps its own reference, so the reader dropping the batch cannot pull it from under us.
        inflight_.push_back(batch);
      }
    }
    Settled(dropped);
    if (batch->groups.empty()) {
      continue;  // Only dropped records were queued.
    }
    if (!stream->Write(batch->request)) {
      break;  // The call is over: the reader's Read ends too.
    }
  }
  // On stop the stop_callback has cancelled the call; otherwise the gateway ended it (the reader
  // saw that) or a Write failed because it had ended. Either way the reader ends by itself.
  reader.join();
  absl::Status status = FromGrpcStatus(stream->Finish());
  const bool permanent = !stop.stop_requested() && IsPermanentPublishError(status);
  enum { kResend, kIsolated, kFailed } outcome = kResend;
  std::vector<Done> failed;
  size_t refused_records = 0;
  size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    if (permanent && !inflight_.empty()) {
      // The gateway answers in order and stops at the first batch it cannot take: the oldest
      // unacknowledged one. Later batches may or may not be stored; they are resent.
      Batch& refused = *inflight_.front();
      refused_records = static_cast<size_t>(refused.request.records_size());
      if (options_.refused != nullptr) options_.refused->Add();
      if (!options_.fail_refused) {
        refused_detail_ = options_.describe ? options_.describe(refused.request.records(0))
                                            : refused.request.records(0).key();
      } else if (refused.groups.size() > 1) {
        for (auto& [group, n] : refused.groups) group->isolate = true;
        outcome = kIsolated;
      } else {
        Group& group = *refused.groups.front().first;
        group.failed = true;
        if (group.done) failed.push_back(std::move(group.done));
        group.done = nullptr;
        dropped += refused_records;
        inflight_.pop_front();
        outcome = kFailed;
      }
    }
    // Whatever was not acknowledged goes back to the front of the queue, in order.
    for (auto it = inflight_.rbegin(); it != inflight_.rend(); ++it) {
      Batch& b = **it;
      int index = b.request.records_size();
      for (auto g = b.groups.rbegin(); g != b.groups.rend(); ++g) {
        for (size_t k = 0; k < g->second; ++k) {
          --index;
          if (g->first->failed) {
            ++dropped;
            continue;
          }
          liiklus::PublishRequest& r = *b.request.mutable_records(index);
          const size_t bytes = r.ByteSizeLong();
          queue_.push_front({std::move(r), g->first, bytes});
        }
      }
    }
    inflight_.clear();
  }
  Settled(dropped);
  if (stop.stop_requested()) {
    return absl::CancelledError("stopping");
  }
  switch (outcome) {
    case kFailed: {
      RUNNEL_LOG(ERROR) << "the gateway refused a batch for good; failing its group"
                        << Kv("topic", options_.topic) << Kv("records", refused_records)
                        << Kv("status", status.ToString());
      const absl::Status group_status(
          status.code(), absl::StrCat("publish to '", options_.topic, "': ", status.message()));
      for (Done& d : failed) std::move(d)(group_status);
      return absl::OkStatus();  // Reopen at once: the refused records are gone.
    }
    case kIsolated:
      RUNNEL_LOG(WARNING) << "the gateway refused a batch of several groups; resending them one "
                             "group per batch to find the refused one"
                          << Kv("topic", options_.topic) << Kv("status", status.ToString());
      return absl::OkStatus();
    case kResend:
      break;
  }
  return status.ok() ? absl::UnavailableError("publish stream ended") : status;
}

void Publisher::UnaryLoop(std::stop_token stop) {
  using Clock = std::chrono::steady_clock;
  Backoff backoff(options_.retry);
  // No call starts before this (the back-off after a failed call). Calls already in flight go on.
  Clock::time_point resume_at = Clock::time_point::min();
  // Handles calls whose callback ran (under mu_): collects the groups to complete or fail and
  // the records that left. Returns the delay of a new back-off, if one started.
  std::vector<Done> completed;
  std::vector<std::pair<Done, absl::Status>> failed;
  size_t settled = 0;
  std::vector<std::string> log_lines;
  auto handle_finished = [&]() {
    for (std::shared_ptr<UnaryCall>& call : finished_) {
      const absl::Status status = FromGrpcStatus(call->status);
      Group& group = *call->group;
      if (status.ok()) {
        lanes_.Done(call->key);
        ++settled;
        backoff.Reset();
        if (--group.remaining == 0 && group.done) {
          completed.push_back(std::move(group.done));
          group.done = nullptr;
        }
        continue;
      }
      const bool permanent = !stop.stop_requested() && IsPermanentPublishError(status);
      if (permanent && options_.refused != nullptr) options_.refused->Add();
      if (permanent && options_.fail_refused) {
        // The record is refused for good: its group fails, the rest of it is dropped as it
        // comes up in its lanes. Calls of the group in flight finish; their outcome is ignored.
        lanes_.Done(call->key);
        ++settled;
        group.failed = true;
        if (group.done) {
          failed.emplace_back(std::move(group.done),
                              absl::Status(status.code(), absl::StrCat("publish to '",
                                                                       options_.topic, "': ",
                                                                       status.message())));
          group.done = nullptr;
          log_lines.push_back(status.ToString());
        }
        continue;
      }
      if (permanent) {
        refused_detail_ =
            options_.describe ? options_.describe(call->request) : call->request.key();
      }
      // Sent again, before anything of its key queued behind it, after a back-off.
      lanes_.Done(call->key, Pending{std::move(call->request), call->group, call->bytes});
      const Clock::time_point now = Clock::now();
      if (now >= resume_at && !stop.stop_requested()) {
        const absl::Duration delay = backoff.NextDelay();
        resume_at = now + absl::ToChronoNanoseconds(delay);
        const absl::Time wall = absl::Now();
        if (!permanent) {
          RUNNEL_LOG(WARNING) << "liiklus Publish failed; resending after a back-off"
                              << Kv("topic", options_.topic) << Kv("status", status.ToString())
                              << Kv("retry_in", delay);
        } else if (wall - refusal_logged_ >= absl::Minutes(1)) {
          refusal_logged_ = wall;
          RUNNEL_LOG(ERROR) << "the gateway refuses a record for good; resending it after a "
                               "back-off (nothing is acknowledged meanwhile)"
                            << Kv("topic", options_.topic) << Kv("status", status.ToString())
                            << Kv("first_record", refused_detail_) << Kv("retry_in", delay);
        }
      }
    }
    finished_.clear();
  };
  auto run_outcomes = [&]() {
    Settled(settled);
    settled = 0;
    for (const std::string& line : log_lines) {
      RUNNEL_LOG(ERROR) << "the gateway refused a record for good; failing its group"
                        << Kv("topic", options_.topic) << Kv("status", line);
    }
    log_lines.clear();
    for (Done& d : completed) std::move(d)(absl::OkStatus());
    completed.clear();
    for (auto& [d, status] : failed) std::move(d)(status);
    failed.clear();
  };

  while (true) {
    std::vector<std::shared_ptr<UnaryCall>> start;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] {
        return !finished_.empty() || !queue_.empty() ||
               (lanes_.can_send() && Clock::now() >= resume_at);
      };
      if (Clock::now() < resume_at) {
        cv_.wait_until(lock, stop, resume_at, ready);
      } else {
        cv_.wait(lock, stop, ready);
      }
      if (stop.stop_requested()) break;
      while (!queue_.empty()) {
        std::string key = queue_.front().record.key();
        lanes_.Push(key, std::move(queue_.front()));
        queue_.pop_front();
      }
      handle_finished();
      while (Clock::now() >= resume_at) {
        std::optional<std::pair<std::string, Pending>> next = lanes_.Next();
        if (!next) break;
        Pending& p = next->second;
        if (p.group->failed) {  // The rest of a group refused for good: its caller was told.
          lanes_.Done(next->first);
          ++settled;
          continue;
        }
        auto call = std::make_shared<UnaryCall>();
        call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        call->request = std::move(p.record);
        call->key = std::move(next->first);
        call->group = std::move(p.group);
        call->bytes = p.bytes;
        calls_.push_back(call);
        start.push_back(std::move(call));
      }
    }
    run_outcomes();
    // Started without mu_ held: a callback may run inline, and it takes mu_.
    for (std::shared_ptr<UnaryCall>& call : start) {
      UnaryCall* c = call.get();
      liiklus_->async()->Publish(&c->context, &c->request, &c->reply,
                                 [this, call = std::move(call)](grpc::Status status) {
                                   std::lock_guard lock(mu_);
                                   call->status = std::move(status);
                                   std::erase(calls_, call);
                                   finished_.push_back(call);
                                   // Under mu_: once the writer sees calls_ empty, the
                                   // Publisher may go; nothing here touches it after.
                                   cv_.notify_all();
                                 });
    }
  }
  // Stopping: the callbacks reference this, so every call must end first. Those cancelled go
  // back to their lanes and are failed with CANCELLED by Stop; those that made it count.
  std::vector<std::shared_ptr<UnaryCall>> in_flight;
  {
    std::lock_guard lock(mu_);
    in_flight = calls_;
  }
  for (auto& call : in_flight) call->context.TryCancel();
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return calls_.empty(); });
    handle_finished();
  }
  run_outcomes();
}

// ---------------------------------------------------------------------------------------------
// Acker

Acker::Acker(std::shared_ptr<grpc::Channel> channel, std::string topic, std::string group)
    : stub_(liiklus::LiiklusService::NewStub(channel)),
      topic_(std::move(topic)),
      group_(std::move(group)) {}

Acker::~Acker() { WaitIdle(absl::Seconds(10)); }

void Acker::Ack(uint32_t partition, int64_t offset) {
  std::function<void()> start;
  {
    absl::MutexLock lock(&mu_);
    PartitionState& state = partitions_[partition];
    if (offset <= state.wanted) {
      return;
    }
    state.wanted = offset;
    if (!state.in_flight) {
      start = PrepareLocked(partition, state);
    }
  }
  if (start) start();
}

void Acker::RetryFailed() {
  std::vector<std::function<void()>> starts;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [partition, state] : partitions_) {
      if (state.failed && !state.in_flight) {
        starts.push_back(PrepareLocked(partition, state));
      }
    }
  }
  for (auto& start : starts) start();
}

std::function<void()> Acker::PrepareLocked(uint32_t partition, PartitionState& state) {
  struct Call {
    grpc::ClientContext context;
    liiklus::AckRequest request;
    google::protobuf::Empty reply;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  call->request.set_topic(topic_);
  call->request.set_group(group_);
  call->request.set_partition(partition);
  call->request.set_offset(static_cast<uint64_t>(state.wanted));
  state.in_flight = true;
  state.failed = false;
  state.sent = state.wanted;
  ++in_flight_;
  ++acks_sent_;
  const int64_t offset = state.wanted;
  // Started by the caller after it drops mu_: the completion may run on any thread, and it
  // takes mu_ itself.
  return [this, call, partition, offset] {
    stub_->async()->Ack(&call->context, &call->request, &call->reply,
                        [this, call, partition, offset](grpc::Status status) {
                          OnAckDone(partition, offset, std::move(status));
                        });
  };
}

void Acker::OnAckDone(uint32_t partition, int64_t offset, grpc::Status status) {
  std::function<void()> start;
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    PartitionState& state = partitions_[partition];
    state.in_flight = false;
    if (!status.ok()) {
      RUNNEL_LOG(WARNING) << "ack failed; will resend" << Kv("topic", topic_)
                          << Kv("partition", partition) << Kv("offset", offset)
                          << Kv("status", FromGrpcStatus(status).ToString());
      state.failed = true;
      return;
    }
    if (state.wanted > offset) {
      start = PrepareLocked(partition, state);
    }
  }
  if (start) start();
}

bool Acker::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](int* n) { return *n == 0; }, &in_flight_),
                              timeout);
}

uint64_t Acker::acks_sent() const {
  absl::MutexLock lock(&mu_);
  return acks_sent_;
}

absl::StatusOr<std::map<uint32_t, int64_t>> LookUpLag(const std::shared_ptr<grpc::Channel>& channel,
                                                      const std::string& topic,
                                                      const std::string& group) {
  auto stub = liiklus::LiiklusService::NewStub(channel);
  liiklus::GetEndOffsetsReply ends;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    liiklus::GetEndOffsetsRequest request;
    request.set_topic(topic);
    grpc::Status status = stub->GetEndOffsets(&context, request, &ends);
    if (!status.ok()) return FromGrpcStatus(status);
  }
  liiklus::GetOffsetsReply positions;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    liiklus::GetOffsetsRequest request;
    request.set_topic(topic);
    request.set_group(group);
    grpc::Status status = stub->GetOffsets(&context, request, &positions);
    if (!status.ok()) return FromGrpcStatus(status);
  }
  std::map<uint32_t, int64_t> lag;
  for (const auto& [partition, end] : ends.offsets()) {
    auto it = positions.offsets().find(partition);
    const uint64_t position = it == positions.offsets().end() ? 0 : it->second;
    lag[partition] = end > position ? static_cast<int64_t>(end - position) : 0;
  }
  return lag;
}

namespace {

// runnel.v1 GetStream; nullopt from a plain liiklus (UNIMPLEMENTED).
absl::StatusOr<std::optional<v1::Stream>> LookUpStream(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& stream) {
  auto stub = v1::Gateway::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetStreamRequest request;
  request.set_name(stream);
  v1::Stream reply;
  grpc::Status status = stub->GetStream(&context, request, &reply);
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return std::optional<v1::Stream>();
  }
  if (!status.ok()) {
    absl::Status s = FromGrpcStatus(status);
    return absl::Status(s.code(), absl::StrCat("look up stream '", stream, "': ", s.message()));
  }
  return std::optional<v1::Stream>(std::move(reply));
}

}  // namespace

absl::StatusOr<std::string> LookUpContentType(const std::shared_ptr<grpc::Channel>& channel,
                                              const std::string& stream) {
  absl::StatusOr<std::optional<v1::Stream>> found = LookUpStream(channel, stream);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return std::string("*/*");
  const std::string& type = (*found)->content_type();
  return type.empty() ? std::string("application/octet-stream") : type;
}

absl::StatusOr<int> LookUpPartitionCount(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& stream) {
  absl::StatusOr<std::optional<v1::Stream>> found = LookUpStream(channel, stream);
  if (!found.ok()) return found.status();
  return found->has_value() ? std::max(1, (*found)->partitions()) : 1;
}

}  // namespace runnel::sidecar
