#pragma once
// What every Runnel executable's main() does the same way: read its environment, and wait for
// SIGTERM/SIGINT on the main thread while the server threads run.

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

}  // namespace runnel
