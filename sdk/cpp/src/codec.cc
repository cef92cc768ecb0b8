#include "runnel/sdk/codec.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace runnel::sdk {
namespace {

constexpr std::string_view kOctetStream = "application/octet-stream";

MediaType Make(std::string type, std::string subtype,
               std::vector<std::pair<std::string, std::string>> params = {}) {
  return MediaType{
      .type = std::move(type), .subtype = std::move(subtype), .params = std::move(params), .q = 1};
}

// The input's content type, octet-stream when absent (riff-rpc spec default).
absl::StatusOr<MediaType> ContentTypeOf(const Message& in) {
  std::string_view ct = in.content_type.empty() ? kOctetStream : in.content_type;
  absl::StatusOr<MediaType> mt = ParseMediaType(ct);
  if (!mt.ok()) {
    return UnsupportedMediaTypeError(std::string(mt.status().message()));
  }
  if (mt->IsWildcard()) {
    return UnsupportedMediaTypeError("content type '" + std::string(ct) + "' is not concrete");
  }
  return mt;
}

bool IsJson(const MediaType& mt) {
  return mt.type == "application" &&
         (mt.subtype == "json" ||
          (mt.subtype.size() > 5 && mt.subtype.compare(mt.subtype.size() - 5, 5, "+json") == 0));
}

std::string LowerAscii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

bool IsUtf8Charset(const std::string& cs) { return cs == "utf-8" || cs == "utf8"; }

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    if (c < 0x80) {
      n = 0;
    } else if ((c >> 5) == 0x6) {
      n = 1;
    } else if ((c >> 4) == 0xE) {
      n = 2;
    } else if ((c >> 3) == 0x1E) {
      n = 3;
    } else {
      return false;
    }
    if (i + n >= s.size() && n > 0) {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += n + 1;
  }
  return true;
}

