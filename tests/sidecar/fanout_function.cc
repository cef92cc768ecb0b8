// A fan-out function for the sidecar's tests: streaming, one input, one output. For each input
// record (a JSON number n) it emits FANOUT (default 1) outputs, the JSON strings "n.0", "n.1",
// ...; for the input equal to HUGE_INPUT it emits instead one JSON string of HUGE_BYTES bytes
// (bigger than the gateway takes).
#include <runnel/sdk/server.h>

#include <cstdlib>
#include <string>

namespace {

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : std::atoi(value);
}

}  // namespace

int main(int argc, char** argv) {
  const int fanout = EnvInt("FANOUT", 1);
  const char* huge_input = std::getenv("HUGE_INPUT");
  const std::string huge = huge_input == nullptr ? "" : huge_input;
  const int huge_bytes = EnvInt("HUGE_BYTES", 0);
  auto body = [=](runnel::sdk::Invocation& inv) -> absl::Status {
    while (true) {
      auto m = inv.input(0).NextMessage();
      if (!m.ok()) {
        return m.status();
      }
      if (!m->has_value()) {
        return absl::OkStatus();
      }
      const std::string& n = (*m)->payload;
      if (!huge.empty() && n == huge) {
        std::string payload = "\"" + std::string(static_cast<size_t>(huge_bytes), 'x') + "\"";
        if (absl::Status s = inv.output(0).EmitMessage({.payload = std::move(payload),
                                                        .content_type = "application/json"});
            !s.ok()) {
          return s;
        }
        continue;
      }
      for (int i = 0; i < fanout; ++i) {
        if (absl::Status s = inv.output(0).EmitMessage(
                {.payload = "\"" + n + "." + std::to_string(i) + "\"",
                 .content_type = "application/json"});
            !s.ok()) {
          return s;
        }
      }
    }
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
