// card-authorizations: the anomaly-detection sample's data generator. Prints card-authorization
// events, one JSON object per line, in rounds separated by a pause (longer than the detector's
// window, so that each round lands in a window of its own):
//
//   {"card_number":"4000123456789012","card_type":"Visa","name":"Ada Byron","merchant":"...",
//    "amount":12.5,"time":"2024-05-01T10:00:00.123Z"}
//
// In every round, each of --cards ordinary cards is used at most once; in round r, the
// suspicious cards i with i % rounds == r are used --burst times (a card being tested with many
// small payments); --split cards are used --split-uses times in every round (many in total,
// never many in one window). Deterministic for a --seed, apart from the timestamps. A summary
// goes to stderr. Pipe it into `runnel publish STREAM --file - --lines`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

struct Options {
  unsigned seed = 1;
  int cards = 30;
  int suspicious = 3;
  int burst = 8;
  int split = 1;
  int split_uses = 4;
  int rounds = 2;
  double pause_seconds = 7;
  int interval_ms = 5;
};

struct Card {
  std::string number;
  std::string type;
  std::string name;
};

int Usage() {
  std::cerr << "usage: card-authorizations [--seed N] [--cards N] [--suspicious N] [--burst N]\n"
               "       [--split N] [--split-uses N] [--rounds N] [--pause SECONDS]"
               " [--interval-ms N]\n";
  return 2;
}

std::string Now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms.count()));
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
    } else if (flag == "--pause") {
      o.pause_seconds = std::atof(v);
    } else if (flag == "--interval-ms") {
      o.interval_ms = std::atoi(v);
    } else {
      return Usage();
    }
  }

  std::mt19937 rng(o.seed);
  static const char* const kTypes[] = {"Visa", "Mastercard", "Amex"};
  static const char* const kFirst[] = {"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald",
                                       "Frances", "Ken", "Margaret", "Niklaus"};
  static const char* const kLast[] = {"Byron", "Turing", "Hopper", "Dijkstra", "Liskov",
                                      "Knuth", "Allen", "Thompson", "Hamilton", "Wirth"};
  static const char* const kMerchants[] = {"Corner Cafe", "Book Nook", "Fuel & Go",
                                           "Online Games", "Grocer's", "Gift Cards 24/7"};
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

  for (int round = 0; round < o.rounds; ++round) {
    std::vector<const Card*> uses;
    for (const Card& c : ordinary) {
      if (rng() % 2 == 0) uses.push_back(&c);
    }
    for (size_t i = 0; i < suspicious.size(); ++i) {
      if (static_cast<int>(i) % o.rounds != round) continue;
      for (int k = 0; k < o.burst; ++k) uses.push_back(&suspicious[i]);
      std::cerr << "round " << round + 1 << ": card " << suspicious[i].number << " used "
                << o.burst << " times\n";
    }
    for (const Card& c : split) {
      for (int k = 0; k < o.split_uses; ++k) uses.push_back(&c);
    }
    std::shuffle(uses.begin(), uses.end(), rng);
    for (const Card* c : uses) {
      nlohmann::ordered_json event = {
          {"card_number", c->number},
          {"card_type", c->type},
          {"name", c->name},
          {"merchant", kMerchants[rng() % 6]},
          {"amount", static_cast<double>(100 + rng() % 9900) / 100.0},
          {"time", Now()}};
      std::cout << event.dump() << std::endl;  // flushed: the publisher streams line by line
      if (o.interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
    }
    std::cerr << "round " << round + 1 << ": " << uses.size() << " authorizations\n";
    if (round + 1 < o.rounds) {
      std::this_thread::sleep_for(std::chrono::duration<double>(o.pause_seconds));
    }
  }
  return 0;
}
