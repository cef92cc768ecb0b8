#pragma once
// What `runnel processor status` and `list` show about a running processor's records: read from
// each replica's GET /status (the JSON of sidecar/status.h, served on the processor's HTTP port).
// The CLI does not link the sidecar (house style B.2), so the JSON is read by field name, and a
// field an older processor does not send keeps its default.
//
// Everything but FetchReplicaStatus is pure; thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace runnel::cli {

// sidecar/status.h's ProcessorStatus, field for field.
struct ReplicaStatus {
  bool ready = false;
  std::string state;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t dead_lettered = 0;
  uint64_t retries = 0;
  uint64_t invocation_errors = 0;
  uint64_t late_records = 0;
  std::string last_error;       // "" when none
  std::string last_error_time;  // RFC 3339; "" when none
  int64_t open_windows = 0;
  double watermark_lag_seconds = -1;  // -1: arrival time, or no record yet
};

// Parses GET /status's body. Errors: kDataLoss when it is not a JSON object or a field has the
// wrong type.
absl::StatusOr<ReplicaStatus> ParseReplicaStatus(absl::string_view json);

// GET http://127.0.0.1:`port`/status within `timeout`. Errors: kUnavailable when nothing
// answers, kUnimplemented when the processor does not serve /status (404: an older
// runnel-processor), kDataLoss for an unreadable answer. Blocks.
absl::StatusOr<ReplicaStatus> FetchReplicaStatus(int port, absl::Duration timeout);

// The replicas of one processor as one: counters and open windows add up, ready only if every
// replica is, the largest watermark lag, the latest last error (by its time). Empty input: the
// defaults.
ReplicaStatus CombineReplicaStatuses(const std::vector<ReplicaStatus>& replicas);

// `processor status` lines (YAML, two-space indented under "records:"), e.g.
//   records:
//     in: 100
//     out: 99
//     deadLettered: 1
//     retries: 4
//     invocationErrors: 5
//     late: 7
//     openWindows: 2
//   watermarkLag: 1.5s
//   lastError: "invoke: not JSON"
//   lastErrorTime: "2026-12-04T10:00:00.250Z"
// watermarkLag is null (with a comment) on arrival time, lastError null when there is none.
std::string RenderStatusYaml(const ReplicaStatus& status);

// The columns `processor list` adds, in this order, for a status (nullopt: not known, "-").
inline constexpr const char* kStatusColumns[] = {"DEAD-LETTERED", "RETRIES", "LATE", "WM-LAG",
                                                 "LAST-ERROR"};
std::vector<std::string> StatusColumns(const std::optional<ReplicaStatus>& status);

}  // namespace runnel::cli
