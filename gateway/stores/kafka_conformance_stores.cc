// The conformance suite's store list for kafka_record_store_test: only Kafka, against the broker
// in RUNNEL_KAFKA_BROKERS (see gateway/testing/kafka_broker.h).

#include <gtest/gtest.h>

#include "gateway/record_store_conformance.h"
#include "gateway/stores/kafka_record_store.h"
#include "gateway/testing/kafka_broker.h"

namespace runnel::gateway {
namespace {

class KafkaSkipEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override {
    if (testing::SkipKafkaTests()) GTEST_SKIP() << "RUNNEL_SKIP_KAFKA=1: Kafka tests skipped";
  }
};

[[maybe_unused]] ::testing::Environment* const kSkipEnvironment =
    ::testing::AddGlobalTestEnvironment(new KafkaSkipEnvironment);

}  // namespace

std::vector<StoreFactory> AllStoreFactories() {
  std::vector<StoreFactory> factories;
  factories.push_back({.name = "Kafka",
                       .open = [](const std::string&) -> absl::StatusOr<std::unique_ptr<RecordStore>> {
                         auto options = testing::KafkaTestOptions();
                         if (!options.ok()) return options.status();
                         return OpenKafkaRecordStore(*options);
                       },
                       // The broker keeps streams, records and positions across a reopen.
                       .durable = true});
  return factories;
}

}  // namespace runnel::gateway
