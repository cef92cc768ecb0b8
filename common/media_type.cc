#include "common/media_type.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"

namespace runnel {
namespace {

absl::string_view Trim(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(absl::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool EqualsIgnoreCase(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && Lower(a) == Lower(b);
}

// RFC 9110 token characters.
bool IsToken(absl::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos)) {
      return false;
    }
  }
  return true;
}

absl::Status Malformed(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError("malformed media type '" + std::string(text) + "': " +
                                    std::string(why));
}

// Splits on `sep` outside double quotes.
std::vector<absl::string_view> SplitUnquoted(absl::string_view s, char sep) {
  std::vector<absl::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') {
      quoted = !quoted;
    } else if (s[i] == '\\' && quoted) {
      ++i;
    } else if (s[i] == sep && !quoted) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(start));
  return parts;
}

absl::StatusOr<double> ParseQ(absl::string_view text, absl::string_view v) {
  double q = 0;
  if (!absl::SimpleAtod(v, &q) || v.empty() || q < 0 || q > 1) {
    return Malformed(text, "q must be a number in [0, 1]");
  }
  return q;
}

// True when `range` (from Accept) matches `offer`, ignoring q.
bool Matches(const MediaType& range, const MediaType& offer) {
  if (range.type != "*" && range.type != offer.type) {
    return false;
  }
  if (range.subtype != "*" && range.subtype != offer.subtype) {
    return false;
  }
  for (const auto& [name, value] : range.params) {
    std::optional<std::string> have = offer.Param(name);
    if (!have && name == "charset" && offer.subtype == "json") {
      have = "utf-8";  // JSON is UTF-8 by definition (RFC 8259); the offer need not say so.
    }
    if (!have) {
      return false;
    }
    if (name == "charset" ? !EqualsIgnoreCase(*have, value) : *have != value) {
      return false;
    }
  }
  return true;
}

// Higher is more specific: type/subtype;params > type/subtype > type/* > */*.
int Specificity(const MediaType& range) {
  if (range.type == "*") {
    return 0;
  }
  if (range.subtype == "*") {
    return 1;
  }
  return 2 + static_cast<int>(range.params.size());
}

// The q the caller gives `offer`: that of the most specific matching range (RFC 9110 12.5.1),
// or -1 when no range matches.
double QualityOf(std::span<const MediaType> accept, const MediaType& offer) {
  double q = -1;
  int best = -1;
  for (const MediaType& range : accept) {
    if (Matches(range, offer) && Specificity(range) > best) {
      best = Specificity(range);
      q = range.q;
    }
  }
  return q;
}

}  // namespace

std::optional<std::string> MediaType::Param(absl::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) {
      return v;
    }
  }
  return std::nullopt;
}

std::string MediaType::ToString() const {
  std::string out = Essence();
  for (const auto& [k, v] : params) {
    out += "; " + k + "=" + v;
  }
  return out;
}

absl::StatusOr<MediaType> ParseMediaType(absl::string_view text) {
  std::vector<absl::string_view> parts = SplitUnquoted(text, ';');
  absl::string_view essence = Trim(parts[0]);
  size_t slash = essence.find('/');
  if (slash == absl::string_view::npos) {
    return Malformed(text, "expected type/subtype");
  }
  MediaType mt;
  mt.type = Lower(Trim(essence.substr(0, slash)));
  mt.subtype = Lower(Trim(essence.substr(slash + 1)));
  if (!IsToken(mt.type) || !IsToken(mt.subtype) || (mt.type == "*" && mt.subtype != "*")) {
    return Malformed(text, "bad type or subtype");
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view p = Trim(parts[i]);
    if (p.empty()) {
      continue;  // Tolerate "text/plain;" as browsers and Node's content-type package do.
    }
    size_t eq = p.find('=');
    if (eq == absl::string_view::npos) {
      return Malformed(text, "parameter without '='");
    }
    std::string name = Lower(Trim(p.substr(0, eq)));
    absl::string_view raw = Trim(p.substr(eq + 1));
    std::string value;
    if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
      raw = raw.substr(1, raw.size() - 2);
      for (size_t j = 0; j < raw.size(); ++j) {
        if (raw[j] == '\\' && j + 1 < raw.size()) {
          ++j;
        }
        value += raw[j];
      }
    } else {
      value = std::string(raw);
    }
    if (!IsToken(name)) {
      return Malformed(text, "bad parameter name");
    }
    if (name == "q") {
      absl::StatusOr<double> q = ParseQ(text, value);
      if (!q.ok()) {
        return q.status();
      }
      mt.q = *q;
      // Parameters after q are accept-extensions, not media type parameters (RFC 9110 12.5.1).
      break;
    }
    mt.params.emplace_back(std::move(name), std::move(value));
  }
  return mt;
}

absl::StatusOr<std::vector<MediaType>> ParseAcceptList(absl::string_view text) {
  std::vector<MediaType> out;
  for (absl::string_view element : SplitUnquoted(text, ',')) {
    if (Trim(element).empty()) {
      continue;
    }
    absl::StatusOr<MediaType> mt = ParseMediaType(element);
    if (!mt.ok()) {
      return mt.status();
    }
    out.push_back(*std::move(mt));
  }
  if (out.empty()) {
    out.push_back(MediaType{.type = "*", .subtype = "*", .params = {}, .q = 1.0});
  }
  return out;
}

bool MediaTypeAccepts(const MediaType& declared, const MediaType& actual) {
  if (declared.type == "*") return true;
  if (declared.type != actual.type) return false;
  return declared.subtype == "*" || declared.subtype == actual.subtype;
}

std::optional<MediaType> Negotiate(std::span<const MediaType> accept,
                                   std::span<const MediaType> offers) {
  std::vector<const MediaType*> ranges;
  for (const MediaType& r : accept) {
    if (r.q > 0) {
      ranges.push_back(&r);
    }
  }
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MediaType* a, const MediaType* b) { return a->q > b->q; });
  for (const MediaType* range : ranges) {
    for (const MediaType& offer : offers) {
      if (Matches(*range, offer) && QualityOf(accept, offer) > 0) {
        return offer;
      }
    }
  }
  return std::nullopt;
}

}  // namespace runnel
