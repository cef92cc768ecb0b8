#pragma once
// Command-line flags for the `runnel` CLI: a small parser in the shape of cobra/pflag, which riff's
// CLI used. Each command declares its flags; anything else is an error naming the command.
//
//   --name value   --name=value   -o value (short alias)   --bool   --   (ends flags)
//
// Pure functions; thread-compatible.

#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace runnel::cli {

struct FlagSpec {
  enum class Kind { kBool, kValue, kRepeated };
  std::string name;        // without dashes: "content-type"
  Kind kind = Kind::kValue;
  std::string help;        // one line, for the command's usage
  char short_name = '\0';  // e.g. 'o' for "-o yaml"
};

// The result of parsing one command's arguments.
class ParsedArgs {
 public:
  std::vector<std::string> positionals;

  bool Has(absl::string_view name) const;
  // The last value given for `name`, or `fallback`.
  std::string Get(absl::string_view name, absl::string_view fallback = "") const;
  // Every value given for a repeated flag, in order.
  std::vector<std::string> GetAll(absl::string_view name) const;
  // `name` as an integer within [min, max]. Errors: kInvalidArgument naming the flag.
  absl::StatusOr<int> GetInt(absl::string_view name, int fallback, int min, int max) const;
  // `name` as a duration ("10s", "1m30s", "500ms"; a bare number is seconds).
  absl::StatusOr<absl::Duration> GetDuration(absl::string_view name, absl::Duration fallback) const;

  void Add(const std::string& name, std::string value) { values_[name].push_back(std::move(value)); }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

// Parses `args` (the words after the command's name) against `specs`. `command` names the command
// in errors ("runnel stream create"). Errors: kInvalidArgument for an unknown flag, a missing
// value, or a value given to a boolean flag.
absl::StatusOr<ParsedArgs> ParseArgs(std::span<const std::string> args,
                                     std::span<const FlagSpec> specs, absl::string_view command);

// "  --name VALUE  help" lines for a usage message.
std::string FlagUsage(std::span<const FlagSpec> specs);

}  // namespace runnel::cli
