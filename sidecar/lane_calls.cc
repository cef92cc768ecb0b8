// LaneCore: function calls, their failures and the search for the records that fail them.
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

// ---- Calls ------------------------------------------------------------------------------------

void LaneCore::StartAttempt(Window& w, std::vector<uint64_t> records, absl::Time now) {
  ++w.attempt;
  ++w.total_attempts;
  if (w.waiting_retry) --waiting_retries_;
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
  const absl::Duration idle = options_.half_close_idle     ? *options_.half_close_idle
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
                absl::InvalidArgumentError(
                    absl::StrCat("the function emitted on output ", frame.resultindex(),
                                 " but the processor has ", outputs, " output(s)")),
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
    FailAttempt(
        *w,
        absl::ResourceExhaustedError(absl::StrCat(
            "one invocation emitted more than --max-window-outputs (", options_.max_window_outputs,
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

void LaneCore::OnNoOutput(CallId call, size_t index, absl::Time now) {
  Window* w = Find(call);
  if (w == nullptr) {
    return;
  }
  ++w->outputs;  // Its answer, for the half-close rule.
  if (w->answers_in_order && index < w->sent.size()) {
    w->cursor = std::max(w->cursor, index + 1);
    // Nothing to publish: the answer is final, never asked again.
    w->answered.push_back(w->sent[index]);
  }
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
    if (!w.waiting_retry) ++waiting_retries_;
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

}  // namespace runnel::sidecar
