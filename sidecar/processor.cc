#include "sidecar/processor.h"

#include <algorithm>
#include <deque>
#include <random>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "sidecar/ack_tracker.h"
#include "sidecar/config.h"
#include "sidecar/http_function_transport.h"
#include "sidecar/output_budget.h"
#include "sidecar/retry_policy.h"
#include "sidecar/windower.h"

namespace runnel::sidecar {

// Shared, read-mostly parts every lane uses. Publishers, ackers and the budget are thread-safe;
// the rest is immutable after construction. Members are destroyed bottom-up: publishers (whose
// Stop settles outputs into the budget) before the budget, whose paused calls' resumes hold
// calls of the transport, before the transport.
struct ProcessorContext {
  ProcessorOptions options;
  Clock* clock = nullptr;
  std::unique_ptr<FunctionTransport> transport;
  std::unique_ptr<OutputBudget> budget;  // Function outputs not yet durable.
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;  // By gateway address.
  streaming::StartFrame start_frame;                                // Filled during startup.
  std::vector<std::unique_ptr<Acker>> ackers;                       // Per input.
  std::vector<std::unique_ptr<Publisher>> publishers;               // Per output.
  std::unique_ptr<Publisher> dead_letter;

  // Metrics: looked up once, updated lock-free.
  std::vector<Counter*> records_in;   // Per input.
  std::vector<Counter*> records_out;  // Per output.
  Counter* duplicates = nullptr;
  Counter* windows_completed = nullptr;
  Counter* invocations = nullptr;
  Counter* invocation_errors = nullptr;
  Counter* retries = nullptr;
  Counter* dead_lettered = nullptr;
  Counter* acks = nullptr;
  std::vector<Counter*> publish_refused;  // Per output.
  Counter* dead_letter_refused = nullptr;
  Histogram* invocation_seconds = nullptr;

  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    auto& channel = channels[address];
    if (channel == nullptr) {
      channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    }
    return channel;
  }
};

namespace {

// A random (version 4) UUID in its text form. Written by hand: it runs once per output record.
std::string NewEventId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  uint64_t hi = random(), lo = random();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // Version 4.
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // Variant 1.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int pos = 0;
  auto put = [&](uint64_t bits, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) id[pos++] = kHex[(bits >> (4 * i)) & 0xf];
  };
  put(hi >> 32, 8);
  ++pos;
  put(hi >> 16, 4);
  ++pos;
  put(hi, 4);
  ++pos;
  put(lo >> 48, 4);
  ++pos;
  put(lo, 12);
  return id;
}

// A dead letter's input coordinates, for the log.
std::string DescribeDeadLetter(const liiklus::PublishRequest& r) {
  const auto& ext = r.liiklusevent().extensions();
  auto get = [&ext](const char* name) {
    auto it = ext.find(name);
    return it == ext.end() ? std::string("?") : it->second;
  };
  return absl::StrCat(get("runnelstream"), "/", get("runnelpartition"), "@", get("runneloffset"),
                      " (", r.liiklusevent().data_content_type(), ")");
}

std::string FunctionName(const ProcessorOptions& o) {
  return o.http_function ? o.http_function->url : o.function_address;
}

streaming::InputFrame ToFrame(const InputRecord& r) {
  streaming::InputFrame frame;
  frame.set_payload(r.event.data());
  frame.set_contenttype(r.event.data_content_type().empty() ? "application/octet-stream"
                                                            : r.event.data_content_type());
  frame.mutable_headers()->insert(r.event.extensions().begin(), r.event.extensions().end());
  frame.set_argindex(r.input);
  return frame;
}

}  // namespace

// One partition number's windows and invocations. State below "lane thread" is touched only by
// the worker thread; the mailbox is guarded by mu_.
class Lane {
 public:
  Lane(ProcessorContext& context, uint32_t partition)
      : ctx_(context),
        partition_(partition),
        windower_(context.options.window),
        retry_(context.options.invoke_retry, /*seed=*/partition + 17) {
    thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
  }

