// The lane core: records, windows and time. Calls are in lane_calls.cc, results in
// lane_results.cc.
#include "sidecar/lane_core.h"

// GCC 12 reports members of the LaneCommand variant as maybe-uninitialized when the commands
// vector grows (a known false positive of its variant move analysis at -O2).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/record_selector.h"
#include "sidecar/lane_core_internal.h"
#include "sidecar/record_mapping.h"

namespace runnel::sidecar {

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
  out.invocation_seconds = &m.GetHistogram(
      "runnel_processor_invocation_seconds", "Time from an invocation's start to its end.", {},
      {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800});
  out.window_close_delay =
      &m.GetHistogram("runnel_processor_window_close_delay_seconds",
                      "Event time: processing time when a window fired minus the window's end.", {},
                      {0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600});
  return out;
}

bool WindowsOnEventTime(const ProcessorOptions& options) {
  return !options.event_time.arrival() && !(options.window.kind == WindowSpec::Kind::kTumbling &&
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
  const RecordView view{.key = record.key, .event = &record.event, .broker_time = record.timestamp};
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

void LaneCore::OnRecordsWaiting(absl::Time now) {
  if (!event_time_) {
    return;
  }
  // Seen now, with no event time of their own: the watermark holds, it neither moves nor idles.
  for (const auto& [at, offset] : read_through_) {
    watermark_.Observe(at, absl::InfinitePast(), now);
  }
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
      bounded_ends_.insert(w.bounds->end);
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
          bounded_ends_.insert(b.end);
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
  watermark_computed_ = now;
  for (FiredWindow& fired : event_windows_->Fire(wm)) {
    Window& w = NewWindow(kCollected, std::move(fired.key), now);
    w.bounds = fired.bounds;
    bounded_ends_.insert(fired.bounds.end);
    w.records = std::move(fired.records);
    w.input_closed = true;
    pending_.push_back(w.id);
    if (now >= fired.bounds.end) {
      metrics_.window_close_delay->Observe(absl::ToDoubleSeconds(now - fired.bounds.end));
    }
  }
}

void LaneCore::StartPending(absl::Time now) {
  const size_t limit =
      static_cast<size_t>(std::max(options_.max_concurrent_invocations, kCollectedConcurrency));
  while (!pending_.empty()) {
    // A counter, not a scan of windows_: when a second of event time fires, windows_ holds
    // thousands of windows and this runs on every call end and publish acknowledgement.
    const size_t running = calls_.size() + static_cast<size_t>(waiting_retries_);
    if (running >= limit) {
      return;
    }
    Window& w = windows_.at(pending_.front());
    pending_.pop_front();
    StartAttempt(w, w.records, now);
  }
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
  // Only running calls can half-close and only waiting windows can retry (a waiting window has
  // no call). Walking calls_, and windows_ only when something waits, keeps this O(running
  // calls) while thousands of fired keyed windows wait in windows_.
  for (const auto& [call, id] : calls_) {
    MaybeHalfClose(windows_.at(id), now);  // A window lives until its call ends.
  }
  if (waiting_retries_ > 0) {
    for (auto& [id, w] : windows_) {
      if (w.waiting_retry && now >= w.retry_at) {
        metrics_.retries->Add();
        std::vector<uint64_t> records = !w.isolation             ? w.records
                                        : w.isolation->final_run ? w.isolation->clean
                                                                 : w.isolation->probe;
        StartAttempt(w, std::move(records), now);
      }
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
  // As in Advance(): running calls, and windows_ only when something waits for a retry.
  for (const auto& [call, id] : calls_) {
    const Window& w = windows_.at(id);
    if (w.input_closed && !w.half_closed) {
      consider(w.linger_since + (options_.half_close_idle     ? *options_.half_close_idle
                                 : w.answers_after_half_close ? absl::ZeroDuration()
                                                              : kSafeHalfCloseIdle));
    }
  }
  if (waiting_retries_ > 0) {
    for (const auto& [id, w] : windows_) {
      if (w.waiting_retry) consider(w.retry_at);
    }
  }
  if (in_flight_ == 0 &&
      (!unsent_acks_.empty() ||
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
  s.watermark_computed = watermark_computed_;
  s.watermark_follows_clock = watermark_.follows_clock();
  s.last_error = last_error_;
  s.last_error_time = last_error_time_;
  return s;
}

}  // namespace runnel::sidecar
