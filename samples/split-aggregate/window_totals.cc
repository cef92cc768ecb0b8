// window-totals: the split-and-aggregate sample's aggregator (streaming, one input, one output).
// runnel-processor invokes it once per time window of {"amount": n} events; it emits one
// summary per non-empty window:
//
//   {"count": 7, "sum": 52, "min": 6, "max": 10, "avg": 7.43, "at": <unix ms when emitted>}
#include <runnel/sdk/server.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <nlohmann/json.hpp>

using runnel::sdk::Invocation;

int main(int argc, char** argv) {
  auto body = [](Invocation& inv) -> absl::Status {
    long count = 0;
    double sum = 0, min = 0, max = 0;
    while (true) {
      absl::StatusOr<std::optional<nlohmann::json>> event = inv.input(0).Next<nlohmann::json>();
      if (!event.ok()) {
        return event.status();
      }
      if (!event->has_value()) {
        break;
      }
      const nlohmann::json& e = **event;
      if (!e.is_object() || !e.contains("amount") || !e["amount"].is_number()) {
        return runnel::sdk::BadInputError("want {\"amount\": <number>}, got " + e.dump());
      }
      const double amount = e["amount"].get<double>();
      min = count == 0 ? amount : std::min(min, amount);
      max = count == 0 ? amount : std::max(max, amount);
      sum += amount;
      ++count;
    }
    if (count == 0) {
      return absl::OkStatus();
    }
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return inv.output(0).Emit(nlohmann::json{
        {"count", count},
        {"sum", sum},
        {"min", min},
        {"max", max},
        {"avg", std::round(sum / static_cast<double>(count) * 100) / 100},
        {"at", std::chrono::duration_cast<std::chrono::milliseconds>(now).count()}});
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
