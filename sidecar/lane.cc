#include "sidecar/lane.h"

#include <utility>
#include <variant>

#include "common/logging.h"

namespace runnel::sidecar {

Lane::Lane(ProcessorContext& context, uint32_t index)
    : ctx_(context),
      index_(index),
      core_(context.options, context.metrics, context.budget.get(), /*seed=*/index + 17) {
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

Lane::~Lane() {
  Stop();
  // Calls still running post into this lane from transport threads: they were cancelled; wait
  // for their last callback before the mailbox goes away.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &live_calls_));
}

bool Lane::Push(std::vector<InputRecord>& batch) {
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

void Lane::Drain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool Lane::WaitDrained(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(absl::Condition(&drained_), deadline);
}

void Lane::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  for (auto& [id, call] : calls_) call->Cancel();
}

LaneStats Lane::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool Lane::Restore(std::stop_token stop) {
  if (ctx_.checkpoints == nullptr) {
    return true;
  }
  // The partitions this lane reads: all of them with a --key-by that re-keys (one replica: the
  // CLI refuses several), else partition index_ of each input that has it.
  size_t expected = 0;
  for (int n : ctx_.input_partitions) {
    if (ctx_.options.key_by.rekeys()) {
      expected += static_cast<size_t>(n);
    } else if (static_cast<int64_t>(index_) < n) {
      ++expected;
    }
  }
  core_.ExpectPartitions(expected, ctx_.clock->Now());
  Backoff backoff(ctx_.options.connect_retry);
  while (true) {
    absl::StatusOr<std::optional<Checkpoint>> loaded = ctx_.checkpoints->Load(index_);
    if (loaded.ok()) {
      if (*loaded) {
        core_.Restore(**loaded);
        RUNNEL_LOG(INFO) << "lane resumes from its checkpoint" << Kv("lane", index_)
                         << Kv("complete_through", (*loaded)->complete_through);
      }
      return true;
    }
    const absl::Duration delay = backoff.NextDelay();
    RUNNEL_LOG(WARNING) << "cannot read the lane's checkpoint; retrying" << Kv("lane", index_)
                        << Kv("status", loaded.status().ToString()) << Kv("retry_in", delay);
    if (!SleepUnlessStopped(stop, delay)) return false;
  }
}

void Lane::Post(Event event) {
  absl::MutexLock lock(&mu_);
  events_.push_back(std::move(event));
}

void Lane::Run(std::stop_token stop) {
  std::stop_callback wake(stop, [this] {
    absl::MutexLock lock(&mu_);
    stop_flag_ = true;
  });
  if (!Restore(stop)) {
    return;
  }
  bool drain_started = false;
  while (true) {
    std::vector<Event> events;
    std::deque<InputRecord> records;
    bool draining = false;
    bool records_waiting = false;
    {
      absl::MutexLock lock(&mu_);
      const bool can_accept = core_.CanAccept();
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_flag_ || !events_.empty() || (can_accept && !records_.empty()) ||
               (draining_ && !drain_started);
      };
      const absl::Time before = ctx_.clock->Now();
      if (std::optional<absl::Time> deadline = core_.NextTimer(before)) {
        // Timers are on the injected clock; the wait is on the real one.
        mu_.AwaitWithTimeout(absl::Condition(&ready), *deadline - before);
      } else {
        mu_.Await(absl::Condition(&ready));
      }
      if (stop_flag_) {
        return;
      }
      events.swap(events_);
      draining = draining_;
      records_waiting = !can_accept && !records_.empty();
      if (can_accept && !draining_) {
        // A bounded slice, so that outputs and completions are not kept waiting behind a long
        // input queue; the core's bounds are re-checked before each record.
        for (int i = 0; i < 512 && !records_.empty(); ++i) {
          records.push_back(std::move(records_.front()));
          records_.pop_front();
        }
      }
    }
    absl::Time now = ctx_.clock->Now();
    if (records_waiting) core_.OnRecordsWaiting(now);
    // In arrival order: a call's outputs reach the mailbox before its end.
    for (Event& e : events) {
      switch (e.kind) {
        case Event::kTraits:
          core_.OnTraits(e.id, e.traits, now);
          break;
        case Event::kOutput:
          core_.OnOutput(e.id, std::move(e.frame), now);
          break;
        case Event::kNoOutput:
          core_.OnNoOutput(e.id, e.index, now);
          break;
        case Event::kReject:
          core_.OnReject(e.id, e.index, std::move(e.status), std::move(e.detail), now);
          break;
        case Event::kDone:
          core_.OnCallDone(e.id, std::move(e.status), now);
          calls_.erase(e.id);
          break;
        case Event::kPublished:
          core_.OnPublished(e.id, std::move(e.status), now);
          break;
        case Event::kCheckpointed:
          core_.OnCheckpointWritten(e.id, std::move(e.status), now);
          break;
      }
    }
    if (!records.empty()) {
      core_.Advance(now);  // Windows that expired close before the next record is placed.
      while (!records.empty()) {
        if (!core_.CanAccept()) {
          core_.OnRecordsWaiting(ctx_.clock->Now());
          absl::MutexLock lock(&mu_);
          while (!records.empty()) {
            records_.push_front(std::move(records.back()));
            records.pop_back();
          }
          break;
        }
        core_.Add(std::move(records.front()), ctx_.clock->Now());
        records.pop_front();
      }
    }
    now = ctx_.clock->Now();
    core_.Advance(now);
    if (draining && !drain_started) {
      drain_started = true;
      core_.Drain(now);
    }
    Execute(core_.TakeCommands());
    absl::MutexLock lock(&mu_);
    stats_ = core_.stats();
    drained_ = drain_started && core_.Drained();
  }
}

void Lane::Execute(std::vector<LaneCommand> commands) {
  for (LaneCommand& command : commands) {
    if (auto* start = std::get_if<lane::StartCall>(&command)) {
      {
        absl::MutexLock lock(&mu_);
        ++live_calls_;
      }
      const CallId id = start->call;
      std::shared_ptr<FunctionCall> call = ctx_.transport->Start(
          ctx_.start_frame, start->deadline,
          {.on_output =
               [this, id](streaming::OutputFrame frame) {
                 ctx_.budget->Add(1);  // Until durable or dropped.
                 Post({.kind = Event::kOutput, .id = id, .frame = std::move(frame)});
               },
           .on_done =
               [this, id](absl::Status status) {
                 absl::MutexLock lock(&mu_);
                 events_.push_back({.kind = Event::kDone, .id = id, .status = std::move(status)});
                 --live_calls_;
               },
           .on_reject =
               [this, id](size_t index, absl::Status status,
                          std::map<std::string, std::string> detail) {
                 Post({.kind = Event::kReject,
                       .id = id,
                       .index = index,
                       .status = std::move(status),
                       .detail = std::move(detail)});
               },
           .may_read =
               [budget = ctx_.budget.get(), route = start->route](OutputBudget::Resume resume) {
                 return budget->MayRead(route, std::move(resume));
               },
           .on_no_output =
               [this, id](size_t index) {
                 Post({.kind = Event::kNoOutput, .id = id, .index = index});
               },
           .on_traits =
               [this, id](FunctionTraits traits) {
                 Post({.kind = Event::kTraits, .id = id, .traits = traits});
               }});
      for (streaming::InputFrame& frame : start->frames) call->Send(std::move(frame));
      calls_[id] = std::move(call);
    } else if (auto* send = std::get_if<lane::Send>(&command)) {
      if (auto it = calls_.find(send->call); it != calls_.end()) {
        it->second->Send(std::move(send->frame));
      }
    } else if (auto* close = std::get_if<lane::HalfClose>(&command)) {
      if (auto it = calls_.find(close->call); it != calls_.end()) it->second->Close();
    } else if (auto* cancel = std::get_if<lane::Cancel>(&command)) {
      // Kept until its on_done arrives, so the map always knows the calls still running.
      if (auto it = calls_.find(cancel->call); it != calls_.end()) it->second->Cancel();
    } else if (auto* publish = std::get_if<lane::Publish>(&command)) {
      Publisher* publisher = publish->target == lane::Target::kOutput
                                 ? ctx_.publishers[publish->output].get()
                             : publish->target == lane::Target::kDeadLetter ? ctx_.dead_letter.get()
                                                                            : ctx_.late.get();
      const GroupId group = publish->group;
      publisher->Publish(std::move(publish->records), [this, group](absl::Status status) {
        Post({.kind = Event::kPublished, .id = group, .status = std::move(status)});
      });
    } else if (auto* ack = std::get_if<lane::Ack>(&command)) {
      ctx_.ackers[ack->input]->Ack(ack->partition, ack->offset);
    } else if (auto* write = std::get_if<lane::WriteCheckpoint>(&command)) {
      const uint64_t seq = write->seq;
      ctx_.checkpoints->Write(index_, write->checkpoint, [this, seq](absl::Status status) {
        Post({.kind = Event::kCheckpointed, .id = seq, .status = std::move(status)});
      });
    }
  }
}

}  // namespace runnel::sidecar
