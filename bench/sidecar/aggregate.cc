// aggregate: the keyed benchmark's function (bench/sidecar/keyed_bench.cc). Streaming, one input
// of JSON objects with a number field "v", one output: per invocation (one window), a single
// {"count":N,"sum":S}. Reads the raw payload and scans for "v" rather than parsing the JSON, so
// that the function's own cost stays small beside the processor's, which is what is measured.
#include <runnel/sdk/server.h>

#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

using runnel::sdk::Invocation;

namespace {

// The integer after `"v":` in `payload`; 0 when there is none.
int64_t ValueOf(std::string_view payload) {
  constexpr std::string_view kField = "\"v\":";
  const size_t at = payload.find(kField);
  if (at == std::string_view::npos) {
    return 0;
  }
  const char* first = payload.data() + at + kField.size();
  int64_t v = 0;
  std::from_chars(first, payload.data() + payload.size(), v);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  auto body = [](Invocation& inv) -> absl::Status {
    int64_t count = 0;
    int64_t sum = 0;
    while (true) {
      absl::StatusOr<std::optional<runnel::sdk::Message>> m = inv.input(0).NextMessage();
      if (!m.ok()) {
        return m.status();
      }
      if (!m->has_value()) {
        break;
      }
      ++count;
      sum += ValueOf((*m)->payload);
    }
    return inv.output(0).Emit(nlohmann::json{{"count", count}, {"sum", sum}});
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
