// PLACEHOLDER (not committed): replaced by the headers branch.
#include "common/header_names.h"
#include <algorithm>
#include "absl/strings/ascii.h"
namespace runnel {
bool IsExtensionName(std::string_view n) {
  return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); });
}
std::string ExtensionName(std::string_view h) { return absl::AsciiStrToLower(absl::string_view(h.data(), h.size())); }
std::string HeaderName(std::string_view e) { return std::string(e); }
}  // namespace runnel
