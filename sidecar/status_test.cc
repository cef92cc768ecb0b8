#include "sidecar/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace runnel::sidecar {
namespace {

TEST(StatusJson, EveryFieldUnderItsName) {
  ProcessorStatus s{.ready = true,
                    .state = "ok",
                    .records_in = 100,
                    .records_out = 99,
                    .dead_lettered = 1,
                    .retries = 4,
                    .invocation_errors = 5,
                    .late_records = 7,
                    .last_error = "invoke square: record 3: not JSON",
                    .last_error_time = "2026-12-04T10:00:00.250Z",
                    .open_windows = 2,
                    .watermark_lag_seconds = 1.5};
  nlohmann::json j = nlohmann::json::parse(StatusJson(s));
  EXPECT_EQ(j, nlohmann::json::parse(R"({
      "ready": true, "state": "ok", "records_in": 100, "records_out": 99, "dead_lettered": 1,
      "retries": 4, "invocation_errors": 5, "late_records": 7,
      "last_error": "invoke square: record 3: not JSON",
      "last_error_time": "2026-12-04T10:00:00.250Z", "open_windows": 2,
      "watermark_lag_seconds": 1.5})"));
}

TEST(StatusJson, DefaultsAndAnInvalidUtf8ErrorStillMakeJson) {
  ProcessorStatus s;
  s.last_error = "bad \xff byte";
  nlohmann::json j = nlohmann::json::parse(StatusJson(s));
  EXPECT_EQ(j["ready"], false);
  EXPECT_EQ(j["watermark_lag_seconds"], -1);
  EXPECT_EQ(j["last_error"], "bad \xEF\xBF\xBD byte");
}

}  // namespace
}  // namespace runnel::sidecar
