// PLACEHOLDER (not committed): replaced by the headers branch.
#include "common/record_selector.h"
#include <nlohmann/json.hpp>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
namespace runnel {
absl::StatusOr<KeySelector> KeySelector::Parse(std::string_view spec) {
  KeySelector k;
  if (spec.empty()) return k;
  if (spec[0] == '/') { k.kind_ = Kind::kPointer; for (auto p : absl::StrSplit(absl::string_view(spec.data() + 1, spec.size() - 1), '/')) k.pointer_.emplace_back(p); return k; }
  return absl::InvalidArgumentError("bad");
}
std::string KeySelector::spec() const { std::string s; for (auto& p : pointer_) absl::StrAppend(&s, "/", p); return s; }
absl::StatusOr<std::string> KeySelector::Select(const RecordView& r) const {
  auto j = nlohmann::json::parse(r.event->data(), nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError("payload is not JSON");
  for (auto& p : pointer_) { if (!j.is_object() || !j.contains(p)) return absl::InvalidArgumentError(absl::StrCat("no field ", p)); j = j[p]; }
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}
absl::StatusOr<TimeSelector> TimeSelector::Parse(std::string_view spec) {
  TimeSelector t;
  if (spec == "arrival" || spec.empty()) return t;
  if (spec == "cloudevent") { t.kind_ = Kind::kCloudEvent; return t; }
  if (spec == "broker") { t.kind_ = Kind::kBroker; return t; }
  if (spec[0] == '/') { t.kind_ = Kind::kPointer; for (auto p : absl::StrSplit(absl::string_view(spec.data() + 1, spec.size() - 1), '/')) t.pointer_.emplace_back(p); return t; }
  return absl::InvalidArgumentError("bad");
}
std::string TimeSelector::spec() const { return "x"; }
absl::StatusOr<absl::Time> TimeSelector::Select(const RecordView& r) const {
  if (kind_ == Kind::kCloudEvent) return ParseRfc3339(r.event->time());
  if (kind_ == Kind::kBroker) return r.broker_time;
  auto j = nlohmann::json::parse(r.event->data(), nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError("payload is not JSON");
  for (auto& p : pointer_) { if (!j.is_object() || !j.contains(p)) return absl::InvalidArgumentError(absl::StrCat("no field ", p)); j = j[p]; }
  if (j.is_number()) return absl::FromUnixMillis(j.get<int64_t>());
  if (j.is_string()) return ParseRfc3339(j.get<std::string>());
  return absl::InvalidArgumentError("not a time");
}
absl::StatusOr<absl::Time> ParseRfc3339(std::string_view text) {
  absl::Time t; std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) return absl::InvalidArgumentError(err);
  return t;
}
std::string FormatRfc3339Millis(absl::Time t) { return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", t, absl::UTCTimeZone()); }
}  // namespace runnel
