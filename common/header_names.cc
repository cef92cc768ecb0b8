#include "common/header_names.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"

namespace runnel {
namespace {

// Marks an escaped name. A digit in second place keeps real names out of the reserved range.
constexpr std::string_view kEscapedPrefix = "h0";
constexpr char kHexDigits[] = "0123456789abcdef";

bool IsExtensionChar(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); }

// The lower-case hex digit's value, or -1.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes the body of an escaped name; nullopt when it is not a sequence of the rule's codes.
std::optional<std::string> Unescape(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '0') {
      out.push_back('-');
    } else if (c != '9') {
      if (!IsExtensionChar(c)) return std::nullopt;
      out.push_back(c);
    } else {
      if (++i == body.size()) return std::nullopt;
      switch (body[i]) {
        case '0':
        case '9':
          out.push_back(body[i]);
          break;
        case 'u':
          out.push_back('_');
          break;
        case 'd':
          out.push_back('.');
          break;
        case 'x': {
          if (i + 2 >= body.size()) return std::nullopt;
          const int hi = HexValue(body[i + 1]), lo = HexValue(body[i + 2]);
          if (hi < 0 || lo < 0) return std::nullopt;
          out.push_back(static_cast<char>(hi << 4 | lo));
          i += 2;
          break;
        }
        default:
          return std::nullopt;
      }
    }
  }
  return out;
}

}  // namespace

bool IsExtensionName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsExtensionChar);
}

std::string ExtensionName(std::string_view header) {
  std::string lower(header);
  absl::AsciiStrToLower(&lower);
  if (IsExtensionName(lower) && !lower.starts_with(kEscapedPrefix)) return lower;
  std::string out(kEscapedPrefix);
  out.reserve(out.size() + lower.size() + lower.size() / 4);
  for (const char c : lower) {
    switch (c) {
      case '-':
        out.push_back('0');  // The common case gets one character: "x-greeted-by".
        break;
      case '0':
        out += "90";
        break;
      case '9':
        out += "99";
        break;
      case '_':
        out += "9u";
        break;
      case '.':
        out += "9d";
        break;
      default:
        if (IsExtensionChar(c)) {
          out.push_back(c);
        } else {
          const auto byte = static_cast<unsigned char>(c);
          out += "9x";
          out.push_back(kHexDigits[byte >> 4]);
          out.push_back(kHexDigits[byte & 0xf]);
        }
    }
  }
  return out;
}

std::string HeaderName(std::string_view extension) {
  if (!extension.starts_with(kEscapedPrefix)) return std::string(extension);
  std::optional<std::string> header = Unescape(extension.substr(kEscapedPrefix.size()));
  // Only the escape ExtensionName writes decodes: anything else ("h0abc", which would present as
  // the header "abc" that the extension "abc" already stands for, or "9x41", an upper-case 'A')
  // presents as it is, so no two extension names become one header.
  if (!header.has_value() || ExtensionName(*header) != extension) return std::string(extension);
  return *std::move(header);
}

}  // namespace runnel
