#pragma once
// What every Runnel executable's main() does the same way: read its environment, wait for
// SIGTERM/SIGINT on the main thread while the server threads run, and set abseil up for serving.

#include <map>
#include <string>

namespace runnel {

// The process environment as a map (a variable set twice keeps its last value).
std::map<std::string, std::string> CurrentEnvironment();

// Blocks SIGTERM and SIGINT in the calling thread and, through inheritance, in every thread it
// starts afterwards, so that Wait() alone receives them. Construct it first thing in main(),
// before any library starts a thread.
class StopSignals {
 public:
  StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Blocks until SIGTERM or SIGINT arrives; returns its name ("SIGTERM" or "SIGINT").
  const char* Wait() const;
};

// Turns off absl::Mutex deadlock detection in this process. Debian's abseil is compiled without
// NDEBUG, so by default every absl::Mutex acquisition (ours, and gRPC's own, which are most of
// them) goes through abseil's debug-only lock-order graph under one process-wide lock: a few
// percent of a server's CPU and a point of contention between all its threads. Servers call this
// first thing in main(); tests do not, so they keep the checking.
void DisableMutexDeadlockDetection();

}  // namespace runnel
