// card-authorizations: the anomaly-detection sample's data generator. Prints card-authorization
// events, one JSON object per line, each stamped with the time it happened (its event time, not
// the time it is printed):
//
//   {"card_number":"4000123456789012","card_type":"Visa","name":"Ada Byron","merchant":"...",
//    "amount":12.5,"time":"2024-05-01T10:00:00.123Z"}
//
// The events come in rounds of --round-gap seconds (of event time) from --start, all printed as
// fast as --interval-ms allows. In every round each of --cards ordinary cards is used at most
// once and --split cards are used --split-uses times (many in total, never many in one round),
// at random times all through the round; in round r, the suspicious cards i with
// i % rounds == r are used --burst times within the round's first --spread seconds (a card
// being tested with many small payments).
//
// --disorder D prints events out of order, as a network or a batching client would deliver
// them: each is printed as if it arrived up to D seconds (of event time, uniformly at random)
// after it happened, so an event can come after events up to D seconds younger than itself.
//
// Deterministic for a --seed and a --start (default: the current time rounded down to the
// minute, so a round starts on a window boundary of any window that divides a minute). A
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
  int cards = 60;
  int suspicious = 3;
  int burst = 8;
  int split = 1;
  int split_uses = 4;
  int rounds = 2;
  int64_t start_ms = -1;  // Unix milliseconds; -1: now, rounded down to the minute.
  double round_gap_seconds = 10;
  double spread_seconds = 5;
  double disorder_seconds = 0;
  int interval_ms = 5;
};

struct Card {
  std::string number;
  std::string type;
  std::string name;
};

struct Event {
  const Card* card;
  int64_t time_ms;     // When it happened.
  int64_t arrival_ms;  // Sorts the output: time_ms plus up to --disorder.
};

int Usage() {
  std::cerr << "usage: card-authorizations [--seed N] [--cards N] [--suspicious N] [--burst N]\n"
               "       [--split N] [--split-uses N] [--rounds N] [--start UNIX_MS]\n"
               "       [--round-gap SECONDS] [--spread SECONDS] [--disorder SECONDS]"
               " [--interval-ms N]\n";
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

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    if (flag == "--seed") {
      o.seed = static_cast<unsigned>(std::atol(v));
    } else if (flag == "--cards") {
      o.cards = std::atoi(v);
    } else if (flag == "--suspicious") {
      o.suspicious = std::atoi(v);
    } else if (flag == "--burst") {
      o.burst = std::atoi(v);
    } else if (flag == "--split") {
      o.split = std::atoi(v);
    } else if (flag == "--split-uses") {
      o.split_uses = std::atoi(v);
    } else if (flag == "--rounds") {
      o.rounds = std::max(1, std::atoi(v));
    } else if (flag == "--start") {
      o.start_ms = std::atoll(v);
    } else if (flag == "--round-gap") {
      o.round_gap_seconds = std::atof(v);
    } else if (flag == "--spread") {
      o.spread_seconds = std::atof(v);
    } else if (flag == "--disorder") {
      o.disorder_seconds = std::max(0.0, std::atof(v));
    } else if (flag == "--interval-ms") {
      o.interval_ms = std::atoi(v);
    } else {
      return Usage();
    }
  }
  if (o.start_ms < 0) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    o.start_ms = std::chrono::duration_cast<std::chrono::minutes>(now).count() * 60000;
  }

  std::mt19937 rng(o.seed);
  static const char* const kTypes[] = {"Visa", "Mastercard", "Amex"};
  static const char* const kFirst[] = {"Ada",    "Alan",    "Grace", "Edsger",   "Barbara",
                                       "Donald", "Frances", "Ken",   "Margaret", "Niklaus"};
  static const char* const kLast[] = {"Byron", "Turing", "Hopper",   "Dijkstra", "Liskov",
                                      "Knuth", "Allen",  "Thompson", "Hamilton", "Wirth"};
  static const char* const kMerchants[] = {"Corner Cafe",  "Book Nook", "Fuel & Go",
                                           "Online Games", "Grocer's",  "Gift Cards 24/7"};
  auto card = [&] {
    std::string number = "4";
    for (int d = 0; d < 15; ++d) number += static_cast<char>('0' + rng() % 10);
    return Card{number, kTypes[rng() % 3],
                std::string(kFirst[rng() % 10]) + " " + kLast[rng() % 10]};
  };
  std::vector<Card> ordinary, suspicious, split;
  for (int i = 0; i < o.cards; ++i) ordinary.push_back(card());
  for (int i = 0; i < o.suspicious; ++i) suspicious.push_back(card());
  for (int i = 0; i < o.split; ++i) split.push_back(card());

  const auto disorder_ms = static_cast<int64_t>(o.disorder_seconds * 1000);
  std::vector<Event> events;
  for (int round = 0; round < o.rounds; ++round) {
    const auto round_start = o.start_ms + static_cast<int64_t>(round * o.round_gap_seconds * 1000);
    const auto gap_ms = static_cast<int64_t>(o.round_gap_seconds * 1000);
    const auto spread_ms = static_cast<int64_t>(o.spread_seconds * 1000);
    size_t uses = 0;
    // One use of `c` at a random time in [round_start, round_start + within_ms).
    auto use = [&](const Card& c, int64_t within_ms) {
      const int64_t t = round_start + static_cast<int64_t>(rng() % std::max<int64_t>(1, within_ms));
      const int64_t delay = disorder_ms > 0 ? static_cast<int64_t>(rng() % (disorder_ms + 1)) : 0;
      events.push_back(Event{&c, t, t + delay});
      ++uses;
    };
    // Background traffic all through the round; the bursts within its first --spread seconds.
    for (const Card& c : ordinary) {
      if (rng() % 2 == 0) use(c, gap_ms);
    }
    for (size_t i = 0; i < suspicious.size(); ++i) {
      if (static_cast<int>(i) % o.rounds != round) continue;
      for (int k = 0; k < o.burst; ++k) use(suspicious[i], spread_ms);
      std::cerr << "round " << round + 1 << ": card " << suspicious[i].number << " used " << o.burst
                << " times\n";
    }
    for (const Card& c : split) {
      for (int k = 0; k < o.split_uses; ++k) use(c, gap_ms);
    }
    std::cerr << "round " << round + 1 << ": " << uses << " authorizations from "
              << Rfc3339(round_start) << "\n";
  }
  // Printed in arrival order (equal arrivals in event-time order).
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.time_ms < b.time_ms; });
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.arrival_ms < b.arrival_ms; });
  int out_of_order = 0;
  int64_t latest = INT64_MIN;
  for (const Event& e : events) {
    if (e.time_ms < latest) ++out_of_order;
    latest = std::max(latest, e.time_ms);
    nlohmann::ordered_json event = {{"card_number", e.card->number},
                                    {"card_type", e.card->type},
                                    {"name", e.card->name},
                                    {"merchant", kMerchants[rng() % 6]},
                                    {"amount", static_cast<double>(100 + rng() % 9900) / 100.0},
                                    {"time", Rfc3339(e.time_ms)}};
    std::cout << event.dump() << std::endl;  // flushed: the publisher streams line by line
    if (o.interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
  }
  std::cerr << events.size() << " authorizations, " << out_of_order
            << " printed after a younger one (--disorder " << o.disorder_seconds << "s)\n";
  return 0;
}
