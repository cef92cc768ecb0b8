#include "common/process.h"

#include <csignal>

#include "absl/synchronization/mutex.h"

extern char** environ;

namespace runnel {
namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    if (const size_t eq = kv.find('='); eq != std::string::npos) {
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  return env;
}

StopSignals::StopSignals() {
  const sigset_t set = StopSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

const char* StopSignals::Wait() const {
  const sigset_t set = StopSet();
  int signal = 0;
  sigwait(&set, &signal);  // Fails only for an invalid set; `set` is valid.
  return signal == SIGTERM ? "SIGTERM" : "SIGINT";
}

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace runnel
