// work-time: the taxi-rides sample's aggregate (streaming, one input, one output), Argo Streams'
// `groupByKey` then an aggregate. runnel-processor runs it with --key-by .licenseId on event-time
// windows, so each invocation is one taxi licence's window of rides (the licence in the header
// x-runnel-key, the bounds in x-runnel-window-start/-end). It sums the durations of the rides
// that ended in the window (drop-off minus pick-up) and emits
//
//   {"licenseId":"LIC-0003","windowStart":"…","windowEnd":"…","rides":3,"workSeconds":2712}
//
// which the processor keys by the licence and stamps with the window's last instant. A ride that
// does not parse fails the invocation with BadInputError: the processor retries, then sends that
// ride alone to the dead-letter stream and runs the window again without it.
#include <runnel/sdk/server.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

using runnel::sdk::Invocation;
using runnel::sdk::WithHeaders;

namespace {

// "2024-05-01T08:03:12.000Z" (RFC 3339 in UTC, optional fraction) -> Unix milliseconds.
std::optional<int64_t> ParseUtc(const std::string& text) {
  std::tm tm{};
  int ms = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::string rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    size_t digits = 1;
    for (; digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9'; ++digits) {
      if (digits <= 3) ms = ms * 10 + (rest[digits] - '0');
    }
    for (size_t d = digits; d < 4; ++d) ms *= 10;  // ".5" is 500 ms.
    rest = rest.substr(digits);
  }
  if (rest != "Z") {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::string Header(const runnel::sdk::Headers& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

}  // namespace

int main(int argc, char** argv) {
  auto body = [](Invocation& inv) -> absl::Status {
    std::string license, window_start, window_end;
    int rides = 0;
    int64_t work_ms = 0;
    while (true) {
      absl::StatusOr<std::optional<WithHeaders<nlohmann::json>>> ride =
          inv.input(0).Next<WithHeaders<nlohmann::json>>();
      if (!ride.ok()) {
        return ride.status();
      }
      if (!ride->has_value()) {
        break;
      }
      const nlohmann::json& r = (*ride)->value;
      std::optional<int64_t> pickup, dropoff;
      if (r.is_object() && r.value("pickupTime", nlohmann::json()).is_string() &&
          r.value("dropoffTime", nlohmann::json()).is_string()) {
        pickup = ParseUtc(r["pickupTime"].get<std::string>());
        dropoff = ParseUtc(r["dropoffTime"].get<std::string>());
      }
      if (!pickup || !dropoff || *dropoff < *pickup) {
        return runnel::sdk::BadInputError("want a ride with pickupTime <= dropoffTime, got " +
                                          r.dump());
      }
      if (rides++ == 0) {
        const runnel::sdk::Headers& h = (*ride)->headers;
        license = Header(h, "x-runnel-key");
        window_start = Header(h, "x-runnel-window-start");
        window_end = Header(h, "x-runnel-window-end");
      }
      work_ms += *dropoff - *pickup;
    }
    if (rides == 0) {
      return absl::OkStatus();
    }
    if (license.empty()) {
      return absl::FailedPreconditionError(
          "no x-runnel-key: run the processor with --key-by .licenseId");
    }
    return inv.output(0).Emit(nlohmann::json{{"licenseId", license},
                                             {"windowStart", window_start},
                                             {"windowEnd", window_end},
                                             {"rides", rides},
                                             {"workSeconds", work_ms / 1000}});
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
