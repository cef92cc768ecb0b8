#include "sidecar/lane_core.h"

// GCC 12 reports members of the LaneCommand variant as maybe-uninitialized when the commands
// vector grows (a known false positive of its variant move analysis at -O2).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <utility>

#include "common/logging.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/record_selector.h"
#include "sidecar/record_mapping.h"

namespace runnel::sidecar {

enum WindowKind { kStreaming, kCollected, kRefire, kDeadLetters, kSideOutput };

struct LaneCore::Slot {
  InputRecord record;
  std::string key;        // After --key-by.
  absl::Time event_time;  // Arrival time when not on event time.
  int refs = 0;           // Windows holding it.
};

// The search for the records that fail a window (see the header).
struct LaneCore::Isolation {
  std::deque<std::vector<uint64_t>> suspects;  // Subsets still to probe, front first.
  std::vector<uint64_t> probe;                 // The subset being probed.
  std::vector<uint64_t> clean;                 // Records that passed a probe.
  bool final_run = false;                      // Probing is over: the clean records run.
};

struct LaneCore::Window {
  uint64_t id = 0;
  int kind = kStreaming;
  std::string key;
  std::optional<EventWindowBounds> bounds;  // Event-time windows.
  std::optional<WindowId> arrival_id;       // Arrival windows while their Windower has them.
  std::vector<uint64_t> records;            // Slots, in arrival order.
  std::vector<uint64_t> excluded;           // Dead-lettered: left out of later attempts.
  // The current attempt.
  CallId call = 0;                 // 0: no call running.
  std::vector<uint64_t> sent;      // Slots given to the current call, in frame order.
  int attempt = 0;                 // Attempts of the current run (a probe, the final run).
  int total_attempts = 0;
  bool waiting_retry = false;
  absl::Time retry_at;
  bool input_closed = false;       // No more records join.
  bool half_closed = false;
  bool answers_after_half_close = false;
  absl::Time linger_since;
  absl::Time call_started;
  size_t outputs = 0;              // Outputs and refusals of the current attempt.
  std::vector<streaming::OutputFrame> held;
  // The call answers in order (FunctionTraits::answers_in_order): held[i] answers
  // sent[held_answers[i]], frames are answered up to `cursor`, and `answered` are the records
  // whose answers were published (never sent again).
  bool answers_in_order = false;
  std::vector<size_t> held_answers;
  size_t cursor = 0;
  std::vector<uint64_t> answered;
  std::optional<Isolation> isolation;
  absl::Status last_error;
  bool done = false;               // The function's part is over; outputs (if any) are held.
  bool released = false;           // Outputs handed to publishers.
  int pending_publishes = 0;
  std::shared_ptr<OutputBudget::Route> route = std::make_shared<OutputBudget::Route>();
};

LaneMetrics LaneMetrics::Register(MetricsRegistry& m, const ProcessorOptions& options) {
  LaneMetrics out;
  for (const StreamBinding& in : options.inputs) {
    out.records_in.push_back(&m.GetCounter("runnel_processor_records_in_total",
                                           "Records read from an input stream.",
                                           {{"stream", in.stream}, {"input", in.alias}}));
  }
  for (const StreamBinding& o : options.outputs) {
    out.records_out.push_back(&m.GetCounter("runnel_processor_records_out_total",
                                            "Records published to an output stream.",
                                            {{"stream", o.stream}, {"output", o.alias}}));
  }
  out.duplicates = &m.GetCounter("runnel_processor_duplicates_total",
                                 "Redelivered input records dropped (already windowed).");
  out.windows_completed =
      &m.GetCounter("runnel_processor_windows_total", "Windows completed and acknowledged.");
  out.invocations = &m.GetCounter("runnel_processor_invocations_total",
                                  "Function invocations started (retries and probes included).");
  out.invocation_errors = &m.GetCounter("runnel_processor_invocation_errors_total",
                                        "Function invocations that failed.");
  out.retries = &m.GetCounter("runnel_processor_retries_total",
                              "Function invocations retried after a failure.");
  out.dead_lettered = &m.GetCounter("runnel_processor_dead_lettered_total",
                                    "Input records sent to the dead-letter stream.");
  out.late_records = &m.GetCounter(
      "runnel_processor_late_records_total",
      "Records behind the watermark beyond the allowed lateness (dropped, side output or "
      "refired per --late).");
  out.invalid_records = &m.GetCounter(
      "runnel_processor_invalid_records_total",
      "Records whose key or event time could not be read, dropped for want of a dead-letter "
      "stream.");
  out.acks = &m.GetCounter("runnel_processor_acks_total", "Input positions acknowledged.");
  out.invocation_seconds = &m.GetHistogram("runnel_processor_invocation_seconds",
                                           "Time from an invocation's start to its end.", {},
                                           {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60,
                                            300, 1800});
  out.window_close_delay = &m.GetHistogram(
      "runnel_processor_window_close_delay_seconds",
      "Event time: processing time when a window fired minus the window's end.", {},
      {0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600});
  return out;
}

bool WindowsOnEventTime(const ProcessorOptions& options) {
  return !options.event_time.arrival() &&
         !(options.window.kind == WindowSpec::Kind::kTumbling &&
           options.window.time == absl::ZeroDuration());
}

LaneCore::LaneCore(const ProcessorOptions& options, const LaneMetrics& metrics,
                   OutputBudget* budget, uint64_t seed)
    : options_(options),
      metrics_(metrics),
      budget_(budget),
      event_time_(WindowsOnEventTime(options)),
      keyed_(!options.key_by.empty()),
      retry_(options.invoke_retry, seed),
      watermark_({.max_out_of_orderness = options.max_out_of_orderness,
                  .idle_timeout = options.idle_timeout}) {
  if (event_time_) {
    event_windows_.emplace(options.window, options.allowed_lateness);
  }
}

LaneCore::~LaneCore() = default;

// ---- Records ----------------------------------------------------------------------------------

uint64_t LaneCore::Store(InputRecord record, std::string key, absl::Time event_time, int refs) {
  const uint64_t id = next_slot_++;
  slots_.emplace(id, Slot{.record = std::move(record),
                          .key = std::move(key),
                          .event_time = event_time,
                          .refs = refs});
  return id;
}

void LaneCore::Release(uint64_t slot) {
  auto it = slots_.find(slot);
  if (it != slots_.end() && --it->second.refs <= 0) {
    slots_.erase(it);
  }
}

std::string LaneCore::KeyOf(const Slot& slot) const { return slot.key; }

bool LaneCore::CanAccept() const {
  if (draining_) {
    return false;
  }
  if (keyed_ || event_time_) {
    const size_t buffer_limit = static_cast<size_t>(options_.max_window_records) * 20;
    return windows_.size() < static_cast<size_t>(kCollectedInFlight) &&
           slots_.size() < buffer_limit;
  }
  int streaming = 0, running = 0;
  for (const auto& [id, w] : windows_) {
    if (w.kind != kStreaming) continue;
    ++streaming;
    if (!w.done) ++running;
  }
  if (streaming >= options_.max_open_windows) {
    return false;
  }
  auto it = windowers_.find("");
  if (options_.window.kind == WindowSpec::Kind::kSliding ||
      (it != windowers_.end() && it->second.open_windows() > 0)) {
    return true;
  }
  // A record that would open a window waits while max_concurrent_invocations functions still
  // run: the function then sees a partition's windows in order (its side effects too).
  return running < options_.max_concurrent_invocations;
}

void LaneCore::Add(InputRecord record, absl::Time now) {
  const PartitionKey at{.input = record.input, .partition = record.partition};
  if (record.offset <= tracker_.highest_tracked(at)) {
    metrics_.duplicates->Add();  // Redelivered after a reconnect; the first copy is in a window.
    return;
  }
  metrics_.records_in[record.input]->Add();
  int64_t& read = read_through_.try_emplace(at, -1).first->second;
  read = std::max(read, record.offset);
  const RecordView view{.key = record.key, .event = &record.event,
                        .broker_time = record.timestamp};
  std::string key = record.key;
  if (keyed_) {
    absl::StatusOr<std::string> selected = options_.key_by.Select(view);
    if (!selected.ok()) {
      Reject(std::move(record), at,
             absl::InvalidArgumentError(absl::StrCat("--key-by ", options_.key_by.spec(), ": ",
                                                     selected.status().message())),
             now);
      return;
    }
    key = std::move(*selected);
  }
  absl::Time event_time = now;
  if (event_time_) {
    absl::StatusOr<absl::Time> t = options_.event_time.Select(view);
    if (!t.ok()) {
      Reject(std::move(record), at,
             absl::InvalidArgumentError(absl::StrCat("--event-time ", options_.event_time.spec(),
                                                     ": ", t.status().message())),
             now);
      return;
    }
    event_time = *t;
  }
  const int64_t offset = record.offset;
  if (event_time_) {
    // Judge lateness against the watermark before this record moves it.
    const absl::Time wm = watermark_.Current(now);
    const uint64_t slot = Store(std::move(record), key, event_time, 0);
    EventWindows::Added added =
        event_windows_->Add(slot, keyed_ ? key : std::string(), event_time, wm);
    if (restored_ && !added.late.empty()) {
      // Read before the last run's checkpoint, for a window complete by it: already handled.
      auto read = restored_->read_through.find(at);
      if (read != restored_->read_through.end() && offset <= read->second) {
        std::erase_if(added.late, [this](const EventWindowBounds& b) {
          return b.end + options_.allowed_lateness <= restored_->complete_through;
        });
        if (added.windows == 0 && added.late.empty()) {
          slots_.erase(slot);
          tracker_.Track(at, offset, 1);
          tracker_.Complete(at, offset);
          EmitAcks();
          MaybeCheckpoint(now);
          FlushStaged();
          return;
        }
      }
    }
    int late_units = 0;
    if (!added.late.empty()) {
      late_units = options_.late == ProcessorOptions::LateMode::kRefire
                       ? static_cast<int>(added.late.size())
                       : 1;
    }
    slots_.at(slot).refs = added.windows + late_units;
    tracker_.Track(at, offset, added.windows + late_units);
    watermark_.Observe(at, event_time, now);
    if (!added.late.empty()) {
      PlaceLate(slot, added.late, now);
    }
    FireEventWindows(now);
    StartPending(now);
    MaybeCheckpoint(now);
    FlushStaged();
    return;
  }
  const uint64_t slot = Store(std::move(record), std::move(key), event_time, 0);
  if (keyed_) {
    PlaceCollected(slot, now);
  } else {
    PlaceStreaming(slot, now);
  }
  StartPending(now);
  FlushStaged();
}

void LaneCore::Reject(InputRecord record, const PartitionKey& at, absl::Status error,
                      absl::Time now) {
  tracker_.Track(at, record.offset, 1);
  NoteError(error, now);
  if (!options_.dead_letter) {
    RUNNEL_LOG(ERROR) << "dropping a record whose key or time cannot be read (no dead-letter "
                         "stream)"
                      << Kv("partition", record.partition) << Kv("offset", record.offset)
                      << Kv("status", error.ToString());
    metrics_.invalid_records->Add();
    tracker_.Complete(at, record.offset);
    EmitAcks();
    return;
  }
  Window& w = NewWindow(kDeadLetters, record.key, now);
  const uint64_t slot = Store(std::move(record), std::string(), now, 1);
  w.records.push_back(slot);
  w.input_closed = true;
  w.done = true;
  DeadLetter(w, slot, error, {});
  ReleaseInOrder(now);
  FlushStaged();
}

// ---- Windows ----------------------------------------------------------------------------------

LaneCore::Window& LaneCore::NewWindow(int kind, std::string key, absl::Time now) {
  const uint64_t id = next_window_++;
  Window& w = windows_[id];
  w.id = id;
  w.kind = kind;
  w.key = std::move(key);
  w.linger_since = now;
  return w;
}

void LaneCore::PlaceStreaming(uint64_t slot, absl::Time now) {
  Slot& s = slots_.at(slot);
  const PartitionKey at{.input = s.record.input, .partition = s.record.partition};
  Windower& windower = windowers_.try_emplace("", options_.window).first->second;
  Placement p = windower.Add(now);
  s.refs = static_cast<int>(p.member_of.size());
  tracker_.Track(at, s.record.offset, s.refs);
  for (WindowId id : p.opened) {
    Window& w = NewWindow(kStreaming, "", now);
    w.arrival_id = id;
    arrival_windows_[{"", id}] = w.id;
    StartAttempt(w, {}, now);
  }
  if (!p.opened.empty()) {
    ReleaseInOrder(now);  // The oldest running window may read freely.
  }
  std::vector<WindowId> closed = p.closed;
  for (WindowId id : p.member_of) {
    Window& w = windows_.at(arrival_windows_.at({"", id}));
    w.records.push_back(slot);
    if (w.call != 0 && !w.waiting_retry && !w.done) {
      commands_.push_back(lane::Send{w.call, ToFrame(s.record, s.key, {})});
      w.sent.push_back(slot);
    }
    if (w.records.size() >= static_cast<size_t>(options_.max_window_records) &&
        windower.Close(id)) {
      closed.push_back(id);
    }
  }
  for (WindowId id : closed) {
    CloseArrival("", id, now);
  }
}

void LaneCore::PlaceCollected(uint64_t slot, absl::Time now) {
  Slot& s = slots_.at(slot);
  const PartitionKey at{.input = s.record.input, .partition = s.record.partition};
  const std::string key = s.key;
  Windower& windower = windowers_.try_emplace(key, options_.window).first->second;
  Placement p = windower.Add(now);
  s.refs = static_cast<int>(p.member_of.size());
  tracker_.Track(at, s.record.offset, s.refs);
  for (WindowId id : p.opened) {
    Window& w = NewWindow(kCollected, key, now);
    w.arrival_id = id;
    arrival_windows_[{key, id}] = w.id;
  }
  std::vector<WindowId> closed = p.closed;
  for (WindowId id : p.member_of) {
    Window& w = windows_.at(arrival_windows_.at({key, id}));
    w.records.push_back(slot);
    if (w.records.size() >= static_cast<size_t>(options_.max_window_records) &&
        windower.Close(id)) {
      closed.push_back(id);
    }
  }
  for (WindowId id : closed) {
    CloseArrival(key, id, now);
  }
}

void LaneCore::CloseArrival(const std::string& key, WindowId id, absl::Time now) {
  auto mapped = arrival_windows_.find({key, id});
  if (mapped == arrival_windows_.end()) {
    return;
  }
  const uint64_t lane_id = mapped->second;
  arrival_windows_.erase(mapped);
  auto wd = windowers_.find(key);
  if (wd != windowers_.end() && !key.empty() && wd->second.open_windows() == 0) {
    windowers_.erase(wd);  // Keyed: a Windower per live key only.
  }
  Window& w = windows_.at(lane_id);
  w.arrival_id.reset();
  w.input_closed = true;
  w.linger_since = now;
  if (w.kind == kCollected) {
    pending_.push_back(w.id);
    return;
  }
  MaybeHalfClose(w, now);
  MaybeComplete(w.id);
}

void LaneCore::PlaceLate(uint64_t slot, const std::vector<EventWindowBounds>& late,
                         absl::Time now) {
  metrics_.late_records->Add();
  Slot& s = slots_.at(slot);
  const PartitionKey at{.input = s.record.input, .partition = s.record.partition};
  switch (options_.late) {
    case ProcessorOptions::LateMode::kDrop: {
      const int64_t offset = s.record.offset;
      Release(slot);
      CompleteRecords({{at, offset}}, late.front().end + options_.allowed_lateness);
      return;
    }
    case ProcessorOptions::LateMode::kSideOutput: {
      Window& w = NewWindow(kSideOutput, s.key, now);
      w.bounds = late.front();
      w.records.push_back(slot);
      w.input_closed = true;
      w.done = true;
      liiklus::PublishRequest request;
      request.set_key(s.record.key);
      *request.mutable_liiklusevent() = s.record.event;
      auto& ext = *request.mutable_liiklusevent()->mutable_extensions();
      ext["runnellate"] = "true";
      ext["runnelwindowstart"] = FormatRfc3339Millis(late.front().start);
      ext["runnelwindowend"] = FormatRfc3339Millis(late.front().end);
      Stage(w, lane::Target::kLate, 0, std::move(request));
      ReleaseInOrder(now);
      return;
    }
    case ProcessorOptions::LateMode::kRefire: {
      const std::string key = keyed_ ? s.key : std::string();
      for (const EventWindowBounds& b : late) {
        // Late records of one window that arrive before its refire starts share it.
        Window* refire = nullptr;
        for (uint64_t id : pending_) {
          Window& p = windows_.at(id);
          if (p.kind == kRefire && p.key == key && p.bounds == b) {
            refire = &p;
            break;
          }
        }
        if (refire == nullptr) {
          refire = &NewWindow(kRefire, key, now);
          refire->bounds = b;
          refire->input_closed = true;
          pending_.push_back(refire->id);
        }
        refire->records.push_back(slot);
      }
      return;
    }
  }
}

void LaneCore::FireEventWindows(absl::Time now) {
  if (!event_windows_ || draining_) {
    return;
  }
  const absl::Time wm = watermark_.Current(now);
  watermark_at_ = wm;
  for (FiredWindow& fired : event_windows_->Fire(wm)) {
    Window& w = NewWindow(kCollected, std::move(fired.key), now);
    w.bounds = fired.bounds;
    w.records = std::move(fired.records);
    w.input_closed = true;
    pending_.push_back(w.id);
    if (now >= fired.bounds.end) {
      metrics_.window_close_delay->Observe(absl::ToDoubleSeconds(now - fired.bounds.end));
    }
  }
}

void LaneCore::StartPending(absl::Time now) {
  const size_t limit = static_cast<size_t>(
      std::max(options_.max_concurrent_invocations, kCollectedConcurrency));
  while (!pending_.empty()) {
    size_t running = calls_.size();
    for (const auto& [id, w] : windows_) {
      if (w.waiting_retry) ++running;
    }
    if (running >= limit) {
      return;
    }
    Window& w = windows_.at(pending_.front());
    pending_.pop_front();
    StartAttempt(w, w.records, now);
  }
}

// ---- Calls ------------------------------------------------------------------------------------

void LaneCore::StartAttempt(Window& w, std::vector<uint64_t> records, absl::Time now) {
  ++w.attempt;
  ++w.total_attempts;
  w.waiting_retry = false;
  w.half_closed = false;
  w.answers_after_half_close = false;
  w.answers_in_order = false;
  DropHeld(w);
  w.outputs = 0;
  w.cursor = 0;
  w.call_started = now;
  w.linger_since = now;
  if (!w.excluded.empty() || !w.answered.empty()) {
    std::erase_if(records, [&w](uint64_t slot) {
      return std::find(w.excluded.begin(), w.excluded.end(), slot) != w.excluded.end() ||
             std::find(w.answered.begin(), w.answered.end(), slot) != w.answered.end();
    });
  }
  w.sent = std::move(records);
  // Every call's outputs are held until it completes, so held outputs must never pause a call
  // (output_budget.h): the budget bounds what waits for the gateway; a call's own held outputs
  // are bounded by max_window_outputs (OnOutput).
  w.route->released.store(true, std::memory_order_release);
  const CallId call = next_call_++;
  calls_[call] = w.id;
  w.call = call;
  metrics_.invocations->Add();
  lane::StartCall start{.call = call,
                        .deadline = options_.invoke_timeout > absl::ZeroDuration()
                                        ? now + options_.invoke_timeout
                                        : absl::InfiniteFuture(),
                        .route = w.route};
  start.frames.reserve(w.sent.size());
  FrameContext context;
  if (w.bounds) {
    context.window_start = FormatRfc3339Millis(w.bounds->start);
    context.window_end = FormatRfc3339Millis(w.bounds->end);
  }
  context.update = w.kind == kRefire;
  for (uint64_t id : w.sent) {
    const Slot& s = slots_.at(id);
    if (event_time_) context.event_time = s.event_time;
    start.frames.push_back(ToFrame(s.record, s.key, context));
  }
  commands_.push_back(std::move(start));
  MaybeHalfClose(w, now);
}

void LaneCore::MaybeHalfClose(Window& w, absl::Time now) {
  if (w.call == 0 || w.half_closed || !w.input_closed || w.waiting_retry) {
    return;
  }
  const absl::Duration idle =
      options_.half_close_idle ? *options_.half_close_idle
      : w.answers_after_half_close ? absl::ZeroDuration()
                                   : kSafeHalfCloseIdle;
  // Lingering (invokers that lose in-flight outputs on half-close): as soon as there are as
  // many outputs as inputs (every map-like function is done), else once outputs paused.
  if (now - w.linger_since >= idle || w.outputs >= w.sent.size()) {
    w.half_closed = true;
    commands_.push_back(lane::HalfClose{w.call});
  }
}

LaneCore::Window* LaneCore::Find(CallId call) {
  auto it = calls_.find(call);
  if (it == calls_.end()) {
    return nullptr;
  }
  auto w = windows_.find(it->second);
  return w == windows_.end() ? nullptr : &w->second;
}

void LaneCore::OnTraits(CallId call, FunctionTraits traits, absl::Time now) {
  if (Window* w = Find(call)) {
    w->answers_after_half_close = traits.answers_after_half_close;
    w->answers_in_order = traits.answers_in_order && w->outputs == 0;
    MaybeHalfClose(*w, now);
  }
  FlushStaged();
}

void LaneCore::OnOutput(CallId call, streaming::OutputFrame frame, absl::Time now) {
  Window* w = Find(call);
  if (w == nullptr) {
    if (budget_ != nullptr) budget_->Remove(1);
    return;  // From an abandoned attempt.
  }
  w->linger_since = now;
  ++w->outputs;
  const int outputs = static_cast<int>(options_.outputs.size());
  if (frame.resultindex() < 0 || frame.resultindex() >= outputs) {
    if (budget_ != nullptr) budget_->Remove(1);
    FailAttempt(*w,
                absl::InvalidArgumentError(absl::StrCat("the function emitted on output ",
                                                        frame.resultindex(),
                                                        " but the processor has ", outputs,
                                                        " output(s)")),
                now);
    FlushStaged();
    return;
  }
  if (w->answers_in_order) {
    if (w->cursor >= w->sent.size()) {
      FailAttempt(*w,
                  absl::InvalidArgumentError(
                      "the function answered more frames than it was given, though it said it "
                      "answers each frame once"),
                  now);
      FlushStaged();
      return;
    }
    w->held_answers.push_back(w->cursor++);
  }
  w->held.push_back(std::move(frame));
  if (budget_ != nullptr) budget_->Hold(1);
  if (w->answers_in_order && Oldest(*w)) {
    StreamAnswers(*w, now);
  }
  if (w->held.size() > static_cast<size_t>(options_.max_window_outputs)) {
    FailAttempt(*w,
                absl::ResourceExhaustedError(absl::StrCat(
                    "one invocation emitted more than --max-window-outputs (",
                    options_.max_window_outputs,
                    ") outputs; outputs are held until the invocation completes: raise the "
                    "limit or use smaller windows")),
                now);
    FlushStaged();
    return;
  }
  MaybeHalfClose(*w, now);
  FlushStaged();
}

void LaneCore::OnReject(CallId call, size_t index, absl::Status status,
                        std::map<std::string, std::string> detail, absl::Time now) {
  Window* w = Find(call);
  if (w == nullptr) {
    return;
  }
  if (!options_.dead_letter || index >= w->sent.size()) {
    FailAttempt(*w, std::move(status), now);
    FlushStaged();
    return;
  }
  ++w->outputs;  // Its answer, for the half-close rule.
  if (w->answers_in_order) w->cursor = std::max(w->cursor, index + 1);
  const uint64_t slot = w->sent[index];
  w->excluded.push_back(slot);
  RUNNEL_LOG(WARNING) << "the function refused a record; dead-lettering it"
                      << Kv("offset", slots_.at(slot).record.offset)
                      << Kv("status", status.ToString());
  NoteError(status, now);
  DeadLetter(*w, slot, status, std::move(detail));
  MaybeHalfClose(*w, now);
  FlushStaged();
}

void LaneCore::OnCallDone(CallId call, absl::Status status, absl::Time now) {
  Window* w = Find(call);
  if (w == nullptr) {
    return;
  }
  calls_.erase(call);
  w->call = 0;
  metrics_.invocation_seconds->Observe(absl::ToDoubleSeconds(now - w->call_started));
  if (!status.ok()) {
    FailAttempt(*w, std::move(status), now);
  } else if (w->isolation && !w->isolation->final_run) {
    // The probe passed: its records are not what fails the window.
    Isolation& iso = *w->isolation;
    iso.clean.insert(iso.clean.end(), iso.probe.begin(), iso.probe.end());
    iso.probe.clear();
    DropHeld(*w);
    NextProbe(*w, now);
  } else {
    Succeed(*w, now);
  }
  StartPending(now);
  FlushStaged();
}

void LaneCore::EndInput(Window& w) {
  if (w.input_closed) {
    return;
  }
  if (w.arrival_id) {
    auto wd = windowers_.find(w.key);
    if (wd != windowers_.end()) wd->second.Close(*w.arrival_id);
    arrival_windows_.erase({w.key, *w.arrival_id});
    w.arrival_id.reset();
  }
  w.input_closed = true;
}

void LaneCore::Succeed(Window& w, absl::Time now) {
  w.done = true;
  // The function completed before the window closed: later records start a new window.
  EndInput(w);
  ReleaseInOrder(now);
}

void LaneCore::FailAttempt(Window& w, absl::Status status, absl::Time now) {
  metrics_.invocation_errors->Add();
  NoteError(status, now);
  if (w.call != 0) {
    commands_.push_back(lane::Cancel{w.call});  // Its late events are ignored from now on.
    calls_.erase(w.call);
    w.call = 0;
  }
  DropHeld(w);
  w.last_error = status;
  auto retry_later = [&](absl::Duration delay) {
    w.waiting_retry = true;
    w.retry_at = now + delay;
  };
  if (w.isolation) {
    Isolation& iso = *w.isolation;
    if (iso.final_run) {
      if (retry_.ShouldRetry(w.attempt)) {
        retry_later(retry_.Delay(w.attempt));
        return;
      }
      // The clean records pass alone but not together: dead-letter them all.
      for (uint64_t slot : iso.clean) DeadLetter(w, slot, status, {});
      w.done = true;
      ReleaseInOrder(now);
      return;
    }
    if (iso.probe.size() > 1) {
      const size_t half = iso.probe.size() / 2;
      iso.suspects.emplace_front(iso.probe.begin() + half, iso.probe.end());
      iso.suspects.emplace_front(iso.probe.begin(), iso.probe.begin() + half);
      iso.probe.clear();
      NextProbe(w, now);
      return;
    }
    if (retry_.ShouldRetry(w.attempt)) {
      retry_later(retry_.Delay(w.attempt));  // A single record gets every retry.
      return;
    }
    DeadLetter(w, iso.probe.front(), status, {});
    w.excluded.push_back(iso.probe.front());
    iso.probe.clear();
    NextProbe(w, now);
    return;
  }
  if (retry_.ShouldRetry(w.attempt)) {
    const absl::Duration delay = retry_.Delay(w.attempt);
    retry_later(delay);
    RUNNEL_LOG(WARNING) << "invocation failed; retrying" << Kv("window", w.id)
                        << Kv("attempt", w.attempt) << Kv("records", w.records.size())
                        << Kv("retry_in", delay) << Kv("status", status.ToString());
    return;
  }
  if (!options_.dead_letter) {
    retry_later(options_.invoke_retry.max_backoff);
    RUNNEL_LOG(ERROR) << "invocation failed and there is no dead-letter stream; retrying"
                      << Kv("window", w.id) << Kv("attempt", w.attempt)
                      << Kv("status", status.ToString());
    return;
  }
  // Retries ran out: find the records that fail the window.
  EndInput(w);
  std::vector<uint64_t> remaining;
  for (uint64_t slot : w.records) {
    if (std::find(w.excluded.begin(), w.excluded.end(), slot) == w.excluded.end()) {
      remaining.push_back(slot);
    }
  }
  if (remaining.size() <= 1) {
    for (uint64_t slot : remaining) DeadLetter(w, slot, status, {});
    w.done = true;
    ReleaseInOrder(now);
    return;
  }
  RUNNEL_LOG(WARNING) << "invocation failed after its retries; looking for the failing records"
                      << Kv("window", w.id) << Kv("records", remaining.size())
                      << Kv("status", status.ToString());
  Isolation& iso = w.isolation.emplace();
  const size_t half = remaining.size() / 2;
  iso.suspects.emplace_back(remaining.begin(), remaining.begin() + half);
  iso.suspects.emplace_back(remaining.begin() + half, remaining.end());
  NextProbe(w, now);
}

void LaneCore::NextProbe(Window& w, absl::Time now) {
  Isolation& iso = *w.isolation;
  w.attempt = 0;
  if (!iso.suspects.empty()) {
    iso.probe = std::move(iso.suspects.front());
    iso.suspects.pop_front();
    StartAttempt(w, iso.probe, now);
    return;
  }
  iso.final_run = true;
  if (iso.clean.empty()) {
    w.done = true;
    ReleaseInOrder(now);
    return;
  }
  std::sort(iso.clean.begin(), iso.clean.end());  // Slots grow with arrival: window order.
  StartAttempt(w, iso.clean, now);
}

void LaneCore::DeadLetter(Window& w, uint64_t slot, const absl::Status& error,
                          std::map<std::string, std::string> detail) {
  const Slot& s = slots_.at(slot);
  metrics_.dead_lettered->Add();
  Stage(w, lane::Target::kDeadLetter, 0,
        ToDeadLetter(s.record, {.error = error.ToString(),
                                .attempts = w.total_attempts,
                                .stream = options_.inputs[s.record.input].stream,
                                .processor = options_.name,
                                .detail = std::move(detail)}));
}

// ---- Results ----------------------------------------------------------------------------------

void LaneCore::ReleaseInOrder(absl::Time now) {
  std::vector<uint64_t> released;
  for (auto& [id, w] : windows_) {
    if (w.released) {
      continue;
    }
    if (!w.done) {
      if (w.answers_in_order) StreamAnswers(w, now);  // Now the oldest: its answers go out.
      break;
    }
    w.released = true;
    PublishOutputs(w, now);
    released.push_back(id);
  }
  for (uint64_t id : released) {
    MaybeComplete(id);
  }
}

void LaneCore::PublishOutputs(Window& w, absl::Time now) {
  std::vector<streaming::OutputFrame> held;
  held.swap(w.held);
  std::vector<size_t> answers;
  answers.swap(w.held_answers);
  if (budget_ != nullptr && !held.empty()) budget_->Unhold(held.size());
  if (held.empty()) {
    return;
  }
  // Keys: the function's own; else the window's (keyed); else, when there is one output per
  // input (request-reply), its input's; else the key every input shares.
  const bool in_order = answers.size() == held.size();
  const bool one_per_input = in_order || held.size() == w.sent.size();
  std::optional<std::string> shared;
  if (!keyed_ && !one_per_input && !w.sent.empty()) {
    shared = slots_.at(w.sent.front()).key;
    for (uint64_t id : w.sent) {
      if (slots_.at(id).key != *shared) {
        shared.reset();
        break;
      }
    }
  }
  for (size_t i = 0; i < held.size(); ++i) {
    OutputContext context{.source = options_.name, .time = now};
    const Slot* input =
        !one_per_input ? nullptr : &slots_.at(w.sent[in_order ? answers[i] : i]);
    if (keyed_) {
      context.key = w.key;
    } else if (input != nullptr) {
      context.key = input->key;
    } else if (shared) {
      context.key = *shared;
    }
    if (context.key && context.key->empty()) context.key.reset();
    if (w.bounds) {
      // The window's last instant: a chained window of the same size groups it with its own.
      context.time = w.bounds->end - absl::Milliseconds(1);
      context.window_start = w.bounds->start;
      context.window_end = w.bounds->end;
      // The same output of the same window has the same id on every replay.
      context.id = StableEventId(absl::StrCat(
          options_.name, "/", w.key, "/", absl::ToUnixMillis(w.bounds->start), "/",
          absl::ToUnixMillis(w.bounds->end), "/", i,
          w.kind == kRefire ? absl::StrCat("/update/", slots_.at(w.sent.front()).record.offset)
                            : std::string()));
    } else if (input != nullptr && event_time_) {
      context.time = input->event_time;
    } else if (input != nullptr) {
      context.time_text = input->record.event.time();  // Request-reply: the input's time.
    }
    context.update = w.kind == kRefire;
    const int index = held[i].resultindex();
    metrics_.records_out[index]->Add();
    Stage(w, lane::Target::kOutput, index, ToPublish(std::move(held[i]), context));
  }
}

void LaneCore::Stage(Window& w, lane::Target target, int output,
                     liiklus::PublishRequest request) {
  if (staged_.empty() || staged_.back().window != w.id || staged_.back().target != target ||
      staged_.back().output != output) {
    staged_.push_back({w.id, target, output, {}});
    ++w.pending_publishes;
  }
  staged_.back().records.push_back(std::move(request));
}

void LaneCore::FlushStaged() {
  for (Staged& s : staged_) {
    const GroupId group = next_group_++;
    groups_[group] = s.window;
    commands_.push_back(lane::Publish{group, s.target, s.output, std::move(s.records)});
  }
  staged_.clear();
}

void LaneCore::DropHeld(Window& w) {
  if (!w.held.empty()) {
    if (budget_ != nullptr) budget_->Remove(w.held.size(), /*held=*/w.held.size());
    w.held.clear();
  }
  w.held_answers.clear();
}

bool LaneCore::Oldest(const Window& w) const {
  for (const auto& [id, other] : windows_) {
    if (id == w.id) return true;
    if (!other.released) return false;
  }
  return false;
}

void LaneCore::StreamAnswers(Window& w, absl::Time now) {
  if (w.held.empty() || (w.isolation && !w.isolation->final_run)) {
    return;  // A probe's outputs are never published.
  }
  for (size_t i : w.held_answers) w.answered.push_back(w.sent[i]);
  PublishOutputs(w, now);
}

void LaneCore::OnPublished(GroupId group, absl::Status status, absl::Time now) {
  auto it = groups_.find(group);
  if (it == groups_.end()) {
    return;
  }
  const uint64_t id = it->second;
  groups_.erase(it);
  auto w = windows_.find(id);
  if (w == windows_.end()) {
    return;
  }
  --w->second.pending_publishes;
  if (status.ok()) {
    MaybeComplete(id);
    MaybeCheckpoint(now);
  } else if (status.code() != absl::StatusCode::kCancelled) {
    // The gateway refused an output group for good (a content type its stream does not take, a
    // record larger than it takes): like a function error, retried, then isolated.
    NoteError(status, now);
    w->second.done = false;
    w->second.released = false;
    w->second.answered.clear();  // Resent whole: some of its answers were refused.
    FailAttempt(w->second, std::move(status), now);
  }
  StartPending(now);
  FlushStaged();
}

void LaneCore::MaybeComplete(uint64_t id) {
  auto it = windows_.find(id);
  if (it == windows_.end()) {
    return;
  }
  Window& w = it->second;
  if (!w.done || !w.released || w.pending_publishes > 0 || w.call != 0 || !w.input_closed) {
    return;
  }
  std::vector<std::pair<PartitionKey, int64_t>> done;
  done.reserve(w.records.size());
  for (uint64_t slot : w.records) {
    auto s = slots_.find(slot);
    RUNNEL_CHECK(s != slots_.end());  // A window's records live until it completes.
    done.emplace_back(
        PartitionKey{.input = s->second.record.input, .partition = s->second.record.partition},
        s->second.record.offset);
    Release(slot);
  }
  std::optional<absl::Time> bound;
  if (w.bounds) bound = w.bounds->end + options_.allowed_lateness;
  CompleteRecords(std::move(done), bound);
  if (w.kind == kStreaming || w.kind == kCollected || w.kind == kRefire) {
    metrics_.windows_completed->Add();
  }
  windows_.erase(it);
  EmitAcks();
}

// ---- Time and shutdown ------------------------------------------------------------------------

void LaneCore::Advance(absl::Time now) {
  if (!event_time_) {
    std::vector<std::pair<std::string, WindowId>> closed;
    for (auto& [key, windower] : windowers_) {
      for (WindowId id : windower.Advance(now)) closed.emplace_back(key, id);
    }
    for (const auto& [key, id] : closed) CloseArrival(key, id, now);
  }
  FireEventWindows(now);
  for (auto& [id, w] : windows_) {
    if (w.waiting_retry && now >= w.retry_at) {
      metrics_.retries->Add();
      std::vector<uint64_t> records =
          !w.isolation ? w.records
          : w.isolation->final_run ? w.isolation->clean
                                   : w.isolation->probe;
      StartAttempt(w, std::move(records), now);
    } else {
      MaybeHalfClose(w, now);
    }
  }
  StartPending(now);
  MaybeCheckpoint(now);
  FlushStaged();
}

std::optional<absl::Time> LaneCore::NextTimer(absl::Time now) const {
  std::optional<absl::Time> next;
  auto consider = [&](absl::Time t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [key, windower] : windowers_) {
    if (auto d = windower.NextDeadline()) consider(*d);
  }
  if (event_windows_ && !draining_ && event_windows_->open_windows() > 0) {
    if (auto t = watermark_.WhenReaches(event_windows_->NextFiring(), now)) consider(*t);
  }
  for (const auto& [id, w] : windows_) {
    if (w.waiting_retry) {
      consider(w.retry_at);
    } else if (w.call != 0 && w.input_closed && !w.half_closed) {
      consider(w.linger_since + (options_.half_close_idle  ? *options_.half_close_idle
                                 : w.answers_after_half_close ? absl::ZeroDuration()
                                                              : kSafeHalfCloseIdle));
    }
  }
  if (in_flight_ == 0 && (!unsent_acks_.empty() ||
                          (!uncovered_.empty() && uncovered_.begin()->first <= CompleteThrough()))) {
    consider(std::max(now, next_checkpoint_at_));
  }
  return next;
}

void LaneCore::Drain(absl::Time now) {
  if (draining_) {
    return;
  }
  std::vector<std::pair<std::string, WindowId>> closed;
  for (auto& [key, windower] : windowers_) {
    for (WindowId id : windower.CloseAll()) closed.emplace_back(key, id);
  }
  for (const auto& [key, id] : closed) CloseArrival(key, id, now);
  draining_ = true;
  if (event_windows_) {
    // Firing now would publish partial results: leave them to the replay after a restart.
    event_windows_->Clear();
  }
  StartPending(now);
  FlushStaged();
}

bool LaneCore::Drained() const {
  return draining_ && windows_.empty() && pending_.empty() && unsent_acks_.empty() &&
         uncovered_.empty() && in_flight_ == 0;
}

std::vector<LaneCommand> LaneCore::TakeCommands() {
  FlushStaged();
  std::vector<LaneCommand> out;
  out.swap(commands_);
  return out;
}

void LaneCore::EmitAcks() {
  for (const AckPosition& ack : tracker_.TakeAcks()) {
    if (event_time_) {
      unsent_acks_[ack.key] = ack.offset;  // Sent once a checkpoint covers them.
      continue;
    }
    metrics_.acks->Add();
    commands_.emplace_back(std::in_place_type<lane::Ack>, ack.key.input, ack.key.partition,
                           ack.offset);
  }
}

void LaneCore::ExpectPartitions(size_t partitions, absl::Time now) {
  watermark_.Expect(partitions, now);
}

void LaneCore::Restore(const Checkpoint& checkpoint) {
  if (!event_time_) {
    return;
  }
  restored_ = checkpoint;
  watermark_.Floor(checkpoint.complete_through);
  watermark_at_ = std::max(watermark_at_, checkpoint.complete_through);
}

absl::Time LaneCore::CompleteThrough() const {
  const absl::Duration just_before = absl::Nanoseconds(1);
  absl::Time through = watermark_at_;
  // Windows that fired but are not complete (invoking, publishing, late records being handled).
  for (const auto& [id, w] : windows_) {
    if (w.bounds) {
      through = std::min(through, w.bounds->end + options_.allowed_lateness - just_before);
    }
  }
  // A record of an open session may lie before the watermark: keep it out of reach.
  const absl::Time session = event_windows_->EarliestOpenSessionStart();
  if (session != absl::InfiniteFuture()) {
    through = std::min(through,
                       session + options_.window.gap + options_.allowed_lateness - just_before);
  }
  if (restored_) {
    through = std::max(through, std::min(restored_->complete_through, watermark_at_));
  }
  return through;
}

void LaneCore::CompleteRecords(std::vector<std::pair<PartitionKey, int64_t>> records,
                               std::optional<absl::Time> bound) {
  if (event_time_ && bound) {
    uncovered_.emplace(*bound, std::move(records));
    return;
  }
  for (const auto& [key, offset] : records) tracker_.Complete(key, offset);
  EmitAcks();
}

void LaneCore::MaybeCheckpoint(absl::Time now) {
  if (!event_time_ || in_flight_ != 0 || now < next_checkpoint_at_) {
    return;
  }
  const absl::Time through = CompleteThrough();
  while (!uncovered_.empty() && uncovered_.begin()->first <= through) {
    for (const auto& [key, offset] : uncovered_.begin()->second) tracker_.Complete(key, offset);
    uncovered_.erase(uncovered_.begin());
  }
  EmitAcks();
  if (unsent_acks_.empty()) {
    return;
  }
  in_flight_ = next_seq_++;
  checkpointing_acks_.swap(unsent_acks_);
  unsent_acks_.clear();
  commands_.emplace_back(std::in_place_type<lane::WriteCheckpoint>, in_flight_,
                         Checkpoint{.complete_through = through,
                                    .read_through = read_through_});
}

void LaneCore::OnCheckpointWritten(uint64_t seq, absl::Status status, absl::Time now) {
  if (seq != in_flight_) {
    return;
  }
  in_flight_ = 0;
  if (status.ok()) {
    next_checkpoint_at_ = now + kCheckpointInterval;
    for (const auto& [key, offset] : checkpointing_acks_) {
      metrics_.acks->Add();
      commands_.emplace_back(std::in_place_type<lane::Ack>, key.input, key.partition, offset);
    }
  } else {
    NoteError(status, now);
    next_checkpoint_at_ = now + absl::Seconds(1);
    for (const auto& [key, offset] : checkpointing_acks_) {
      int64_t& unsent = unsent_acks_[key];
      unsent = std::max(unsent, offset);
    }
  }
  checkpointing_acks_.clear();
  MaybeCheckpoint(now);
}

void LaneCore::NoteError(const absl::Status& status, absl::Time now) {
  last_error_ = status.ToString();
  last_error_time_ = now;
}

LaneStats LaneCore::stats() const {
  LaneStats s;
  s.unacked = tracker_.pending();
  s.open_windows = windows_.size() + (event_windows_ ? event_windows_->open_windows() : 0);
  s.buffered = slots_.size();
  s.watermark = watermark_at_;
  s.last_error = last_error_;
  s.last_error_time = last_error_time_;
  return s;
}

}  // namespace runnel::sidecar
