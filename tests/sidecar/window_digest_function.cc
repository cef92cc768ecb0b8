// A window digest for the sidecar's event-time tests: streaming, one input, one output. Each
// invocation (one key's window) emits one output describing exactly what it was given: the
// x-runnel-key and x-runnel-window-start headers and the sorted "id"s of the JSON payloads, as
//   {"key":"k3","start":"2023-11-14T22:13:20.000Z","ids":[3,13,23]}
// An invocation whose records disagree on the key or window says "mixed" instead of the value,
// so a test comparing digests sees it.
#include <runnel/sdk/server.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

// The number after "id": in a flat JSON object; -1 when there is none.
long long IdOf(const std::string& json) {
  const size_t at = json.find("\"id\":");
  if (at == std::string::npos) {
    return -1;
  }
  return std::strtoll(json.c_str() + at + 5, nullptr, 10);
}

void Note(std::optional<std::string>& seen, const runnel::sdk::Headers& headers,
          const std::string& name) {
  auto it = headers.find(name);
  const std::string value = it == headers.end() ? "none" : it->second;
  if (!seen) {
    seen = value;
  } else if (*seen != value) {
    seen = "mixed";
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto body = [](runnel::sdk::Invocation& inv) -> absl::Status {
    std::optional<std::string> key, start;
    std::vector<long long> ids;
    while (true) {
      auto m = inv.input(0).NextMessage();
      if (!m.ok()) {
        return m.status();
      }
      if (!m->has_value()) {
        break;
      }
      Note(key, (*m)->headers, "x-runnel-key");
      Note(start, (*m)->headers, "x-runnel-window-start");
      ids.push_back(IdOf((*m)->payload));
    }
    if (ids.empty()) {
      return absl::OkStatus();
    }
    std::sort(ids.begin(), ids.end());
    std::string payload = "{\"key\":\"" + *key + "\",\"start\":\"" + *start + "\",\"ids\":[";
    for (size_t i = 0; i < ids.size(); ++i) {
      payload += (i == 0 ? "" : ",") + std::to_string(ids[i]);
    }
    payload += "]}";
    return inv.output(0).EmitMessage(
        {.payload = std::move(payload), .content_type = "application/json"});
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