  ~Lane() {
    Stop();
    // Calls still running post into this lane from gRPC threads: cancel them and wait for their
    // last callback before the mailbox goes away.
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(+[](int* n) { return *n == 0; }, &live_calls_));
  }

  // Queues a received batch; blocks while the queue is full (that is the backpressure on the
  // input). The queue holds at most lane_queue_records plus one batch. False once the lane
  // drains or stops: the reader then stops reading.
  bool Push(std::vector<InputRecord>& batch) {
    absl::MutexLock lock(&mu_);
    auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return draining_ || stopped_ ||
             records_.size() < static_cast<size_t>(ctx_.options.lane_queue_records);
    };
    mu_.Await(absl::Condition(&room));
    if (draining_ || stopped_) {
      return false;
    }
    for (InputRecord& r : batch) records_.push_back(std::move(r));
    batch.clear();
    return true;
  }

  // Runs `task` on the lane thread. Never blocks.
  void Post(absl::AnyInvocable<void() &&> task) {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }

  // Stop taking records; close the open windows so that their invocations finish.
  void Drain() {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }

  // Waits until every window completed (or `deadline`); true when drained.
  bool WaitDrained(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(absl::Condition(&drained_), deadline);
  }

  // Ends the worker thread and cancels running invocations. Idempotent.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
    }
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
    }
    for (auto& [id, w] : windows_) {
      if (w.call != nullptr) {
        w.call->Cancel();
      }
    }
  }

  size_t unacked() const { return unacked_.load(std::memory_order_relaxed); }

 private:
  struct Window {
    WindowId id = 0;
    std::vector<InputRecord> records;
    std::shared_ptr<FunctionCall> call;
    int attempt = 0;
    bool attempt_failed = false;  // Waiting for retry_at.
    absl::Status last_error;
    absl::Time retry_at;
    absl::Time call_started;
    bool input_closed = false;    // The windower closed it: no more records.
    bool half_closed = false;     // Close() sent on the current call.
    absl::Time linger_since;      // Last output (or close) while lingering before half-close.
    // The current call's FunctionTraits::answers_after_half_close; false until they arrive.
    bool answers_after_half_close = false;
    size_t outputs = 0;           // Outputs of the current attempt.
    bool call_ok = false;         // Function completed the window (or it was dead-lettered).
    bool released = false;        // Every earlier window is call_ok: outputs go straight out.
    std::vector<streaming::OutputFrame> held;  // Outputs waiting for earlier windows.
    int pending_publishes = 0;    // Groups handed to a Publisher (or staged), not yet durable.
    int failed_attempt = 0;       // The last attempt that failed: its late events are ignored.
    // Tells the budget whether the calls' outputs go straight out (released) or are held.
    std::shared_ptr<OutputBudget::Route> route = std::make_shared<OutputBudget::Route>();
  };

  // An output of a running call, waiting in the mailbox.
  struct Output {
    WindowId id;
    int attempt;
    streaming::OutputFrame frame;
  };

  // Records for one publisher and one window, collected during a pass of the lane loop and
  // handed over as one group at its end: one Publisher lock, one wake-up and one completion
  // task per group instead of per record.
  struct Staged {
    WindowId id;
    int attempt;
    Publisher* publisher;
    std::vector<liiklus::PublishRequest> records;
  };

  void Run(std::stop_token stop) {
    std::stop_callback wake(stop, [this] {
      absl::MutexLock lock(&mu_);
      stop_flag_ = true;
    });
    bool closed_all = false;
    while (true) {
      std::deque<absl::AnyInvocable<void() &&>> tasks;
      std::vector<Output> outputs;
      std::deque<InputRecord> records;
      bool draining = false;
      {
        absl::MutexLock lock(&mu_);
        const bool can_accept = CanAccept();
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_flag_ || !tasks_.empty() || !outputs_.empty() ||
                 (can_accept && !records_.empty()) || (draining_ && !closed_all);
        };
        std::optional<absl::Time> deadline = NextTimer();
        if (deadline) {
          // Timers are on the injected clock; the wait is on the real one.
          mu_.AwaitWithTimeout(absl::Condition(&ready), *deadline - ctx_.clock->Now());
        } else {
          mu_.Await(absl::Condition(&ready));
        }
        if (stop_flag_) {
          return;
        }
        tasks.swap(tasks_);
        outputs.swap(outputs_);
        draining = draining_;
        if (can_accept && !draining_) {
          // A bounded slice, so that outputs and completions are not kept waiting behind a long
          // input queue; the open-window limit is re-checked before each record.
          for (int i = 0; i < 512 && !records_.empty(); ++i) {
            records.push_back(std::move(records_.front()));
            records_.pop_front();
          }
        }
      }
      time_text_.clear();  // Outputs of this pass share one CloudEvent time.
      // Outputs before tasks: a call's on_done task is queued after all its outputs, so the
      // outputs taken with it must be handled before it completes the window.
      for (Output& o : outputs) {
        OnOutput(o.id, o.attempt, std::move(o.frame));
      }
      for (auto& task : tasks) {
        std::move(task)();
      }
      while (!records.empty()) {
        const absl::Time before = ctx_.clock->Now();
        for (WindowId id : windower_.Advance(before)) {
          CloseInput(id, before);  // So that CanAccept sees the windower's real state.
        }
        if (!CanAccept()) {
          absl::MutexLock lock(&mu_);
          while (!records.empty()) {
            records_.push_front(std::move(records.back()));
            records.pop_back();
          }
          break;
        }
        Place(std::move(records.front()));
        records.pop_front();
      }
      const absl::Time now = ctx_.clock->Now();
      for (WindowId id : windower_.Advance(now)) {
        CloseInput(id, now);
      }
      OnTimers(now);
      if (draining && !closed_all) {
        closed_all = true;
        for (WindowId id : windower_.CloseAll()) {
          CloseInput(id, now);
        }
      }
      FlushStaged();
      unacked_.store(tracker_.pending(), std::memory_order_relaxed);
      if (draining && closed_all && windows_.empty()) {
        absl::MutexLock lock(&mu_);
        drained_ = true;
      }
    }
  }

  // Whether the next record may be placed. Besides the bound on windows in flight, a record
  // that would open a window waits while max_concurrent_invocations functions still run for
  // this lane: the function then sees one partition's windows in order (its side effects too),
  // while finished windows' outputs keep draining. Sliding windows overlap by definition and
  // are exempt.
  bool CanAccept() const {
    if (windows_.size() >= static_cast<size_t>(ctx_.options.max_open_windows)) {
      return false;
    }
    if (ctx_.options.window.kind == WindowSpec::Kind::kSliding || windower_.open_windows() > 0) {
      return true;
    }
    int running = 0;
    for (const auto& [id, w] : windows_) {
      if (!w.call_ok) ++running;
    }
    return running < ctx_.options.max_concurrent_invocations;
  }

  std::optional<absl::Time> NextTimer() const {
    std::optional<absl::Time> next = windower_.NextDeadline();
    auto consider = [&](absl::Time t) {
      if (!next || t < *next) next = t;
    };
    for (const auto& [id, w] : windows_) {
      if (w.call_ok) {
        continue;
      }
      if (w.attempt_failed) {
        consider(w.retry_at);
      } else if (w.input_closed && !w.half_closed && w.call != nullptr) {
        consider(w.linger_since + HalfCloseIdle(w));
      }
    }
    return next;
  }

  // A record arrives: window it, feed its windows' invocations, close what it filled.
  void Place(InputRecord&& record) {
    const PartitionKey key{.input = record.input, .partition = record.partition};
    if (record.offset <= tracker_.highest_tracked(key)) {
      ctx_.duplicates->Add();  // Redelivered after a reconnect; the first copy is in a window.
      return;
    }
    ctx_.records_in[record.input]->Add();
    const absl::Time now = ctx_.clock->Now();
    Placement p = windower_.Add(now);
    tracker_.Track(key, record.offset, static_cast<int>(p.member_of.size()));
    for (WindowId id : p.opened) {
      Window& w = windows_[id];
      w.id = id;
      if (ctx_.options.window.count > 0) {
        // Grown by doubling, a large window's records would be moved several times over.
        w.records.reserve(static_cast<size_t>(
            std::min<int64_t>(ctx_.options.window.count, ctx_.options.max_window_records)));
      }
      StartAttempt(w, now);
    }
    if (!p.opened.empty()) {
      ReleaseInOrder();  // A window opened behind only completed ones streams its outputs.
    }
    std::vector<WindowId> closed = p.closed;
    for (size_t i = 0; i < p.member_of.size(); ++i) {
      const WindowId id = p.member_of[i];
      Window& w = windows_.at(id);
      if (w.call != nullptr && !w.attempt_failed && !w.call_ok) {
        w.call->Send(ToFrame(record));
      }
      if (i + 1 == p.member_of.size()) {
        w.records.push_back(std::move(record));  // The last window takes it; others copy.
      } else {
        w.records.push_back(record);
      }
      if (w.records.size() >= static_cast<size_t>(ctx_.options.max_window_records) &&
          windower_.Close(id)) {
        closed.push_back(id);
      }
    }
    for (WindowId id : closed) {
      CloseInput(id, now);
    }
  }

  void StartAttempt(Window& w, absl::Time now) {
    ++w.attempt;
    w.attempt_failed = false;
    w.half_closed = false;
    w.answers_after_half_close = false;  // A new call: safe until it says otherwise.
    DropHeld(w);
    w.outputs = 0;
    w.call_started = now;
    const WindowId id = w.id;
    const int attempt = w.attempt;
    {
      absl::MutexLock lock(&mu_);
      ++live_calls_;
    }
    ctx_.invocations->Add();
    const absl::Time deadline = ctx_.options.invoke_timeout > absl::ZeroDuration()
                                    ? absl::Now() + ctx_.options.invoke_timeout
                                    : absl::InfiniteFuture();
    w.call = ctx_.transport->Start(
        ctx_.start_frame, deadline,
        {.on_output =
             [this, id, attempt](streaming::OutputFrame frame) {
               ctx_.budget->Add(1);  // Until durable or dropped.
               absl::MutexLock lock(&mu_);
               outputs_.push_back({id, attempt, std::move(frame)});
             },
         .on_done =
             [this, id, attempt](absl::Status status) {
               absl::MutexLock lock(&mu_);
               tasks_.push_back([this, id, attempt, status = std::move(status)]() mutable {
                 OnCallDone(id, attempt, std::move(status));
               });
               --live_calls_;
             },
         .on_reject =
             [this, id, attempt](size_t index, absl::Status status,
                                 std::map<std::string, std::string> detail) {
               Post([this, id, attempt, index, status = std::move(status),
                     detail = std::move(detail)]() mutable {
                 OnReject(id, attempt, index, std::move(status), std::move(detail));
               });
             },
         .may_read =
             [budget = ctx_.budget.get(), route = w.route](OutputBudget::Resume resume) {
               return budget->MayRead(route, std::move(resume));
             },
         .on_traits =
             [this, id, attempt](FunctionTraits traits) {
               Post([this, id, attempt, traits] { OnTraits(id, attempt, traits); });
             }});
    for (const InputRecord& r : w.records) {
      w.call->Send(ToFrame(r));
    }
    if (w.input_closed) {
      w.linger_since = now;
      MaybeHalfClose(w, now);
    }
  }

  void CloseInput(WindowId id, absl::Time now) {
    auto it = windows_.find(id);
    if (it == windows_.end()) {
      return;
    }
    Window& w = it->second;
    w.input_closed = true;
    w.linger_since = now;
    if (!w.attempt_failed && !w.call_ok) {
      MaybeHalfClose(w, now);
    }
    MaybeComplete(w);
  }

  void MaybeHalfClose(Window& w, absl::Time now) {
    if (w.half_closed || w.call == nullptr) {
      return;
    }
    // Lingering (invokers that lose in-flight outputs on half-close): as soon as there are as
    // many outputs as inputs (every map-like function is done), else once outputs paused.
    if (now - w.linger_since >= HalfCloseIdle(w) || w.outputs >= w.records.size()) {
      w.half_closed = true;
      w.call->Close();
    }
  }

  // The linger before half-closing `w`'s call: as configured, else none for a function that
  // answers after a half-close, else the safe default (also while its traits are unknown).
  absl::Duration HalfCloseIdle(const Window& w) const {
    if (ctx_.options.half_close_idle.has_value()) {
      return *ctx_.options.half_close_idle;
    }
    return w.answers_after_half_close ? absl::ZeroDuration() : kSafeHalfCloseIdle;
  }

  void OnTraits(WindowId id, int attempt, FunctionTraits traits) {
    auto it = windows_.find(id);
    if (it == windows_.end() || it->second.attempt != attempt) {
      return;  // From an abandoned attempt.
    }
    Window& w = it->second;
    w.answers_after_half_close = traits.answers_after_half_close;
    if (w.input_closed && !w.attempt_failed && !w.call_ok) {
      MaybeHalfClose(w, ctx_.clock->Now());  // It may be lingering for nothing.
    }
  }

  void OnTimers(absl::Time now) {
    for (auto& [id, w] : windows_) {
      if (w.attempt_failed && !w.call_ok && now >= w.retry_at) {
        ctx_.retries->Add();
        StartAttempt(w, now);
      } else if (w.input_closed && !w.attempt_failed && !w.call_ok) {
        MaybeHalfClose(w, now);
      }
    }
  }

  void OnOutput(WindowId id, int attempt, streaming::OutputFrame frame) {
    auto it = windows_.find(id);
    if (it == windows_.end() || it->second.attempt != attempt || it->second.attempt_failed ||
        it->second.failed_attempt == attempt) {
      ctx_.budget->Remove(1);
      return;  // From an abandoned attempt.
    }
    Window& w = it->second;
    w.linger_since = ctx_.clock->Now();
    ++w.outputs;
    if (w.input_closed && !w.half_closed) {
      MaybeHalfClose(w, w.linger_since);
    }
    const int outputs = static_cast<int>(ctx_.publishers.size());
    if (frame.resultindex() < 0 || frame.resultindex() >= outputs) {
      ctx_.budget->Remove(1);
      FailAttempt(w, absl::InvalidArgumentError(absl::StrCat(
                         "the function emitted on output ", frame.resultindex(),
                         " but the processor has ", outputs, " output(s)")));
      return;
    }
    if (w.released) {
      PublishOutput(w, std::move(frame));
    } else {
      w.held.push_back(std::move(frame));
      ctx_.budget->Hold(1);
    }
  }

  // A request-reply function refused one record for good: dead-letter that record alone and go
  // on with the window. Without a dead-letter stream the window fails (never dropped silently).
  void OnReject(WindowId id, int attempt, size_t index, absl::Status status,
                std::map<std::string, std::string> detail) {
    auto it = windows_.find(id);
    if (it == windows_.end() || it->second.attempt != attempt || it->second.attempt_failed ||
        it->second.failed_attempt == attempt) {
      return;
    }
    Window& w = it->second;
    if (ctx_.dead_letter == nullptr || index >= w.records.size()) {
      FailAttempt(w, std::move(status));
      return;
    }
    ++w.outputs;  // Its answer, for the half-close rule.
    RUNNEL_LOG(WARNING) << "the function refused a record; dead-lettering it"
                        << Kv("partition", partition_) << Kv("offset", w.records[index].offset)
                        << Kv("status", status.ToString());
    DeadLetterRecord(w, w.records[index], status.ToString(), std::move(detail));
  }

  void OnCallDone(WindowId id, int attempt, absl::Status status) {
    auto it = windows_.find(id);
    if (it == windows_.end() || it->second.attempt != attempt || it->second.attempt_failed ||
        it->second.failed_attempt == attempt) {
      return;
    }
    Window& w = it->second;
    const absl::Time now = ctx_.clock->Now();
    ctx_.invocation_seconds->Observe(absl::ToDoubleSeconds(now - w.call_started));
    if (!status.ok()) {
      FailAttempt(w, std::move(status));
      return;
    }
    w.call_ok = true;
    if (!w.input_closed) {
      // The function completed before the window closed: later records start a new window.
      windower_.Close(id);
      w.input_closed = true;
    }
    ReleaseInOrder();  // May complete (and erase) w.
    MaybeComplete(id);
  }

  void FailAttempt(Window& w, absl::Status status) {
    ctx_.invocation_errors->Add();
    w.attempt_failed = true;
    w.failed_attempt = w.attempt;
    DropHeld(w);
    w.last_error = status;
    if (w.call != nullptr) {
      w.call->Cancel();  // No-op when it already ended.
    }
    const absl::Time now = ctx_.clock->Now();
    if (retry_.ShouldRetry(w.attempt)) {
      const absl::Duration delay = retry_.Delay(w.attempt);
      w.retry_at = now + delay;
      RUNNEL_LOG(WARNING) << "invocation failed; retrying" << Kv("partition", partition_)
                          << Kv("window", w.id) << Kv("attempt", w.attempt)
                          << Kv("records", w.records.size()) << Kv("retry_in", delay)
                          << Kv("status", status.ToString());
    } else if (ctx_.dead_letter != nullptr) {
      DeadLetter(w);
    } else {
      w.retry_at = now + ctx_.options.invoke_retry.max_backoff;
      RUNNEL_LOG(ERROR) << "invocation failed and there is no dead-letter stream; retrying"
                        << Kv("partition", partition_) << Kv("window", w.id)
                        << Kv("attempt", w.attempt) << Kv("status", status.ToString());
    }
  }

  void DeadLetter(Window& w) {
    RUNNEL_LOG(ERROR) << "dead-lettering a window's records" << Kv("partition", partition_)
                      << Kv("window", w.id) << Kv("attempts", w.attempt)
                      << Kv("records", w.records.size())
                      << Kv("status", w.last_error.ToString());
    w.attempt_failed = false;
    w.call_ok = true;
    if (!w.input_closed) {
      windower_.Close(w.id);
      w.input_closed = true;
    }
    const std::string error = w.last_error.ToString();
    for (const InputRecord& r : w.records) {
      DeadLetterRecord(w, r, error, {});
    }
    const WindowId id = w.id;
    ReleaseInOrder();  // May complete (and erase) w.
    MaybeComplete(id);
  }

  // Stages `r` for the dead-letter stream, as part of one of `w`'s pending publish groups.
  void DeadLetterRecord(Window& w, const InputRecord& r, const std::string& error,
                        std::map<std::string, std::string> detail) {
    liiklus::PublishRequest request;
    request.set_key(r.key);
    liiklus::LiiklusEvent& event = *request.mutable_liiklusevent();
    event = r.event;
    auto& ext = *event.mutable_extensions();
    ext.insert(detail.begin(), detail.end());
    ext["runnelerror"] = error;
    ext["runnelattempts"] = absl::StrCat(w.attempt);
    ext["runnelstream"] = ctx_.options.inputs[r.input].stream;
    ext["runnelpartition"] = absl::StrCat(r.partition);
    ext["runneloffset"] = absl::StrCat(r.offset);
    ext["runnelprocessor"] = ctx_.options.name;
    ctx_.dead_lettered->Add();
    Stage(w, ctx_.dead_letter.get(), std::move(request));
  }

  // Outputs keep window order: a window's outputs go out directly only once every earlier
  // window's function completed; before that they are held.
  void ReleaseInOrder() {
    std::vector<WindowId> done;
    bool released = false;
    for (auto& [id, w] : windows_) {
      if (!w.released) {
        w.released = true;
        w.route->released.store(true, std::memory_order_release);
        released = true;
        std::vector<streaming::OutputFrame> held;
        held.swap(w.held);
        ctx_.budget->Unhold(held.size());
        for (auto& frame : held) {
          PublishOutput(w, std::move(frame));
        }
        if (w.call_ok) {
          done.push_back(id);  // It may have nothing left to wait for.
        }
      }
      if (!w.call_ok) {
        break;
      }
    }
    if (released) {
      ctx_.budget->Recheck();  // A paused call of a window released now may read on.
    }
    for (WindowId id : done) {
      MaybeComplete(id);
    }
  }

  // Drops the outputs a window holds for its current attempt (the attempt failed or restarts).
  void DropHeld(Window& w) {
    if (!w.held.empty()) {
      ctx_.budget->Remove(w.held.size(), /*held=*/w.held.size());
      w.held.clear();
    }
  }

  // Queues `request` for `publisher` as part of w's current group (FlushStaged hands it over).
  void Stage(Window& w, Publisher* publisher, liiklus::PublishRequest request) {
    if (staged_.empty() || staged_.back().id != w.id || staged_.back().attempt != w.attempt ||
        staged_.back().publisher != publisher) {
      staged_.push_back({w.id, w.attempt, publisher, {}});
      ++w.pending_publishes;
    }
    staged_.back().records.push_back(std::move(request));
  }

  void FlushStaged() {
    for (Staged& s : staged_) {
      s.publisher->Publish(std::move(s.records), Published(s.id, s.attempt));
    }
    staged_.clear();
  }

  // An output group the gateway refused for good (say, a content type its stream does not take,
  // or a record larger than it takes) fails the attempt that emitted it like a function error:
  // retried, then dead-lettered. The dead-letter publisher never fails a group that way (it
  // resends), and CANCELLED only comes at shutdown, when the window is abandoned anyway.
  Publisher::Done Published(WindowId id, int attempt) {
    return [this, id, attempt](absl::Status status) {
      Post([this, id, attempt, status = std::move(status)]() mutable {
        auto it = windows_.find(id);
        if (it == windows_.end()) {
          return;
        }
        Window& w = it->second;
        --w.pending_publishes;
        if (status.ok()) {
          MaybeComplete(w);
        } else if (IsPermanentPublishError(status) && w.attempt == attempt &&
                   w.failed_attempt != attempt) {
          w.call_ok = false;  // The attempt's results are not all durable: it failed.
          FailAttempt(w, std::move(status));
        }
      });
    };
  }

  void PublishOutput(Window& w, streaming::OutputFrame frame) {
    const int index = frame.resultindex();
    liiklus::PublishRequest request;
    liiklus::LiiklusEvent& event = *request.mutable_liiklusevent();
    event.set_id(NewEventId());
    event.set_type("riff-event");
    event.set_source(ctx_.options.name);
    if (time_text_.empty()) {
      time_text_ = absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone());
    }
    event.set_time(time_text_);
    event.set_data_content_type(frame.contenttype());
    event.set_data(std::move(*frame.mutable_payload()));
    for (auto& [name, value] : *frame.mutable_headers()) {
      // A "key" header partitions the output; it is the record key, not an extension.
      if (absl::AsciiStrToLower(name) == "key") {
        request.set_key(value);
      } else {
        (*event.mutable_extensions())[name] = value;
      }
    }
    ctx_.records_out[index]->Add();
    Stage(w, ctx_.publishers[index].get(), std::move(request));
  }

  void MaybeComplete(WindowId id) {
    auto it = windows_.find(id);
    if (it != windows_.end()) {
      MaybeComplete(it->second);
    }
  }

  // A window is complete when its function completed, its input is closed, its outputs were
  // released and every one of them is durable. Only then do its records count as processed.
  void MaybeComplete(Window& w) {
    if (!w.call_ok || !w.input_closed || !w.released || w.pending_publishes > 0) {
      return;
    }
    for (const InputRecord& r : w.records) {
      tracker_.Complete({.input = r.input, .partition = r.partition}, r.offset);
    }
    ctx_.windows_completed->Add();
    windows_.erase(w.id);
    for (const AckPosition& ack : tracker_.TakeAcks()) {
      ctx_.acks->Add();
      ctx_.ackers[ack.key.input]->Ack(ack.key.partition, ack.offset);
    }
  }

  ProcessorContext& ctx_;
  const uint32_t partition_;

  // Lane thread.
  Windower windower_;
  AckTracker tracker_;
  RetryPolicy retry_;
  std::map<WindowId, Window> windows_;
  std::vector<Staged> staged_;
  std::string time_text_;  // CloudEvent time of this pass's outputs; empty until first needed.
  std::atomic<size_t> unacked_{0};

  // Mailbox.
  absl::Mutex mu_;
  std::deque<InputRecord> records_ ABSL_GUARDED_BY(mu_);
  std::vector<Output> outputs_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_flag_ ABSL_GUARDED_BY(mu_) = false;
  int live_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::jthread thread_;  // Last: starts after, and stops before, everything above.
};

