#pragma once
// What `runnel processor status` and `list` show about a running processor, served as JSON on
// the processor's HTTP port (GET /status) beside /metrics and /healthz. Plain data.

#include <cstdint>
#include <string>

namespace runnel::sidecar {

struct ProcessorStatus {
  bool ready = false;
  std::string state;               // "ok", or what it waits for.
  uint64_t records_in = 0;         // Over all inputs.
  uint64_t records_out = 0;        // Over all outputs.
  uint64_t dead_lettered = 0;      // Input records sent to the dead-letter stream.
  uint64_t retries = 0;            // Invocations retried after a failure.
  uint64_t invocation_errors = 0;  // Invocations that failed.
  uint64_t late_records = 0;       // Behind the watermark beyond the allowed lateness.
  std::string last_error;          // The last invocation or publish error; "" when none.
  std::string last_error_time;     // RFC 3339; "" when none.
  int64_t open_windows = 0;
  // Processing time minus the watermark, over the lanes (the largest); -1 on arrival time or
  // before the first record.
  double watermark_lag_seconds = -1;
};

// {"ready":true,"state":"ok","records_in":..,...} with the field names above.
std::string StatusJson(const ProcessorStatus& status);

}  // namespace runnel::sidecar
