#include "cli/references.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace runnel::cli {
namespace {

absl::Status MalformedInput(absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed input stream reference \"", text,
                   "\", should be of the form [<alias>:]<stream>[@<offset>]"));
}

absl::Status MalformedOutput(absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed output stream reference \"", text, "\", should be of the form [<alias>:]<stream>"));
}

}  // namespace

absl::StatusOr<InputRef> ParseInputRef(absl::string_view text) {
  // Same language as riff's regex: at most one ':' (alias separator), a non-empty alias, a
  // non-empty stream without ':' or '@', then an optional @earliest|@latest.
  InputRef ref;
  absl::string_view rest = text;
  if (size_t colon = rest.find(':'); colon != absl::string_view::npos) {
    ref.alias = std::string(rest.substr(0, colon));
    rest.remove_prefix(colon + 1);
    if (ref.alias.empty() || rest.find(':') != absl::string_view::npos) return MalformedInput(text);
  }
  if (size_t at = rest.find('@'); at != absl::string_view::npos) {
    absl::string_view offset = rest.substr(at + 1);
    if (offset != "earliest" && offset != "latest") return MalformedInput(text);
    ref.start_offset = std::string(offset);
    rest = rest.substr(0, at);
  }
  if (rest.empty()) return MalformedInput(text);
  ref.stream = std::string(rest);
  if (ref.alias.empty()) ref.alias = ref.stream;
  return ref;
}

absl::StatusOr<OutputRef> ParseOutputRef(absl::string_view text) {
  OutputRef ref;
  absl::string_view rest = text;
  if (size_t colon = rest.find(':'); colon != absl::string_view::npos) {
    ref.alias = std::string(rest.substr(0, colon));
    rest.remove_prefix(colon + 1);
    if (ref.alias.empty() || rest.find(':') != absl::string_view::npos) return MalformedOutput(text);
  }
  if (rest.empty()) return MalformedOutput(text);
  ref.stream = std::string(rest);
  if (ref.alias.empty()) ref.alias = ref.stream;
  return ref;
}

std::string FormatRef(absl::string_view alias, absl::string_view stream) {
  if (alias.empty() || alias == stream) return std::string(stream);
  return absl::StrCat(alias, ":", stream);
}

absl::Status ValidateName(absl::string_view kind, absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && absl::ascii_isalnum(name.front()) &&
            absl::ascii_isalnum(name.back());
  for (char c : name) {
    if (!(absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z') || c == '-')) ok = false;
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", kind, " name \"", name,
                   "\": use lower-case letters, digits and '-' (at most 63), starting and ending "
                   "with a letter or digit"));
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  size_t colon = text.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(text.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid address \"", text, "\": want HOST:PORT, e.g. 127.0.0.1:8081"));
  }
  return HostPort{.host = std::string(text.substr(0, colon)), .port = port};
}

}  // namespace runnel::cli
