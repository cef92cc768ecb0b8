// LaneCore: results (held, published in window order), acknowledgements and event-time
// checkpoints.
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
    const Slot* input = !one_per_input ? nullptr : &slots_.at(w.sent[in_order ? answers[i] : i]);
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
      // The same output of the same window has the same id on every replay: an answer is named
      // by its input's coordinates (answers may be published a few at a time), any other output
      // by its place among the call's outputs.
      const std::string which =
          in_order ? absl::StrCat("r", input->record.input, ":", input->record.partition, ":",
                                  input->record.offset)
                   : absl::StrCat(i);
      context.id = StableEventId(absl::StrCat(
          options_.name, "/", w.key, "/", absl::ToUnixMillis(w.bounds->start), "/",
          absl::ToUnixMillis(w.bounds->end), "/", which,
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

void LaneCore::Stage(Window& w, lane::Target target, int output, liiklus::PublishRequest request) {
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
  if (w.waiting_retry) --waiting_retries_;
  if (w.bounds) bounded_ends_.erase(bounded_ends_.find(w.bounds->end));
  windows_.erase(it);
  EmitAcks();
}

// ---- Acknowledgements and checkpoints -----------------------------------------------------

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
  if (!bounded_ends_.empty()) {
    through = std::min(through, *bounded_ends_.begin() + options_.allowed_lateness - just_before);
  }
  // A record of an open session may lie before the watermark: keep it out of reach.
  const absl::Time session = event_windows_->EarliestOpenSessionStart();
  if (session != absl::InfiniteFuture()) {
    through =
        std::min(through, session + options_.window.gap + options_.allowed_lateness - just_before);
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
                         Checkpoint{.complete_through = through, .read_through = read_through_});
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

}  // namespace runnel::sidecar
