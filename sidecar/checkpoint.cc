#include "sidecar/checkpoint.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace runnel::sidecar {

std::string EncodeCheckpoint(uint32_t lane, const Checkpoint& checkpoint) {
  nlohmann::json j;
  j["lane"] = lane;
  // Nanoseconds as a number: exact, and InfinitePast() is kept as null.
  if (checkpoint.complete_through == absl::InfinitePast()) {
    j["completeThroughNanos"] = nullptr;
  } else {
    j["completeThroughNanos"] = absl::ToUnixNanos(checkpoint.complete_through);
  }
  j["readThrough"] = nlohmann::json::array();
  for (const auto& [key, offset] : checkpoint.read_through) {
    j["readThrough"].push_back(
        {{"input", key.input}, {"partition", key.partition}, {"offset", offset}});
  }
  return j.dump();
}

absl::StatusOr<Checkpoint> DecodeCheckpoint(const std::string& json, uint32_t* lane) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", what));
  };
  if (!j.is_object()) return bad("not a JSON object");
  if (!j.contains("lane") || !j["lane"].is_number_unsigned()) return bad("no lane");
  *lane = j["lane"].get<uint32_t>();
  Checkpoint c;
  const nlohmann::json& through = j.value("completeThroughNanos", nlohmann::json());
  if (through.is_number_integer()) {
    c.complete_through = absl::FromUnixNanos(through.get<int64_t>());
  } else if (!through.is_null()) {
    return bad("completeThroughNanos is not an integer");
  }
  if (!j.contains("readThrough") || !j["readThrough"].is_array()) return bad("no readThrough");
  for (const nlohmann::json& p : j["readThrough"]) {
    if (!p.is_object() || !p.value("input", nlohmann::json()).is_number_unsigned() ||
        !p.value("partition", nlohmann::json()).is_number_unsigned() ||
        !p.value("offset", nlohmann::json()).is_number_integer()) {
      return bad("a readThrough entry is not {input, partition, offset}");
    }
    c.read_through[{.input = p["input"].get<int>(), .partition = p["partition"].get<uint32_t>()}] =
        p["offset"].get<int64_t>();
  }
  return c;
}

}  // namespace runnel::sidecar
