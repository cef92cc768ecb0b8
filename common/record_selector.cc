#include "common/record_selector.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/header_names.h"
#include "common/logging.h"

namespace runnel {
namespace {

using nlohmann::json;

constexpr char kKeyGrammar[] =
    "expected \"key\" (the key records were published with), a JSON Pointer (\"/licenseId\"), "
    "Argo's shorthand (\".licenseId\") or a CloudEvent attribute (\"ce:subject\", \"ce:NAME\" for "
    "an extension)";
constexpr char kTimeGrammar[] =
    "expected \"arrival\", \"cloudevent\", \"broker\", a JSON Pointer (\"/ts\") or Argo's "
    "shorthand (\".ts\")";

// Parses "/a/b" (RFC 6901) or ".a.b" (Argo Streams) into unescaped reference tokens. `what`
// ("key-by", "event-time") names the flag in errors.
absl::StatusOr<std::vector<std::string>> ParsePointer(absl::string_view spec,
                                                      absl::string_view what,
                                                      absl::string_view grammar) {
  std::vector<std::string> tokens;
  if (spec.front() == '.') {
    // Argo's jq-like path: plain member names, so no escapes and no empty segments.
    if (spec.size() == 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " '", spec, "': names no field; ", grammar));
    }
    for (absl::string_view name : absl::StrSplit(spec.substr(1), '.')) {
      if (name.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " '", spec, "': empty field name; ", grammar));
      }
      tokens.emplace_back(name);
    }
    return tokens;
  }
  for (absl::string_view raw : absl::StrSplit(spec.substr(1), '/')) {
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token.push_back(raw[i]);
      } else if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token.push_back(raw[++i] == '0' ? '~' : '/');
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " '", spec, "': '~' must be followed by 0 or 1 in a JSON Pointer (RFC 6901)"));
      }
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::string PointerSpec(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& token : tokens) {
    out.push_back('/');
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out.push_back(c);
      }
    }
  }
  return out;
}

absl::string_view TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    default:
      return "a number";
  }
}

// RFC 6901 array index: "0" or a decimal without leading zeros.
bool ArrayIndex(const std::string& token, size_t* index) {
  if (token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0')) return false;
  size_t v = 0;
  for (char c : token) {
    if (!absl::ascii_isdigit(c)) return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *index = v;
  return true;
}

// The value at `tokens` in `payload`, parsed without exceptions. `what` names the selector.
absl::StatusOr<json> Lookup(const std::string& payload, const std::vector<std::string>& tokens,
                            absl::string_view what) {
  json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the payload is not JSON"));
  }
  const json* at = &doc;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    const json* next = nullptr;
    if (at->is_object()) {
      auto it = at->find(token);
      if (it != at->end()) next = &*it;
    } else if (at->is_array()) {
      size_t index = 0;
      if (ArrayIndex(token, &index) && index < at->size()) next = &(*at)[index];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the payload has ", TypeName(*at), " at '",
                       PointerSpec({tokens.begin(), tokens.begin() + static_cast<ptrdiff_t>(i)}),
                       "', not an object or array"));
    }
    if (next == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the payload has no '", PointerSpec(tokens), "' (no ",
                       at->is_array() ? "element" : "member", " '", token, "')"));
    }
    at = next;
  }
  return *at;
}

}  // namespace

absl::StatusOr<KeySelector> KeySelector::Parse(std::string_view spec_text) {
  const absl::string_view spec(spec_text.data(), spec_text.size());
  KeySelector s;
  if (spec.empty()) return s;
  if (spec == "key") {
    s.kind_ = Kind::kRecordKey;
    return s;
  }
  if (spec.front() == '/' || spec.front() == '.') {
    absl::StatusOr<std::vector<std::string>> tokens = ParsePointer(spec, "key-by", kKeyGrammar);
    if (!tokens.ok()) return tokens.status();
    s.kind_ = Kind::kPointer;
    s.pointer_ = *std::move(tokens);
    return s;
  }
  if (absl::StartsWith(spec, "ce:")) {
    const absl::string_view name = spec.substr(3);
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("key-by '", spec, "': no attribute name after 'ce:'; ", kKeyGrammar));
    }
    // A header name ("ce:X-Tenant") selects the extension the gateway stores it under.
    s.kind_ = Kind::kAttribute;
    s.attribute_ = IsExtensionName(std::string_view(name.data(), name.size()))
                       ? std::string(name)
                       : ExtensionName(std::string_view(name.data(), name.size()));
    return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("key-by '", spec, "': ", kKeyGrammar));
}

