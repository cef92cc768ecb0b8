// Local mode with a Kafka-store gateway (label "kafka"): `runnel gateway create --store kafka`
// against a real broker, streams as topics, publish/subscribe, and a processor between them.
// The broker comes from RUNNEL_KAFKA_BROKERS (scripts/test.sh starts one with scripts/kafka.sh).
// Unset, the tests fail, unless RUNNEL_SKIP_KAFKA=1 (manual runs only). Stream names are unique
// per run: topics outlive the test on a shared broker.
#include <unistd.h>

#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/cli/cli_harness.h"

namespace runnel::testing {
namespace {

using ::testing::HasSubstr;

class CliKafka : public CliHarness {
 protected:
  void SetUp() override {
    const char* skip = std::getenv("RUNNEL_SKIP_KAFKA");
    if (skip != nullptr && std::string(skip) == "1") GTEST_SKIP() << "RUNNEL_SKIP_KAFKA=1";
    const char* brokers = std::getenv("RUNNEL_KAFKA_BROKERS");
    ASSERT_TRUE(brokers != nullptr && *brokers != '\0')
        << "RUNNEL_KAFKA_BROKERS is not set: run through scripts/test.sh, or export "
           "RUNNEL_KAFKA_BROKERS=$(scripts/kafka.sh address); RUNNEL_SKIP_KAFKA=1 skips";
    brokers_ = brokers;
  }

  std::string Unique(const std::string& base) const {
    return absl::StrCat(base, "-", ::getpid(), "-", absl::ToUnixMillis(absl::Now()) % 100000000);
  }

  std::string brokers_;
};

TEST_F(CliKafka, PipelineOnAKafkaGateway) {
  CliResult r = Runnel({"gateway", "create", "kafka", "--store", "kafka", "--bootstrap-servers",
                        brokers_});
  ASSERT_EQ(r.code, 0) << r.output << Log("logs/gateway-kafka.log");
  EXPECT_THAT(Runnel({"gateway", "status", "kafka"}).output,
              HasSubstr("bootstrapServers: " + brokers_));
  const std::string numbers = Unique("numbers"), squares = Unique("squares");
  for (const std::string& s : {numbers, squares}) {
    r = Runnel({"stream", "create", s, "--gateway", "kafka", "--content-type",
                "application/json", "--partitions", "2"});
    ASSERT_EQ(r.code, 0) << r.output;
  }
  r = Runnel({"processor", "create", "square", "--function-cmd",
              BuiltBinary("sdk/examples/square"), "--input", numbers + "@earliest", "--output",
              squares});
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* n : {"1", "2", "3", "4"}) {
    ASSERT_EQ(Runnel({"publish", numbers, "--payload", n, "--key", n}).code, 0);
  }
  r = Runnel({"subscribe", squares, "--from-beginning", "--max", "4", "--timeout", "90s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "square", "--no-follow"}).output;
  std::multiset<double> got;
  for (const std::string& line : JsonLines(r.output)) {
    got.insert(std::stod(nlohmann::json::parse(line)["payload"].get<std::string>()));
  }
  EXPECT_EQ(got, (std::multiset<double>{1, 4, 9, 16}));
  // Offsets come from the broker.
  CliResult status = Runnel({"stream", "status", numbers});
  EXPECT_THAT(status.output, HasSubstr("# " + numbers + ": Ready"));
  EXPECT_THAT(status.output, HasSubstr("partition: 1"));
  // Clean up the topics on the shared broker.
  EXPECT_EQ(Runnel({"processor", "delete", "square"}).code, 0);
  EXPECT_EQ(Runnel({"stream", "delete", numbers, squares}).code, 0);
}

}  // namespace
}  // namespace runnel::testing
