#pragma once
// Process-wide structured logging: one line per message on stderr,
//   2026-11-23T12:00:00.123Z INFO  gateway_service.cc:42] message key=value ...
// or, with LogFormat::kJson, one JSON object per line. Logging is the one process-wide facility
// (house style B.8); main() sets the level and format once, before starting any thread.
//
//   RUNNEL_LOG(INFO) << "listening" << Kv("port", port);
//   RUNNEL_CHECK(offset >= 0) << "offsets are never negative here because ...";

#include <sstream>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace runnel {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4 };
enum class LogFormat { kText, kJson };

// Accepts "debug", "info", "warning"/"warn", "error" (any case).
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
void SetLogLevel(LogLevel level);
void SetLogFormat(LogFormat format);
bool LogEnabled(LogLevel level);

// A key=value field appended to a log line.
struct Kv {
  template <typename T>
  Kv(absl::string_view k, const T& v) : key(k) {
    std::ostringstream out;
    out << v;
    value = out.str();
  }
  std::string key;
  std::string value;
};

// Collects one message and writes it, whole, when destroyed. kFatal aborts after writing.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  template <typename T>
  LogMessage& operator<<(const T& value) {
    message_ << value;
    return *this;
  }
  LogMessage& operator<<(const Kv& kv);

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream message_;
  std::string fields_;
};

// Swallows the stream when a message is disabled.
struct LogVoidify {
  void operator&(LogMessage&) {}
};

}  // namespace runnel

#define RUNNEL_LOG_LEVEL_DEBUG ::runnel::LogLevel::kDebug
#define RUNNEL_LOG_LEVEL_INFO ::runnel::LogLevel::kInfo
#define RUNNEL_LOG_LEVEL_WARNING ::runnel::LogLevel::kWarning
#define RUNNEL_LOG_LEVEL_ERROR ::runnel::LogLevel::kError
#define RUNNEL_LOG_LEVEL_FATAL ::runnel::LogLevel::kFatal

#define RUNNEL_LOG(severity)                                 \
  !::runnel::LogEnabled(RUNNEL_LOG_LEVEL_##severity)         \
      ? (void)0                                              \
      : ::runnel::LogVoidify() & ::runnel::LogMessage(RUNNEL_LOG_LEVEL_##severity, __FILE__, __LINE__)

// Aborts with a message when an internal invariant is broken. For bugs only: anything a client,
// function, broker, disk or network can cause is handled and returned as a Status instead.
#define RUNNEL_CHECK(condition)                                                      \
  (condition) ? (void)0                                                              \
              : ::runnel::LogVoidify() &                                              \
                    ::runnel::LogMessage(::runnel::LogLevel::kFatal, __FILE__, __LINE__) \
                        << "Check failed: " #condition " "
