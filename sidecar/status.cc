#include "sidecar/status.h"

#include <nlohmann/json.hpp>

namespace runnel::sidecar {

std::string StatusJson(const ProcessorStatus& status) {
  // Ordered: the fields read in the order of status.h (runnel processor status reads them by
  // name, so the order is only for people).
  nlohmann::ordered_json j = {
      {"ready", status.ready},
      {"state", status.state},
      {"records_in", status.records_in},
      {"records_out", status.records_out},
      {"dead_lettered", status.dead_lettered},
      {"retries", status.retries},
      {"invocation_errors", status.invocation_errors},
      {"late_records", status.late_records},
      {"last_error", status.last_error},
      {"last_error_time", status.last_error_time},
      {"open_windows", status.open_windows},
      {"watermark_lag_seconds", status.watermark_lag_seconds},
  };
  // An error message is a function's or a broker's text: never let invalid UTF-8 in it make the
  // endpoint throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace runnel::sidecar
