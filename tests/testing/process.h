#pragma once
// Runs a program as a child process for integration tests: arguments, extra environment,
// stdout/stderr captured to a file, waiting for a line in its output, signalling and reaping.
// Every wait is bounded.

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace runnel::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` (a path) with `argv`, the current environment plus `env`, stdout and stderr
  // appended to `log_path`.
  static absl::StatusOr<ChildProcess> Start(std::vector<std::string> argv,
                                            std::map<std::string, std::string> env,
                                            std::string log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  // Kills (SIGKILL) and reaps the process if it still runs.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;

  // Waits until the log has a line containing `needle`; returns that line.
  absl::StatusOr<std::string> WaitForLogLine(const std::string& needle, absl::Duration timeout);

  // Sends `signal` and waits for the exit. Returns the exit code (128+n for a signal death).
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);
  // Waits for the process to exit on its own.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool Running();

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// Extracts the integer after "key=" in `line` (e.g. "grpc_port=4242"), or -1.
int FieldFromLogLine(const std::string& line, const std::string& key);

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// CPU time (user + system, all threads) process `pid` has used so far, from /proc/<pid>/stat;
// 0 means this process. -1 if it cannot be read (the process is gone). Benchmarks use it to
// report CPU per record, which a shared machine disturbs far less than throughput.
double ProcessCpuSeconds(pid_t pid = 0);

// Path of a built binary: `name` under the build tree given at compile time.
std::string BuiltBinary(const std::string& relative_path);

}  // namespace runnel::testing