Processor::Processor(ProcessorOptions options, Clock& clock, MetricsRegistry& metrics,
                     std::unique_ptr<FunctionTransport> transport)
    : options_(std::move(options)),
      clock_(clock),
      metrics_(metrics),
      context_(std::make_unique<ProcessorContext>()) {
  ProcessorContext& c = *context_;
  c.options = options_;
  c.clock = &clock_;
  if (transport != nullptr) {
    c.transport = std::move(transport);
  } else if (options_.http_function) {
    c.transport = NewHttpFunctionTransport(*options_.http_function, options_.invoke_retry, metrics);
  } else {
    c.transport = NewGrpcFunctionTransport(options_.function_address);
  }
  c.budget = std::make_unique<OutputBudget>(static_cast<size_t>(options_.max_pending_outputs));
  for (size_t i = 0; i < options_.inputs.size(); ++i) {
    const StreamBinding& in = options_.inputs[i];
    c.ackers.push_back(
        std::make_unique<Acker>(c.Channel(in.gateway), in.stream, options_.group));
    c.records_in.push_back(&metrics.GetCounter("runnel_processor_records_in_total",
                                               "Records read from an input stream.",
                                               {{"stream", in.stream}, {"input", in.alias}}));
    c.start_frame.add_inputnames(in.alias);
  }
  for (const StreamBinding& out : options_.outputs) {
    c.records_out.push_back(&metrics.GetCounter("runnel_processor_records_out_total",
                                                "Records published to an output stream.",
                                                {{"stream", out.stream}, {"output", out.alias}}));
    c.start_frame.add_outputnames(out.alias);
    c.publish_refused.push_back(&metrics.GetCounter(
        "runnel_processor_publish_refused_total",
        "Publish batches the gateway refused for good (the invocation fails, or dead letters are "
        "resent).",
        {{"stream", out.stream}, {"output", out.alias}}));
  }
  if (options_.dead_letter) {
    c.dead_letter_refused = &metrics.GetCounter(
        "runnel_processor_publish_refused_total",
        "Publish batches the gateway refused for good (the invocation fails, or dead letters are "
        "resent).",
        {{"stream", options_.dead_letter->stream}, {"output", "dead-letter"}});
  }
  c.duplicates = &metrics.GetCounter("runnel_processor_duplicates_total",
                                     "Redelivered input records dropped (already windowed).");
  c.windows_completed = &metrics.GetCounter("runnel_processor_windows_total",
                                            "Windows completed and acknowledged.");
  c.invocations = &metrics.GetCounter("runnel_processor_invocations_total",
                                      "Function invocations started (retries included).");
  c.invocation_errors = &metrics.GetCounter("runnel_processor_invocation_errors_total",
                                            "Function invocations that failed.");
  c.retries = &metrics.GetCounter("runnel_processor_retries_total",
                                  "Function invocations retried after a failure.");
  c.dead_lettered = &metrics.GetCounter("runnel_processor_dead_lettered_total",
                                        "Input records sent to the dead-letter stream.");
  c.acks = &metrics.GetCounter("runnel_processor_acks_total", "Input positions acknowledged.");
  c.invocation_seconds = &metrics.GetHistogram(
      "runnel_processor_invocation_seconds", "Time from an invocation's start to its end.");
  metrics.AddCollector([this](std::string* out) {
    size_t unacked = 0;
    {
      absl::MutexLock lock(&lanes_mu_);
      for (auto& [p, lane] : lanes_) unacked += lane->unacked();
    }
    absl::StrAppend(out,
                    "# HELP runnel_processor_unacked_records Records read but not yet "
                    "acknowledged (windows in progress).\n"
                    "# TYPE runnel_processor_unacked_records gauge\n"
                    "runnel_processor_unacked_records ",
                    unacked, "\n");
    absl::StrAppend(out,
                    "# HELP runnel_processor_pending_outputs Function outputs read but not yet "
                    "durable (the processor stops reading from the function at "
                    "--max-pending-outputs).\n"
                    "# TYPE runnel_processor_pending_outputs gauge\n"
                    "runnel_processor_pending_outputs ",
                    context_->budget->pending(), "\n");
    absl::MutexLock lock(&lag_mu_);
    if (lag_.empty()) return;
    absl::StrAppend(out,
                    "# HELP runnel_processor_lag_records Records between the group's acknowledged "
                    "position and the partition's end (end offset minus position, as KEDA's "
                    "liiklus scaler counts).\n"
                    "# TYPE runnel_processor_lag_records gauge\n");
    for (const auto& [key, lag] : lag_) {
      const StreamBinding& in = options_.inputs[key.first];
      absl::StrAppend(out, "runnel_processor_lag_records{stream=\"", in.stream, "\",input=\"",
                      in.alias, "\",partition=\"", key.second, "\"} ", lag, "\n");
    }
  });
}

