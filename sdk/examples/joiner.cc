// joiner: streaming, two inputs of JSON objects with a "key" field, one output. When a key has
// been seen on both inputs, emits {"key": k, "left": <input 0 object>, "right": <input 1 object>}
// (the latest of each side) — a stream-stream join. Reads both inputs in arrival order with
// NextAny, so an uneven feed never stalls the caller.
#include <runnel/sdk/server.h>

#include <map>
#include <string>

using runnel::sdk::Invocation;

int main(int argc, char** argv) {
  auto body = [](Invocation& inv) -> absl::Status {
    std::map<std::string, nlohmann::json> seen[2];
    while (true) {
      absl::StatusOr<std::optional<runnel::sdk::InputMessage>> m = inv.NextAny();
      if (!m.ok()) {
        return m.status();
      }
      if (!m->has_value()) {
        return absl::OkStatus();
      }
      absl::StatusOr<nlohmann::json> obj = runnel::sdk::DecodeAs<nlohmann::json>((*m)->message);
      if (!obj.ok()) {
        return obj.status();
      }
      if (!obj->is_object() || !obj->contains("key") || !(*obj)["key"].is_string()) {
        return runnel::sdk::BadInputError("expected a JSON object with a string \"key\"");
      }
      int side = (*m)->input;
      std::string key = (*obj)["key"].get<std::string>();
      seen[side][key] = *obj;
      auto other = seen[1 - side].find(key);
      if (other == seen[1 - side].end()) {
        continue;
      }
      nlohmann::json joined = {{"key", key},
                               {"left", side == 0 ? *obj : other->second},
                               {"right", side == 1 ? *obj : other->second}};
      if (absl::Status s = inv.output(0).Emit(std::move(joined)); !s.ok()) {
        return s;
      }
    }
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 2, .outputs = 1}, body));
}
