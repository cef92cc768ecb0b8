#include "common/media_type.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace runnel {
namespace {

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c)) || c == ' ' ||
        absl::string_view("()<>@,;:\\\"/[]?=").find(c) != absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<MediaType> ParseMediaType(absl::string_view text) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a media type like 'application/json'"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(text, ';');
  absl::string_view essence = absl::StripAsciiWhitespace(parts[0]);
  std::vector<absl::string_view> ts = absl::StrSplit(essence, absl::MaxSplits('/', 1));
  if (ts.size() != 2 || !IsToken(ts[0]) || !IsToken(ts[1])) {
    return invalid();
  }
  MediaType mt{absl::AsciiStrToLower(ts[0]), absl::AsciiStrToLower(ts[1]), {}};
  if (mt.type == "*" && mt.subtype != "*") {
    return invalid();
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view p = absl::StripAsciiWhitespace(parts[i]);
    if (p.empty()) continue;
    std::vector<absl::string_view> kv = absl::StrSplit(p, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || !IsToken(absl::StripAsciiWhitespace(kv[0]))) {
      return invalid();
    }
    absl::string_view v = absl::StripAsciiWhitespace(kv[1]);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
      v = v.substr(1, v.size() - 2);
    }
    mt.params[absl::AsciiStrToLower(absl::StripAsciiWhitespace(kv[0]))] = std::string(v);
  }
  return mt;
}

bool MediaTypeAccepts(const MediaType& declared, const MediaType& actual) {
  if (declared.type == "*") return true;
  if (declared.type != actual.type) return false;
  return declared.subtype == "*" || declared.subtype == actual.subtype;
}

}  // namespace runnel
