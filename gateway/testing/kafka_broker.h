#pragma once
// For tests against a real Kafka broker (label "kafka"), in gateway/ and tests/.
//
// Where they find the suite's broker: RUNNEL_KAFKA_BROKERS, which the README's test command
// (scripts/test.sh) sets after `scripts/kafka.sh start`. Tests read the environment; the store
// never does. Unset, the Kafka tests fail (CI must never skip them silently) unless
// RUNNEL_SKIP_KAFKA=1 is set for a manual run without a broker. Tests that stop or restart a
// broker run a PrivateKafkaBroker (their target defines RUNNEL_SOURCE_DIR).

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "gateway/record_store.h"

namespace runnel::gateway::testing {

inline bool SkipKafkaTests() {
  const char* skip = std::getenv("RUNNEL_SKIP_KAFKA");
  return skip != nullptr && std::string(skip) == "1";
}

inline absl::StatusOr<RecordStoreOptions::Kafka> KafkaTestOptions() {
  const char* brokers = std::getenv("RUNNEL_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    return absl::FailedPreconditionError(
        "RUNNEL_KAFKA_BROKERS is not set: run the Kafka tests through scripts/test.sh (which starts "
        "a broker with scripts/kafka.sh), or export RUNNEL_KAFKA_BROKERS=$(scripts/kafka.sh "
        "address); RUNNEL_SKIP_KAFKA=1 skips them in a manual run");
  }
  RecordStoreOptions::Kafka options;
  options.bootstrap_servers = brokers;
  return options;
}

// A name no earlier run used (topics outlive a test on a shared broker): base-pid-n-millis.
inline std::string UniqueName(absl::string_view base) {
  static std::atomic<int> counter{0};
  return absl::StrCat(base, "-", ::getpid(), "-", counter++, "-", absl::ToUnixMillis(absl::Now()));
}

#ifdef RUNNEL_SOURCE_DIR
// A broker of the test's own, run by scripts/kafka.sh with a private state directory, for tests
// that stop or restart it (the suite's shared broker must stay up). Stopped on destruction.
class PrivateKafkaBroker {
 public:
  PrivateKafkaBroker()
      : state_(std::filesystem::temp_directory_path() / UniqueName("runnel-kafka-private")) {}
  ~PrivateKafkaBroker() { Run("stop"); }
  PrivateKafkaBroker(const PrivateKafkaBroker&) = delete;
  PrivateKafkaBroker& operator=(const PrivateKafkaBroker&) = delete;

  // Runs `scripts/kafka.sh <command>` (start, stop, stop --keep, restart) on this broker;
  // returns the script's exit status.
  int Run(absl::string_view command) {
    const std::string line = absl::StrCat("RUNNEL_KAFKA_STATE_DIR='", state_.string(), "' '",
                                          RUNNEL_SOURCE_DIR, "/scripts/kafka.sh' ", command);
    return std::system(line.c_str());
  }
  // host:port once started.
  std::string Address() const {
    std::ifstream in(state_ / "address");
    std::string address;
    std::getline(in, address);
    return address;
  }

 private:
  std::filesystem::path state_;
};
#endif  // RUNNEL_SOURCE_DIR

}  // namespace runnel::gateway::testing