// Decodes text/plain's payload to UTF-8 according to its charset.
absl::StatusOr<std::string> TextToUtf8(const MediaType& mt, const std::string& payload) {
  std::string cs = LowerAscii(mt.Param("charset").value_or("utf-8"));
  if (IsUtf8Charset(cs) || cs == "us-ascii") {
    if (!ValidUtf8(payload)) {
      return BadInputError("payload is not valid " + cs);
    }
    return payload;
  }
  if (cs == "iso-8859-1" || cs == "latin1" || cs == "l1") {
    std::string out;
    out.reserve(payload.size());
    for (unsigned char c : payload) {
      if (c < 0x80) {
        out += static_cast<char>(c);
      } else {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    return out;
  }
  return UnsupportedMediaTypeError("unsupported charset '" + cs + "' for " + mt.Essence());
}

absl::Status CheckJsonCharset(const MediaType& mt) {
  std::optional<std::string> cs = mt.Param("charset");
  if (cs && !IsUtf8Charset(LowerAscii(*cs))) {
    return UnsupportedMediaTypeError("unsupported charset '" + *cs + "' for " + mt.Essence());
  }
  return absl::OkStatus();
}

std::string FormatNumber(double v) {
  char buf[64];
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    // Integral: without a fraction or exponent ("4", not "4.0" or "4e0"), as JSON writers do.
    // The cast is exact below 1e15; -0 keeps its sign, as printf's "%.0f" did.
    char* p = buf;
    if (v == 0 && std::signbit(v)) {
      *p++ = '-';
    }
    auto [end, ec] = std::to_chars(p, buf + sizeof buf, static_cast<int64_t>(v));
    return std::string(buf, end);
  }
  // Shortest representation that round-trips.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The value of `payload` when it is one JSON number (RFC 8259 section 6) and nothing else but
// JSON whitespace around it; nullopt for anything else (other JSON, bad input, a number out of
// double's range), which the full parser then handles, errors included. Numbers are most of what
// streaming functions decode, and this spares them nlohmann's DOM and its allocations.
std::optional<double> PlainJsonNumber(std::string_view payload) {
  while (!payload.empty() && IsJsonWhitespace(payload.front())) {
    payload.remove_prefix(1);
  }
  while (!payload.empty() && IsJsonWhitespace(payload.back())) {
    payload.remove_suffix(1);
  }
  size_t i = 0;
  const size_t n = payload.size();
  if (i < n && payload[i] == '-') {
    ++i;
  }
  if (i < n && payload[i] == '0') {
    ++i;
  } else if (i < n && IsDigit(payload[i])) {
    while (i < n && IsDigit(payload[i])) {
      ++i;
    }
  } else {
    return std::nullopt;
  }
  if (i < n && payload[i] == '.') {
    ++i;
    if (i == n || !IsDigit(payload[i])) {
      return std::nullopt;
    }
    while (i < n && IsDigit(payload[i])) {
      ++i;
    }
  }
  if (i < n && (payload[i] == 'e' || payload[i] == 'E')) {
    ++i;
    if (i < n && (payload[i] == '+' || payload[i] == '-')) {
      ++i;
    }
    if (i == n || !IsDigit(payload[i])) {
      return std::nullopt;
    }
    while (i < n && IsDigit(payload[i])) {
      ++i;
    }
  }
  if (i != n) {
    return std::nullopt;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(payload.data(), payload.data() + n, v);
  if (ec != std::errc() || end != payload.data() + n) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::span<const MediaType> NumberOffers() {
  static const std::vector<MediaType> offers = {Make("application", "json"),
                                                Make("text", "plain", {{"charset", "utf-8"}})};
  return offers;
}
std::span<const MediaType> TextOffers() {
  static const std::vector<MediaType> offers = {Make("text", "plain", {{"charset", "utf-8"}}),
                                                Make("application", "json"),
                                                Make("application", "octet-stream")};
  return offers;
}
std::span<const MediaType> JsonOffers() {
  static const std::vector<MediaType> offers = {Make("application", "json")};
  return offers;
}
std::span<const MediaType> BytesOffers() {
  static const std::vector<MediaType> offers = {Make("application", "octet-stream")};
  return offers;
}

absl::StatusOr<nlohmann::json> DecodeJson(const Message& in) {
  absl::StatusOr<MediaType> mt = ContentTypeOf(in);
  if (!mt.ok()) {
    return mt.status();
  }
  if (!IsJson(*mt)) {
    return UnsupportedMediaTypeError("cannot decode '" + mt->ToString() + "' as JSON");
  }
  if (absl::Status s = CheckJsonCharset(*mt); !s.ok()) {
    return s;
  }
  nlohmann::json j = nlohmann::json::parse(in.payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return BadInputError("payload is not valid JSON");
  }
  return j;
}

absl::StatusOr<double> DecodeNumber(const Message& in) {
  absl::StatusOr<MediaType> mt = ContentTypeOf(in);
  if (!mt.ok()) {
    return mt.status();
  }
  if (IsJson(*mt)) {
    if (absl::Status s = CheckJsonCharset(*mt); !s.ok()) {
      return s;
    }
    if (std::optional<double> v = PlainJsonNumber(in.payload)) {
      return *v;
    }
    absl::StatusOr<nlohmann::json> j = DecodeJson(in);
    if (!j.ok()) {
      return j.status();
    }
    if (!j->is_number()) {
      return BadInputError("expected a JSON number, got " + std::string(j->type_name()));
    }
    return j->get<double>();
  }
  if (mt->type == "text" && mt->subtype == "plain") {
    absl::StatusOr<std::string> text = TextToUtf8(*mt, in.payload);
    if (!text.ok()) {
      return text.status();
    }
    std::string_view s = *text;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t')) {
      s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r')) {
      s.remove_suffix(1);
    }
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
      return BadInputError("payload is not a number");
    }
    return v;
  }
  return UnsupportedMediaTypeError("cannot decode '" + mt->ToString() + "' as a number");
}

absl::StatusOr<std::string> DecodeText(const Message& in) {
  absl::StatusOr<MediaType> mt = ContentTypeOf(in);
  if (!mt.ok()) {
    return mt.status();
  }
  if (mt->type == "text" && mt->subtype == "plain") {
    return TextToUtf8(*mt, in.payload);
  }
  if (IsJson(*mt)) {
    absl::StatusOr<nlohmann::json> j = DecodeJson(in);
    if (!j.ok()) {
      return j.status();
    }
    if (!j->is_string()) {
      return BadInputError("expected a JSON string, got " + std::string(j->type_name()));
    }
    return j->get<std::string>();
  }
  if (mt->Essence() == kOctetStream) {
    return in.payload;
  }
  return UnsupportedMediaTypeError("cannot decode '" + mt->ToString() + "' as text");
}

absl::StatusOr<Message> EncodeNumber(double value, const MediaType& as) {
  if (!std::isfinite(value) && IsJson(as)) {
    return absl::UnknownError("cannot encode " + FormatNumber(value) + " as JSON");
  }
  return Message{.payload = FormatNumber(value), .content_type = as.ToString(), .headers = {}};
}

absl::StatusOr<Message> EncodeText(std::string value, const MediaType& as) {
  if (IsJson(as)) {
    return EncodeJson(nlohmann::json(std::move(value)), as);
  }
  return Message{.payload = std::move(value), .content_type = as.ToString(), .headers = {}};
}

absl::StatusOr<Message> EncodeJson(const nlohmann::json& value, const MediaType& as) {
  // Replace invalid UTF-8 rather than throw: no exceptions on the data path.
  return Message{.payload = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                 .content_type = as.ToString(),
                 .headers = {}};
}

absl::StatusOr<Message> EncodeMessageAs(Message value, std::span<const MediaType> accept) {
  if (value.content_type.empty()) {
    value.content_type = std::string(kOctetStream);
  }
  absl::StatusOr<MediaType> mt = ParseMediaType(value.content_type);
  if (!mt.ok()) {
    return absl::UnknownError("function produced a bad content type: " +
                              std::string(mt.status().message()));
  }
  if (!Negotiate(accept, std::span<const MediaType>(&*mt, 1))) {
    return NotAcceptableError("'" + value.content_type + "' is not accepted");
  }
  return value;
}

}  // namespace runnel::sdk