std::string KeySelector::spec() const {
  switch (kind_) {
    case Kind::kNone:
      return "";
    case Kind::kRecordKey:
      return "key";
    case Kind::kPointer:
      return PointerSpec(pointer_);
    case Kind::kAttribute:
      return absl::StrCat("ce:", attribute_);
  }
  return "";
}

absl::StatusOr<std::string> KeySelector::Select(const RecordView& record) const {
  // An invariant of RecordView; a caller passing null is a bug, not bad input.
  RUNNEL_CHECK(record.event != nullptr);
  const auto& e = *record.event;
  const std::string what = absl::StrCat("key-by '", spec(), "'");
  switch (kind_) {
    case Kind::kNone:
      return std::string(record.key);
    case Kind::kRecordKey:
      return std::string(record.key);  // An empty key is a key like any other: one group.
    case Kind::kAttribute: {
      const std::string* value = nullptr;
      if (attribute_ == "id") {
        value = &e.id();
      } else if (attribute_ == "source") {
        value = &e.source();
      } else if (attribute_ == "type") {
        value = &e.type();
      } else if (attribute_ == "time") {
        value = &e.time();
      } else if (attribute_ == "datacontenttype") {
        value = &e.data_content_type();
      } else if (auto it = e.extensions().find(attribute_); it != e.extensions().end()) {
        value = &it->second;
      }
      if (value == nullptr || value->empty()) {
        return absl::NotFoundError(
            absl::StrCat(what, ": the record has no CloudEvent attribute '", attribute_, "'"));
      }
      return *value;
    }
    case Kind::kPointer: {
      absl::StatusOr<json> value = Lookup(e.data(), pointer_, what);
      if (!value.ok()) return value.status();
      if (value->is_string()) return value->get<std::string>();
      if (value->is_object() || value->is_array()) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": the value is ", TypeName(*value),
                                                       "; a key must be a string, number, "
                                                       "boolean or null"));
      }
      return value->dump();
    }
  }
  return std::string(record.key);
}

absl::StatusOr<TimeSelector> TimeSelector::Parse(std::string_view spec_text) {
  const absl::string_view spec(spec_text.data(), spec_text.size());
  TimeSelector s;
  if (spec.empty() || spec == "arrival") return s;
  if (spec == "cloudevent") {
    s.kind_ = Kind::kCloudEvent;
    return s;
  }
  if (spec == "broker") {
    s.kind_ = Kind::kBroker;
    return s;
  }
  if (spec.front() == '/' || spec.front() == '.') {
    absl::StatusOr<std::vector<std::string>> tokens =
        ParsePointer(spec, "event-time", kTimeGrammar);
    if (!tokens.ok()) return tokens.status();
    s.kind_ = Kind::kPointer;
    s.pointer_ = *std::move(tokens);
    return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("event-time '", spec, "': ", kTimeGrammar));
}

std::string TimeSelector::spec() const {
  switch (kind_) {
    case Kind::kArrival:
      return "arrival";
    case Kind::kCloudEvent:
      return "cloudevent";
    case Kind::kBroker:
      return "broker";
    case Kind::kPointer:
      return PointerSpec(pointer_);
  }
  return "arrival";
}

