#pragma once
// Windowing for the processor on arrival time: which window(s) each arriving record belongs to
// and when a window closes. Pure logic: no threads, no I/O; time is passed in by the caller
// (taken from an injected Clock), so tests drive it with FakeClock and never sleep. The spec
// grammar is common/window_spec.h; windows on event time are event_windows.h.
//
// On arrival time: a tumbling window opens with its first record (no empty windows) and closes
// when it holds `count` records or `time` has passed since it opened; sliding windows are
// [k*slide, k*slide+size) on the clock, opened lazily with their first record; a session stays
// open while records keep arriving less than `gap` apart.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/window_spec.h"

namespace runnel::sidecar {

using runnel::FormatWindowSpec;
using runnel::kDefaultWindowSpec;
using runnel::ParseWindowSpec;
using runnel::WindowSpec;

using WindowId = uint64_t;

// What Add() did. The caller opens `opened` windows (in order), adds the record to every window
// of `member_of`, then closes `closed` (in order). `closed` may hold windows that expired before
// the record arrived as well as windows the record filled.
struct Placement {
  std::vector<WindowId> opened;
  std::vector<WindowId> member_of;
  std::vector<WindowId> closed;
};

// Thread-compatible (one owner). Window ids increase in opening order.
class Windower {
 public:
  explicit Windower(const WindowSpec& spec) : spec_(spec) {}

  // Places one record that arrived at `now`. `now` never goes backwards between calls.
  Placement Add(absl::Time now);
  // Closes and returns the windows whose time ran out by `now`, oldest first.
  std::vector<WindowId> Advance(absl::Time now);
  // The earliest time at which Advance() would close a window; nullopt when none is open or
  // open windows close only by count.
  std::optional<absl::Time> NextDeadline() const;
  // Closes window `id` early (it is full, or its function ended it); false if it is not open.
  bool Close(WindowId id);
  // Closes every open window (input ended, shutdown), oldest first.
  std::vector<WindowId> CloseAll();
  size_t open_windows() const { return open_.size(); }

 private:
  struct Open {
    WindowId id;
    absl::Time start;               // Sliding: the aligned start. Others: first record.
    absl::Time deadline;            // absl::InfiniteFuture() when closing by count only.
    int64_t records = 0;
  };
  absl::Time DeadlineOf(const Open& w) const;

  const WindowSpec spec_;
  WindowId next_id_ = 1;
  std::deque<Open> open_;  // Opening order; sliding windows also in start order.
};

}  // namespace runnel::sidecar