Processor::~Processor() { Shutdown(); }

void Processor::Start(OnFatal on_fatal) {
  on_fatal_ = std::move(on_fatal);
  startup_ = std::jthread([this](std::stop_token stop) { Startup(stop); });
}

bool Processor::Ready(std::string* detail) const {
  absl::MutexLock lock(&mu_);
  *detail = state_;
  return ready_;
}

void Processor::Startup(std::stop_token stop) {
  ProcessorContext& c = *context_;
  auto set_state = [this](std::string s) {
    absl::MutexLock lock(&mu_);
    state_ = std::move(s);
  };
  Backoff backoff(options_.connect_retry);
  // Output content types: given by the bindings, or the gateway's stream definitions.
  for (const StreamBinding& out : options_.outputs) {
    std::string content_type = out.content_type;
    while (content_type.empty()) {
      absl::StatusOr<std::string> looked_up = LookUpContentType(c.Channel(out.gateway), out.stream);
      if (looked_up.ok()) {
        content_type = *looked_up;
        break;
      }
      const absl::Duration delay = backoff.NextDelay();
      set_state(absl::StrCat("waiting for output stream '", out.stream, "' on ", out.gateway,
                             ": ", looked_up.status().message()));
      RUNNEL_LOG(WARNING) << "cannot look up an output stream; retrying"
                          << Kv("stream", out.stream) << Kv("gateway", out.gateway)
                          << Kv("status", looked_up.status().ToString()) << Kv("retry_in", delay);
      if (!SleepUnlessStopped(stop, delay)) return;
    }
    backoff.Reset();
    c.start_frame.add_expectedcontenttypes(content_type);
  }
  // The dead-letter stream must take every record an input can hold (dead letters keep their
  // input's content type), or a dead letter would be refused for good and its window could
  // never be acknowledged: refuse such a configuration up front (it ends the process).
  if (options_.dead_letter) {
    auto look_up = [&](const StreamBinding& b, const char* what) -> std::optional<std::string> {
      while (true) {
        absl::StatusOr<std::string> looked_up = LookUpContentType(c.Channel(b.gateway), b.stream);
        if (looked_up.ok()) {
          backoff.Reset();
          return *looked_up;
        }
        const absl::Duration delay = backoff.NextDelay();
        set_state(absl::StrCat("waiting for ", what, " stream '", b.stream, "' on ", b.gateway,
                               ": ", looked_up.status().message()));
        RUNNEL_LOG(WARNING) << "cannot look up a stream; retrying" << Kv("stream", b.stream)
                            << Kv("gateway", b.gateway)
                            << Kv("status", looked_up.status().ToString())
                            << Kv("retry_in", delay);
        if (!SleepUnlessStopped(stop, delay)) return std::nullopt;
      }
    };
    const StreamBinding& dl = *options_.dead_letter;
    std::optional<std::string> dl_type = look_up(dl, "dead-letter");
    if (!dl_type) return;
    std::map<std::string, std::string> input_types;
    for (const StreamBinding& in : options_.inputs) {
      std::optional<std::string> type = look_up(in, "input");
      if (!type) return;
      input_types[in.stream] = *type;
    }
    absl::Status checked = CheckDeadLetterContentType(dl.stream, *dl_type, input_types);
    if (!checked.ok()) {
      absl::Status fatal(checked.code(), absl::StrCat("--dead-letter: ", checked.message()));
      set_state(std::string(fatal.message()));
      RUNNEL_LOG(ERROR) << "refusing the dead-letter stream" << Kv("stream", dl.stream)
                        << Kv("status", fatal.ToString());
      if (on_fatal_) std::move(on_fatal_)(std::move(fatal));
      return;
    }
  }
  // The function: wait until it accepts connections, without crashing in a loop meanwhile.
  while (!c.transport->WaitReady(absl::Now() + absl::Seconds(1))) {
    const absl::Duration delay = backoff.NextDelay();
    set_state(absl::StrCat("waiting for the function at ", FunctionName(options_)));
    RUNNEL_LOG(WARNING) << "function not reachable; retrying"
                        << Kv("function", FunctionName(options_)) << Kv("retry_in", delay);
    if (!SleepUnlessStopped(stop, delay)) return;
  }
  for (size_t i = 0; i < options_.outputs.size(); ++i) {
    const StreamBinding& out = options_.outputs[i];
    c.publishers.push_back(std::make_unique<Publisher>(
        c.Channel(out.gateway),
        PublisherOptions{.topic = out.stream,
                         .batch_records = options_.publish_batch_records,
                         .batch_bytes = static_cast<size_t>(options_.publish_batch_bytes),
                         .inflight_batches = options_.publish_inflight_batches,
                         .retry = options_.connect_retry,
                         .refused = c.publish_refused[i],
                         .on_settled = [budget = c.budget.get()](size_t n) {
                           budget->Remove(n);
                         }}));
  }
  if (options_.dead_letter) {
    c.dead_letter = std::make_unique<Publisher>(
        c.Channel(options_.dead_letter->gateway),
        PublisherOptions{.topic = options_.dead_letter->stream,
                         .batch_records = options_.publish_batch_records,
                         .batch_bytes = static_cast<size_t>(options_.publish_batch_bytes),
                         .inflight_batches = options_.publish_inflight_batches,
                         .retry = options_.connect_retry,
                         // Nowhere else to go: keep resending (visible in the log and metrics)
                         // rather than drop or ack records that are not durable anywhere.
                         .fail_refused = false,
                         .refused = c.dead_letter_refused,
                         .describe = DescribeDeadLetter});
  }
  if (stop.stop_requested()) return;
  for (size_t i = 0; i < options_.inputs.size(); ++i) {
    const StreamBinding& in = options_.inputs[i];
    auto reader = std::make_unique<InputReader>(
        c.Channel(in.gateway),
        InputReaderOptions{.input = static_cast<int>(i),
                           .topic = in.stream,
                           .group = options_.group,
                           .start_latest = in.start_latest,
                           .max_records = options_.receive_batch_records,
                           .retry = options_.connect_retry},
        [this](std::vector<InputRecord>& batch) {
          return batch.empty() || LaneFor(batch.front().partition).Push(batch);
        },
        [this, stream = in.stream](absl::Status s) {
          if (!s.ok()) {
            absl::MutexLock lock(&mu_);
            state_ = std::string(s.message());
          }
        });
    reader->Start();
    readers_.push_back(std::move(reader));
  }
  {
    absl::MutexLock lock(&mu_);
    ready_ = true;
    state_ = "ok";
  }
  RUNNEL_LOG(INFO) << "runnel-processor running" << Kv("name", options_.name)
                   << Kv("function", FunctionName(options_))
                   << Kv("inputs", options_.inputs.size())
                   << Kv("outputs", options_.outputs.size())
                   << Kv("window", FormatWindowSpec(options_.window));
  // Housekeeping until shutdown: resend acks that failed (e.g. while a gateway restarted) and
  // refresh the lag gauges (kept as they were while the gateway does not answer).
  RefreshLag();
  while (SleepUnlessStopped(stop, absl::Seconds(1))) {
    for (auto& acker : c.ackers) acker->RetryFailed();
    RefreshLag();
  }
}