absl::StatusOr<absl::Time> TimeSelector::Select(const RecordView& record) const {
  // Arrival time is the processor's clock, not the record's: asking a record for it is a bug.
  RUNNEL_CHECK(!arrival()) << "TimeSelector::Select on an arrival-time selector";
  RUNNEL_CHECK(record.event != nullptr);
  const std::string what = absl::StrCat("event-time '", spec(), "'");
  switch (kind_) {
    case Kind::kArrival:
      break;
    case Kind::kCloudEvent: {
      const std::string& text = record.event->time();
      if (text.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": the record has no CloudEvent time attribute"));
      }
      absl::StatusOr<absl::Time> t = ParseRfc3339(text);
      if (!t.ok())
        return absl::InvalidArgumentError(absl::StrCat(what, ": ", t.status().message()));
      return t;
    }
    case Kind::kBroker:
      if (record.broker_time == absl::InfinitePast()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": the gateway's store gave the record no timestamp"));
      }
      return record.broker_time;
    case Kind::kPointer: {
      absl::StatusOr<json> value = Lookup(record.event->data(), pointer_, what);
      if (!value.ok()) return value.status();
      if (value->is_string()) {
        absl::StatusOr<absl::Time> t = ParseRfc3339(value->get_ref<const std::string&>());
        if (!t.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": ", t.status().message()));
        }
        return t;
      }
      if (value->is_number_integer()) {
        // Unsigned values past int64 are refused rather than wrapped.
        if (value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX) {
          return absl::InvalidArgumentError(absl::StrCat(
              what, ": ", value->dump(), " milliseconds since the epoch is out of range"));
        }
        return absl::FromUnixMillis(value->get<int64_t>());
      }
      if (value->is_number_float()) {
        const double ms = value->get<double>();
        if (!std::isfinite(ms) || std::abs(ms) > 9.2e18) {
          return absl::InvalidArgumentError(absl::StrCat(
              what, ": ", value->dump(), " milliseconds since the epoch is out of range"));
        }
        return absl::UnixEpoch() + absl::Milliseconds(ms);
      }
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the value is ", TypeName(*value),
                       "; expected an RFC 3339 string or milliseconds since the Unix epoch"));
    }
  }
  return absl::InternalError("unreachable");
}

absl::StatusOr<absl::Time> ParseRfc3339(std::string_view text_in) {
  const absl::string_view text(text_in.data(), text_in.size());
  // absl's parser is lenient where RFC 3339 is not (any year width, surrounding spaces, a
  // missing offset with some formats); check the fixed-width date and time first.
  auto digits = [&](size_t from, size_t n) {
    if (from + n > text.size()) return false;
    for (size_t i = from; i < from + n; ++i) {
      if (!absl::ascii_isdigit(text[i])) return false;
    }
    return true;
  };
  bool shaped = digits(0, 4) && text.size() > 19 && text[4] == '-' && digits(5, 2) &&
                text[7] == '-' && digits(8, 2) &&
                (text[10] == 'T' || text[10] == 't' || text[10] == ' ') && digits(11, 2) &&
                text[13] == ':' && digits(14, 2) && text[16] == ':' && digits(17, 2);
  if (shaped) {
    // time-secfrac = "." 1*DIGIT; time-offset = "Z" / ("+" / "-") HH ":" MM.
    size_t at = 19;
    if (text[at] == '.') {
      const size_t first = ++at;
      while (at < text.size() && absl::ascii_isdigit(text[at])) ++at;
      shaped = at > first;
    }
    const absl::string_view offset = text.substr(at);
    shaped = shaped && (offset == "Z" || offset == "z" ||
                        (offset.size() == 6 && (offset[0] == '+' || offset[0] == '-') &&
                         digits(at + 1, 2) && offset[3] == ':' && digits(at + 4, 2)));
  }
  absl::Time t;
  std::string error;
  if (shaped) {
    std::string normalized(text);
    normalized[10] = 'T';  // RFC 3339 allows 't' and (section 5.6, NOTE) a space.
    if (normalized.back() == 'z') normalized.back() = 'Z';
    if (absl::ParseTime(absl::RFC3339_full, normalized, &t, &error)) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", text,
                   "' is not an RFC 3339 time (e.g. 2026-12-04T10:00:00.250Z or "
                   "2026-12-04T11:00:00+01:00)",
                   error.empty() ? "" : absl::StrCat(": ", error)));
}

std::string FormatRfc3339Millis(absl::Time t) {
  // By hand: the processor stamps every record and output with it, and absl::FormatTime parses
  // its format string on each call. Years outside 0000-9999 take the general path.
  const absl::CivilSecond c = absl::ToCivilSecond(t, absl::UTCTimeZone());
  if (c.year() < 0 || c.year() > 9999) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
  }
  const int64_t millis = (absl::ToUnixMillis(t) % 1000 + 1000) % 1000;
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&out](size_t at, int64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
      out[at + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, c.year(), 4);
  put(5, c.month(), 2);
  put(8, c.day(), 2);
  put(11, c.hour(), 2);
  put(14, c.minute(), 2);
  put(17, c.second(), 2);
  put(20, millis, 3);
  return out;
}

}  // namespace runnel
