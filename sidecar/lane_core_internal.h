#pragma once
// LaneCore's private state, shared by the files that implement it (lane_core.cc: records,
// windows and time; lane_calls.cc: calls, failures and isolation; lane_results.cc: publishing,
// acknowledgements and checkpoints). Not for anyone else: include lane_core.h.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/lane_core.h"

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
  CallId call = 0;             // 0: no call running.
  std::vector<uint64_t> sent;  // Slots given to the current call, in frame order.
  int attempt = 0;             // Attempts of the current run (a probe, the final run).
  int total_attempts = 0;
  bool waiting_retry = false;
  absl::Time retry_at;
  bool input_closed = false;  // No more records join.
  bool half_closed = false;
  bool answers_after_half_close = false;
  absl::Time linger_since;
  absl::Time call_started;
  size_t outputs = 0;  // Outputs and refusals of the current attempt.
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
  bool done = false;      // The function's part is over; outputs (if any) are held.
  bool released = false;  // Outputs handed to publishers.
  int pending_publishes = 0;
  std::shared_ptr<OutputBudget::Route> route = std::make_shared<OutputBudget::Route>();
};

}  // namespace runnel::sidecar
