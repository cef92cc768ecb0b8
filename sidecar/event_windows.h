#pragma once
// Keyed windows on event time (the Dataflow model): which windows a record belongs to by its
// key and event time, and which windows the watermark has completed. Pure logic: no threads,
// no I/O, no clock; the lane passes the watermark in.
//
//   tumbling  "time=D":            [k*D, (k+1)*D) on the Unix epoch
//   sliding   "size=S,slide=L":    [k*L, k*L+S); a record joins every window covering its time
//   session   "gap=G":             per key, records less than G apart form one window
//                                  [first, last + G); a record that bridges two sessions merges
//                                  them
// A window *fires* once the watermark reaches its end plus `allowed_lateness`: it is then
// complete and leaves this class with its records. A record that arrives for a window that
// fired already is *late*: Add() reports it and keeps nothing (the lane applies the late-data
// mode). Windows are per key; "" is a key like any other (an unkeyed stream is one key).
// Records are opaque indices chosen by the caller.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "common/window_spec.h"

namespace runnel::sidecar {

struct EventWindowBounds {
  absl::Time start;
  absl::Time end;  // Exclusive.
  friend bool operator==(const EventWindowBounds&, const EventWindowBounds&) = default;
};

// A window that fired: its key, bounds and the records it holds, in the order they were added.
struct FiredWindow {
  std::string key;
  EventWindowBounds bounds;
  std::vector<uint64_t> records;
};

// Thread-compatible (one owner).
class EventWindows {
 public:
  // REQUIRES: spec is time-based (tumbling with time and no count, sliding, session).
  EventWindows(const WindowSpec& spec, absl::Duration allowed_lateness);

  struct Added {
    int windows = 0;                      // Windows the record joined.
    std::vector<EventWindowBounds> late;  // Windows it belongs to that already fired.
  };
  // Places record `id` of `key` at `event_time`, given the current `watermark`.
  Added Add(uint64_t id, const std::string& key, absl::Time event_time, absl::Time watermark);

  // The windows whose end + allowed_lateness <= watermark, in firing order (end, then key,
  // then start), removed from this class.
  std::vector<FiredWindow> Fire(absl::Time watermark);
  // The smallest end + allowed_lateness among open windows; InfiniteFuture() when none.
  absl::Time NextFiring() const;
  // Sessions: the earliest start of an open session (InfiniteFuture() when none, and for other
  // kinds). A record in an open session is at or after it.
  absl::Time EarliestOpenSessionStart() const;
  // Drops every open window (shutdown: their records are replayed after a restart).
  void Clear();

  size_t open_windows() const { return windows_.size(); }
  size_t buffered_records() const { return buffered_; }
  // The windows a record at `event_time` falls in, ignoring sessions' merging (tumbling and
  // sliding exactly; a session's first window).
  std::vector<EventWindowBounds> WindowsOf(absl::Time event_time) const;

 private:
  // Ordered by when they fire, so firing takes a prefix.
  using WindowKey = std::tuple<absl::Time /*end*/, std::string /*key*/, absl::Time /*start*/>;
  bool Fired(absl::Time end, absl::Time watermark) const { return end + lateness_ <= watermark; }
  void AddToSession(uint64_t id, const std::string& key, absl::Time t, Added& added,
                    absl::Time watermark);

  const WindowSpec spec_;
  const absl::Duration lateness_;
  std::map<WindowKey, std::vector<uint64_t>> windows_;
  // Sessions only: per key, the open sessions as (start, end).
  std::map<std::string, std::set<std::pair<absl::Time, absl::Time>>> sessions_;
  size_t buffered_ = 0;  // Record memberships held.
};

}  // namespace runnel::sidecar
