// fraud-detector: the anomaly-detection sample's function (streaming, one input, one output).
// runnel-processor invokes it once per window of card-authorization events; it counts the
// authorizations of each card in the window and, for every card used more than FRAUD_THRESHOLD
// times (default 5), emits
//
//   {"card_number":"4000…","card_type":"Visa","name":"…","authorizations":8,
//    "first":"<time of the first>","last":"<time of the last>"}
//
// Events without a card number are skipped (and counted on stderr) rather than failing the
// window: one bad event must not hide the fraud in the others.
#include <runnel/sdk/server.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

using runnel::sdk::Invocation;

namespace {

struct CardWindow {
  nlohmann::json first_event;
  int authorizations = 0;
  std::string last_time;
};

}  // namespace

int main(int argc, char** argv) {
  const char* threshold_env = std::getenv("FRAUD_THRESHOLD");
  const int threshold = threshold_env != nullptr ? std::atoi(threshold_env) : 5;

  auto body = [threshold](Invocation& inv) -> absl::Status {
    std::map<std::string, CardWindow> cards;  // ordered: alerts come out sorted by card
    int skipped = 0;
    while (true) {
      absl::StatusOr<std::optional<nlohmann::json>> event = inv.input(0).Next<nlohmann::json>();
      if (!event.ok()) {
        return event.status();
      }
      if (!event->has_value()) {
        break;
      }
      const nlohmann::json& e = **event;
      if (!e.is_object() || !e.contains("card_number") || !e["card_number"].is_string()) {
        ++skipped;
        continue;
      }
      CardWindow& w = cards[e["card_number"].get<std::string>()];
      if (w.authorizations++ == 0) {
        w.first_event = e;
      }
      w.last_time = e.value("time", "");
    }
    if (skipped > 0) {
      std::cerr << "fraud-detector: skipped " << skipped << " event(s) without a card_number\n";
    }
    for (const auto& [number, w] : cards) {
      if (w.authorizations <= threshold) {
        continue;
      }
      nlohmann::ordered_json alert = {{"card_number", number},
                                      {"card_type", w.first_event.value("card_type", "")},
                                      {"name", w.first_event.value("name", "")},
                                      {"authorizations", w.authorizations},
                                      {"first", w.first_event.value("time", "")},
                                      {"last", w.last_time}};
      if (absl::Status s = inv.output(0).Emit(nlohmann::json(alert)); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
