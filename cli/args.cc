#include "cli/args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace runnel::cli {
namespace {

const FlagSpec* FindLong(std::span<const FlagSpec> specs, absl::string_view name) {
  for (const FlagSpec& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const FlagSpec* FindShort(std::span<const FlagSpec> specs, char c) {
  for (const FlagSpec& s : specs) {
    if (s.short_name != '\0' && s.short_name == c) return &s;
  }
  return nullptr;
}

}  // namespace

bool ParsedArgs::Has(absl::string_view name) const { return values_.find(name) != values_.end(); }

std::string ParsedArgs::Get(absl::string_view name, absl::string_view fallback) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::string(fallback);
  return it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return {};
  return it->second;
}

absl::StatusOr<int> ParsedArgs::GetInt(absl::string_view name, int fallback, int min,
                                       int max) const {
  if (!Has(name)) return fallback;
  const std::string text = Get(name);
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("invalid value \"", text, "\" for --", name,
                                                   ": want a whole number from ", min, " to ",
                                                   max));
  }
  return value;
}

absl::StatusOr<absl::Duration> ParsedArgs::GetDuration(absl::string_view name,
                                                       absl::Duration fallback) const {
  if (!Has(name)) return fallback;
  const std::string text = Get(name);
  absl::Duration d;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds) && seconds >= 0) return absl::Seconds(seconds);
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid value \"", text, "\" for --", name,
                                                   ": want a duration like 30s, 1m or 500ms"));
  }
  return d;
}

absl::StatusOr<ParsedArgs> ParseArgs(std::span<const std::string> args,
                                     std::span<const FlagSpec> specs, absl::string_view command) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      for (size_t j = i + 1; j < args.size(); ++j) parsed.positionals.push_back(args[j]);
      break;
    }
    const FlagSpec* spec = nullptr;
    std::string inline_value;
    bool has_inline = false;
    std::string shown;
    if (absl::StartsWith(arg, "--") && arg.size() > 2) {
      std::string name = arg.substr(2);
      if (size_t eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        has_inline = true;
        name.resize(eq);
      }
      spec = FindLong(specs, name);
      shown = "--" + name;
    } else if (arg.size() == 2 && arg[0] == '-' && arg[1] != '-') {
      spec = FindShort(specs, arg[1]);
      shown = arg;
    } else {
      parsed.positionals.push_back(arg);
      continue;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", shown, " for \"", command,
                                                     "\" (see: ", command, " --help)"));
    }
    if (spec->kind == FlagSpec::Kind::kBool) {
      if (has_inline && inline_value != "true" && inline_value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("flag ", shown, " takes no value (or =true/=false)"));
      }
      if (!has_inline || inline_value == "true") parsed.Add(spec->name, "true");
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag ", shown, " needs a value"));
      }
      inline_value = args[++i];
    }
    parsed.Add(spec->name, std::move(inline_value));
  }
  return parsed;
}

std::string FlagUsage(std::span<const FlagSpec> specs) {
  std::string out;
  for (const FlagSpec& s : specs) {
    std::string left = s.short_name != '\0' ? absl::StrCat("  -", std::string(1, s.short_name),
                                                           ", --", s.name)
                                            : absl::StrCat("      --", s.name);
    if (s.kind != FlagSpec::Kind::kBool) absl::StrAppend(&left, " VALUE");
    if (left.size() < 34) left.resize(34, ' ');
    absl::StrAppend(&out, left, " ", s.help,
                    s.kind == FlagSpec::Kind::kRepeated ? " (repeatable)" : "", "\n");
  }
  return out;
}

}  // namespace runnel::cli
