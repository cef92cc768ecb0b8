// fraud-detector: the anomaly-detection sample's function (streaming, one input, one output).
// runnel-processor runs it with --key-by /card_number on event-time windows, so each invocation
// is one card's window: every event carries the card in the header x-runnel-key and the window's
// bounds in x-runnel-window-start/-end. It counts the card's authorizations and, when there are
// more than FRAUD_THRESHOLD (default 5), emits
//
//   {"card_number":"4000…","card_type":"Visa","name":"…","authorizations":8,
//    "first":"<event time of the first>","last":"<of the last>",
//    "window_start":"…","window_end":"…"}
//
// The processor gives the alert the card as its key and the window's last instant as its time.
// Events arrive in the order they were published, not by event time: first and last are the
// earliest and latest event times (RFC 3339 in UTC with milliseconds sort as text). Events
// without a card number are skipped (and counted on stderr) rather than failing the window:
// one bad event must not hide the fraud in the others. Without a key (no --key-by) the
// invocation fails, naming the flag.
#include <runnel/sdk/server.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

using runnel::sdk::Invocation;
using runnel::sdk::WithHeaders;

namespace {

std::string Header(const runnel::sdk::Headers& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

}  // namespace

int main(int argc, char** argv) {
  const char* threshold_env = std::getenv("FRAUD_THRESHOLD");
  const int threshold = threshold_env != nullptr ? std::atoi(threshold_env) : 5;

  auto body = [threshold](Invocation& inv) -> absl::Status {
    std::string card, window_start, window_end, first, last;
    nlohmann::json first_event;
    int authorizations = 0;
    int skipped = 0;
    while (true) {
      absl::StatusOr<std::optional<WithHeaders<nlohmann::json>>> event =
          inv.input(0).Next<WithHeaders<nlohmann::json>>();
      if (!event.ok()) {
        return event.status();
      }
      if (!event->has_value()) {
        break;
      }
      const nlohmann::json& e = (*event)->value;
      if (!e.is_object() || !e.contains("card_number") || !e["card_number"].is_string()) {
        ++skipped;
        continue;
      }
      if (authorizations++ == 0) {
        const runnel::sdk::Headers& h = (*event)->headers;
        card = Header(h, "x-runnel-key");
        window_start = Header(h, "x-runnel-window-start");
        window_end = Header(h, "x-runnel-window-end");
        first_event = e;
      }
      const std::string time = e.value("time", "");
      if (first.empty() || time < first) {
        first = time;
      }
      if (time > last) {
        last = time;
      }
    }
    if (skipped > 0) {
      std::cerr << "fraud-detector: skipped " << skipped << " event(s) without a card_number\n";
    }
    if (authorizations > 0 && card.empty()) {
      // Without --key-by a window holds every card's events: counting them as one would flag
      // nonsense, so say what is wrong (processor status shows it as the last error).
      return absl::FailedPreconditionError(
          "no x-runnel-key: run the processor with --key-by /card_number");
    }
    if (authorizations <= threshold) {
      return absl::OkStatus();
    }
    nlohmann::ordered_json alert = {{"card_number", card},
                                    {"card_type", first_event.value("card_type", "")},
                                    {"name", first_event.value("name", "")},
                                    {"authorizations", authorizations},
                                    {"first", first},
                                    {"last", last},
                                    {"window_start", window_start},
                                    {"window_end", window_end}};
    return inv.output(0).Emit(nlohmann::json(alert));
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
