#pragma once
// Where the Kafka tests find their broker: RUNNEL_KAFKA_BROKERS, which the README's test command
// (scripts/test.sh) sets after `scripts/kafka.sh start`. Tests read the environment; the store
// never does. Unset, the Kafka tests fail (CI must never skip them silently) unless
// RUNNEL_SKIP_KAFKA=1 is set for a manual run without a broker.

#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
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

}  // namespace runnel::gateway::testing
