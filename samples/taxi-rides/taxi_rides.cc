// taxi-rides: the taxi-rides sample's data generator. Simulates a shift of a fleet of taxis and
// prints one event per finished ride, one JSON object per line:
//
//   {"rideId":17,"licenseId":"LIC-0003","pickupTime":"2024-05-01T08:03:12.000Z",
//    "dropoffTime":"2024-05-01T08:17:40.000Z","eventTime":"2024-05-01T08:17:40.000Z"}
//
// eventTime is when the event happened: the ride ended (its drop-off). Each of --licenses taxis
// starts within 10 minutes of --start and drives rides of 3 to 25 minutes with breaks of 0 to 8
// minutes until the shift ends --hours later; a ride that would run past the end drops off in
// the shift's last seconds instead, so the last events come just before the end. The shift is
// printed as fast as --interval-ms allows (hours of event time in about a second).
//
// --disorder D prints rides out of order, as taxis with a patchy connection report them: each
// as if it arrived up to D seconds (of event time, uniformly at random) after it ended.
//
// Deterministic for a --seed and a --start (Unix milliseconds; default: the current hour's start
// minus --hours, so the shift ends on a window boundary of any window that divides an hour). A
// summary goes to stderr. Pipe it into `runnel publish STREAM --file - --lines`.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct Options {
  unsigned seed = 1;
  int licenses = 8;
  double hours = 2;
  int64_t start_ms = -1;  // Unix milliseconds; -1: the current hour's start minus --hours.
  double disorder_seconds = 0;
  int interval_ms = 2;
};

struct Ride {
  int license;
  int64_t pickup_ms;
  int64_t dropoff_ms;
  int64_t arrival_ms;  // Sorts the output: dropoff_ms plus up to --disorder.
};

int Usage() {
  std::cerr << "usage: taxi-rides [--seed N] [--licenses N] [--hours H] [--start UNIX_MS]\n"
               "       [--disorder SECONDS] [--interval-ms N]\n";
  return 2;
}

std::string Rfc3339(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

std::string License(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "LIC-%04d", i + 1);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    if (flag == "--seed") {
      o.seed = static_cast<unsigned>(std::atol(v));
    } else if (flag == "--licenses") {
      o.licenses = std::max(1, std::atoi(v));
    } else if (flag == "--hours") {
      o.hours = std::atof(v);
    } else if (flag == "--start") {
      o.start_ms = std::atoll(v);
    } else if (flag == "--disorder") {
      o.disorder_seconds = std::max(0.0, std::atof(v));
    } else if (flag == "--interval-ms") {
      o.interval_ms = std::atoi(v);
    } else {
      return Usage();
    }
  }
  constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond;
  const auto shift_ms = static_cast<int64_t>(o.hours * 3600 * kSecond);
  if (o.start_ms < 0) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    o.start_ms =
        std::chrono::duration_cast<std::chrono::hours>(now).count() * 3600 * kSecond - shift_ms;
  }
  const int64_t end_ms = o.start_ms + shift_ms;

  std::mt19937 rng(o.seed);
  auto uniform = [&](int64_t lo, int64_t hi) {  // [lo, hi], whole seconds.
    return lo + static_cast<int64_t>(rng() % ((hi - lo) / kSecond + 1)) * kSecond;
  };
  const auto disorder_ms = static_cast<int64_t>(o.disorder_seconds * 1000);
  std::vector<Ride> rides;
  for (int license = 0; license < o.licenses; ++license) {
    int64_t t = o.start_ms + uniform(0, 10 * kMinute);
    while (t + 2 * kMinute < end_ms) {
      int64_t dropoff = t + uniform(3 * kMinute, 25 * kMinute);
      if (dropoff >= end_ms) {
        dropoff = end_ms - uniform(1 * kSecond, 5 * kSecond);  // The shift's last drop-off.
      }
      const int64_t delay = disorder_ms > 0 ? static_cast<int64_t>(rng() % (disorder_ms + 1)) : 0;
      rides.push_back(Ride{license, t, dropoff, dropoff + delay});
      t = dropoff + uniform(0, 8 * kMinute);
    }
  }
  // Printed in arrival order (stable: rides are generated per taxi, so sort by drop-off first).
  std::stable_sort(rides.begin(), rides.end(),
                   [](const Ride& a, const Ride& b) { return a.dropoff_ms < b.dropoff_ms; });
  std::stable_sort(rides.begin(), rides.end(),
                   [](const Ride& a, const Ride& b) { return a.arrival_ms < b.arrival_ms; });
  int out_of_order = 0;
  int64_t latest = INT64_MIN;
  for (size_t i = 0; i < rides.size(); ++i) {
    const Ride& r = rides[i];
    if (r.dropoff_ms < latest) ++out_of_order;
    latest = std::max(latest, r.dropoff_ms);
    nlohmann::ordered_json event = {{"rideId", i + 1},
                                    {"licenseId", License(r.license)},
                                    {"pickupTime", Rfc3339(r.pickup_ms)},
                                    {"dropoffTime", Rfc3339(r.dropoff_ms)},
                                    {"eventTime", Rfc3339(r.dropoff_ms)}};
    std::cout << event.dump() << std::endl;  // flushed: the publisher streams line by line
    if (o.interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
  }
  std::cerr << rides.size() << " rides of " << o.licenses << " taxis from " << Rfc3339(o.start_ms)
            << " to " << Rfc3339(end_ms) << ", " << out_of_order
            << " printed after a later one (--disorder " << o.disorder_seconds << "s)\n";
  return 0;
}