void Processor::RefreshLag() {
  for (size_t i = 0; i < options_.inputs.size(); ++i) {
    const StreamBinding& in = options_.inputs[i];
    absl::StatusOr<std::map<uint32_t, int64_t>> lag =
        LookUpLag(context_->Channel(in.gateway), in.stream, options_.group);
    if (!lag.ok()) continue;
    absl::MutexLock lock(&lag_mu_);
    for (const auto& [partition, n] : *lag) lag_[{i, partition}] = n;
  }
}

Lane& Processor::LaneFor(uint32_t partition) {
  absl::MutexLock lock(&lanes_mu_);
  std::unique_ptr<Lane>& lane = lanes_[partition];
  if (lane == nullptr) {
    lane = std::make_unique<Lane>(*context_, partition);
    if (stopping_) {
      lane->Drain();  // Refuses the record: the reader stops.
    }
  }
  return *lane;
}

void Processor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    ready_ = false;
    state_ = "shutting down";
  }
  // 1. Stop taking input: lanes refuse records (unblocking readers), then readers end.
  std::vector<Lane*> lanes;
  {
    absl::MutexLock lock(&lanes_mu_);
    stopping_ = true;
    for (auto& [p, lane] : lanes_) lanes.push_back(lane.get());
  }
  for (Lane* lane : lanes) lane->Drain();
  if (startup_.joinable()) {
    startup_.request_stop();
    startup_.join();
  }
  for (auto& reader : readers_) reader->Stop();
  // A reader may have created a lane after the snapshot above.
  {
    absl::MutexLock lock(&lanes_mu_);
    lanes.clear();
    for (auto& [p, lane] : lanes_) {
      lane->Drain();
      lanes.push_back(lane.get());
    }
  }
  // 2. Let open windows finish, bounded by the grace period; what does not finish is replayed.
  const absl::Time deadline = absl::Now() + options_.shutdown_grace;
  bool drained = true;
  for (Lane* lane : lanes) drained = lane->WaitDrained(deadline) && drained;
  if (!drained) {
    RUNNEL_LOG(WARNING) << "shutdown grace period over; unfinished windows are abandoned and "
                           "will be replayed";
  }
  // 3. Stop lanes (cancelling calls), then publishers (their callbacks post into stopped lanes),
  // then let the last acks land.
  for (Lane* lane : lanes) lane->Stop();
  for (auto& p : context_->publishers) p->Stop();
  if (context_->dead_letter) context_->dead_letter->Stop();
  for (auto& a : context_->ackers) a->WaitIdle(absl::Seconds(5));
  {
    absl::MutexLock lock(&lanes_mu_);
    lanes_.clear();
  }
  readers_.clear();
}

}  // namespace runnel::sidecar
