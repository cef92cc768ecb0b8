#pragma once
// The `runnel` command line: parses a command, runs it, returns the process exit code.
//
// Exit codes: 0 success; 1 the operation failed (unknown resource, gateway error, a process
// that would not start, timeout); 2 bad usage (unknown command or flag, malformed value).
// Results go to `out`; progress and errors go to `err`, so `--dry-run -o yaml > file` and
// `subscribe | jq` stay clean.

#include <atomic>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "cli/control_plane.h"

namespace runnel::cli {

struct CliEnv {
  std::string home;      // the state directory ($RUNNEL_HOME, default ~/.runnel)
  std::string self_exe;  // this binary, to start the control plane
  // Explicit paths of programs (RUNNEL_GATEWAY_BIN, RUNNEL_PROCESSOR_BIN), by program name.
  std::map<std::string, std::string> binaries;
  std::string path;  // $PATH, searched last
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Set by main's SIGINT/SIGTERM handler; long-running commands (subscribe, tail) stop on it.
  const std::atomic<bool>* interrupted = nullptr;
};

int RunCli(const std::vector<std::string>& args, const CliEnv& env);

// Finds runnel-gateway / runnel-processor: the explicit path, then beside this binary (installed
// layout), then in the build tree layout (<build>/cli/runnel → <build>/gateway/…,
// <build>/sidecar/…), then $PATH.
BinaryResolver MakeBinaryResolver(const CliEnv& env);

// kubectl-style age: "45s", "12m", "3h", "2d".
std::string FormatAge(absl::Duration age);

// Columns padded to their widest cell, three spaces apart (riff's tables).
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace runnel::cli
