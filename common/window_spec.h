#pragma once
// Window specs: the grammar shared by runnel-processor (--window) and the runnel CLI, which
// checks a spec when a processor is created instead of letting its sidecar crash-loop on it.
// Pure: no threads, no I/O.
//
// Kinds (spec strings accepted by ParseWindowSpec):
//   tumbling   "count=1000", "time=1s", "count=1000,time=1s" (whichever comes first), optional
//              "tumbling:" prefix; a bare duration is shorthand for time ("tumbling:1s", "1s"). On
//              arrival time a window opens with its first record and closes when it holds `count`
//              records or `time` has passed since it opened. On event time (--event-time) windows
//              are aligned: [k*time, (k+1)*time).
//   sliding    "sliding:size=10s,slide=2s": windows [k*slide, k*slide+size); a record belongs
//              to every window covering its time (size/slide of them).
//   session    "session:gap=5s" or "session:gap=5s,count=1000": a window stays open while records
//              keep coming less than `gap` apart (and, optionally, until it holds `count`).
//              "session:5s" is shorthand for "session:gap=5s".
// Default (kDefaultWindowSpec): "count=1000,time=1s".

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace runnel {

inline constexpr char kDefaultWindowSpec[] = "count=1000,time=1s";

struct WindowSpec {
  enum class Kind { kTumbling, kSliding, kSession };
  Kind kind = Kind::kTumbling;
  int64_t count = 0;                              // Tumbling/session: 0 = no count limit.
  absl::Duration time = absl::ZeroDuration();     // Tumbling: 0 = no time limit.
  absl::Duration size = absl::ZeroDuration();     // Sliding.
  absl::Duration slide = absl::ZeroDuration();    // Sliding.
  absl::Duration gap = absl::ZeroDuration();      // Session.
};

// Parses a spec (grammar above). INVALID_ARGUMENT names the offending part and the whole spec.
absl::StatusOr<WindowSpec> ParseWindowSpec(const std::string& spec);
// The canonical spec string of `spec` (round-trips through ParseWindowSpec).
std::string FormatWindowSpec(const WindowSpec& spec);

// Whether `spec` can window on event time (--event-time other than arrival). Count-only
// tumbling windows can (they stay in arrival order); "count=N,time=D" cannot, as event-time
// tumbling windows are aligned by time alone. INVALID_ARGUMENT naming the spec and the fix.
absl::Status CheckWindowSpecForEventTime(const WindowSpec& spec);

// The grammar, for --help texts (several lines, no trailing newline).
std::string WindowSpecHelp();

}  // namespace runnel
