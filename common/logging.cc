#include "common/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <nlohmann/json.hpp>

namespace runnel {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kFatal:
      return "FATAL";
  }
  return "?";
}

const char* BaseName(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash == nullptr ? path : slash + 1;
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level '", name, "' (expected debug, info, warning or error)"));
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

LogMessage::LogMessage(LogLevel level, const char* file, int line)
    : level_(level), file_(file), line_(line) {}

LogMessage& LogMessage::operator<<(const Kv& kv) {
  absl::StrAppend(&fields_, fields_.empty() ? "" : "\x1f", kv.key, "\x1e", kv.value);
  return *this;
}

LogMessage::~LogMessage() {
  const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  std::vector<std::pair<std::string, std::string>> fields;
  if (!fields_.empty()) {
    for (absl::string_view field : absl::StrSplit(fields_, '\x1f')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(field, absl::MaxSplits('\x1e', 1));
      fields.push_back(std::move(kv));
    }
  }
  if (static_cast<LogFormat>(g_format.load()) == LogFormat::kJson) {
    nlohmann::json j;
    j["ts"] = time;
    j["level"] = LevelName(level_);
    j["src"] = absl::StrCat(BaseName(file_), ":", line_);
    j["msg"] = message_.str();
    for (auto& [k, v] : fields) {
      j[k] = v;
    }
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = absl::StrCat(time, " ", LevelName(level_), " ", BaseName(file_), ":", line_, "] ",
                        message_.str());
    for (auto& [k, v] : fields) {
      const bool quote = v.empty() || v.find_first_of(" \t\"=") != std::string::npos;
      absl::StrAppend(&line, " ", k, "=", quote ? absl::StrCat("\"", v, "\"") : v);
    }
  }
  line.push_back('\n');
  // One write per line keeps lines from different threads whole.
  std::fwrite(line.data(), 1, line.size(), stderr);
  if (level_ == LogLevel::kFatal) {
    std::fflush(stderr);
    std::abort();
  }
}

}  // namespace runnel
