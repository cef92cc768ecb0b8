// amount-splitter: the split-and-aggregate sample's splitter (streaming, one input, two
// outputs). Each {"amount": n} event goes, unchanged, to output 0 ("high") when n > 5 and to
// output 1 ("low") otherwise. An event without a numeric amount fails the invocation with riff's
// "Bad Input" error, so the sidecar's retry and dead-letter rules apply to it.
#include <runnel/sdk/server.h>

#include <nlohmann/json.hpp>

using runnel::sdk::Invocation;

int main(int argc, char** argv) {
  auto body = [](Invocation& inv) -> absl::Status {
    while (true) {
      absl::StatusOr<std::optional<nlohmann::json>> event = inv.input(0).Next<nlohmann::json>();
      if (!event.ok()) {
        return event.status();
      }
      if (!event->has_value()) {
        return absl::OkStatus();
      }
      const nlohmann::json& e = **event;
      if (!e.is_object() || !e.contains("amount") || !e["amount"].is_number()) {
        return runnel::sdk::BadInputError("want {\"amount\": <number>}, got " + e.dump());
      }
      const int out = e["amount"].get<double>() > 5 ? 0 : 1;
      if (absl::Status s = inv.output(out).Emit(e); !s.ok()) {
        return s;
      }
    }
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 2}, body));
}
