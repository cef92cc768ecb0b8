// Kafka-only behaviour, beyond the conformance suite: the records' wire format (CloudEvents
// binary mode, as liiklus writes it), records from foreign producers, and a broker restart that
// must lose no acknowledged record. Label "kafka"; see gateway/testing/kafka_broker.h.
//
// librdkafka is used directly here only to play a foreign producer/consumer on the same topic.

#include <librdkafka/rdkafkacpp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/record_store.h"
#include "gateway/stores/kafka_record_store.h"
#include "gateway/testing/kafka_broker.h"
#include "gateway/testing/store_test_util.h"

namespace runnel::gateway {
namespace {

using ::runnel::gateway::testing::AppendOne;
using ::runnel::gateway::testing::AppendSync;
using ::runnel::gateway::testing::KafkaTestOptions;
using ::runnel::gateway::testing::PrivateKafkaBroker;
using ::runnel::gateway::testing::UniqueName;
using ::runnel::gateway::testing::MakeRecord;
using ::runnel::gateway::testing::ReadN;

std::unique_ptr<RdKafka::Conf> RawConf(const std::string& brokers) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  conf->set("bootstrap.servers", brokers, error);
  return conf;
}

TEST(KafkaRecordStore, WritesCloudEventsInBinaryModeAndReadsForeignRecordsAsRawData) {
  auto options = KafkaTestOptions();
  ASSERT_TRUE(options.ok()) << options.status();
  auto store = OpenKafkaRecordStore(*options);
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string name = UniqueName("wire");
  ASSERT_TRUE((*store)->CreateStream({.name = name}).ok());

  v1::Record event = MakeRecord("hello", "k1");
  (*event.mutable_extensions())["traceparent"] = "00-abc";
  ASSERT_EQ(*AppendSync(**store, name, 0, {event}), 0);

  // A foreign producer: no ce_ headers.
  {
    std::string error;
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(RawConf(options->bootstrap_servers).get(), error));
    ASSERT_TRUE(producer) << error;
    std::string value = "raw-bytes";
    ASSERT_EQ(producer->produce(name, 0, RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(), "k2", 2, 0,
                                nullptr, nullptr),
              RdKafka::ERR_NO_ERROR);
    ASSERT_EQ(producer->flush(20'000), RdKafka::ERR_NO_ERROR);
  }

  // What a plain Kafka consumer sees of the store's record: CloudEvents binary mode.
  {
    auto conf = RawConf(options->bootstrap_servers);
    std::string error;
    conf->set("group.id", "runnel-test-raw", error);
    std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
    ASSERT_TRUE(consumer) << error;
    std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(name, 0, 0));
    std::vector<RdKafka::TopicPartition*> assignment{tp.get()};
    ASSERT_EQ(consumer->assign(assignment), RdKafka::ERR_NO_ERROR);
    std::unique_ptr<RdKafka::Message> m;
    for (int i = 0; i < 200; ++i) {
      m.reset(consumer->consume(100));
      if (m->err() == RdKafka::ERR_NO_ERROR) break;
    }
    ASSERT_EQ(m->err(), RdKafka::ERR_NO_ERROR) << m->errstr();
    EXPECT_EQ(std::string(static_cast<const char*>(m->payload()), m->len()), "hello");
    EXPECT_EQ(*m->key(), "k1");
    std::map<std::string, std::string> headers;
    for (const auto& h : m->headers()->get_all()) {
      headers[h.key()] = std::string(static_cast<const char*>(h.value()), h.value_size());
    }
    EXPECT_EQ(headers["ce_specversion"], "1.0");
    EXPECT_EQ(headers["ce_id"], "id");
    EXPECT_EQ(headers["ce_type"], "test");
    EXPECT_EQ(headers["ce_source"], "/test");
    EXPECT_EQ(headers["ce_datacontenttype"], "text/plain");
    EXPECT_EQ(headers["ce_traceparent"], "00-abc");
    consumer->close();
  }

  auto reader = (*store)->OpenReader(name, 0, StartAt::Earliest());
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto got = ReadN(**reader, 2);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].record.id(), "id");
  EXPECT_EQ((*got)[0].record.extensions().at("traceparent"), "00-abc");
  EXPECT_EQ((*got)[1].offset, 1);
  EXPECT_EQ((*got)[1].record.data(), "raw-bytes");
  EXPECT_EQ((*got)[1].record.key(), "k2");
  EXPECT_TRUE((*got)[1].record.id().empty());
  EXPECT_TRUE((*got)[1].record.type().empty());
  EXPECT_GT((*got)[1].record.timestamp_ms(), 0);
}

TEST(KafkaRecordStore, EmptyPartitionBoundsAreEqualAndNeverNegative) {
  auto options = KafkaTestOptions();
  ASSERT_TRUE(options.ok()) << options.status();
  auto store = OpenKafkaRecordStore(*options);
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string name = UniqueName("empty");
  ASSERT_TRUE((*store)->CreateStream({.name = name, .partitions = 2}).ok());
  auto bounds = (*store)->GetBounds(name, 1);
  ASSERT_TRUE(bounds.ok()) << bounds.status();
  EXPECT_EQ(bounds->start, 0);
  EXPECT_EQ(bounds->end, 0);
}

TEST(KafkaRecordStore, AReaderFromTheStartDeliversWithoutWaitingOutAnOffsetRetry) {
  // A fresh consumer assigned the logical "beginning" retried its offset query after 500 ms
  // (its metadata did not name the leader yet), so every read from the start began half a
  // second late. Readers now start at an offset; the first records come in milliseconds. The
  // bound is loose, for loaded machines: the defect took 500 ms every time.
  auto options = KafkaTestOptions();
  ASSERT_TRUE(options.ok()) << options.status();
  auto store = OpenKafkaRecordStore(*options);
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string name = UniqueName("prompt");
  ASSERT_TRUE((*store)->CreateStream({.name = name}).ok());
  ASSERT_TRUE(AppendOne(**store, name, 0, "first").ok());
  for (StartAt start : {StartAt::Earliest(), StartAt::At(0)}) {
    const absl::Time begin = absl::Now();
    auto reader = (*store)->OpenReader(name, 0, start);
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto got = ReadN(**reader, 1);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)[0].record.data(), "first");
    EXPECT_LT(absl::Now() - begin, absl::Milliseconds(400));
  }
}

TEST(KafkaRecordStore, BadOptionsFailAtOpen) {
  EXPECT_EQ(OpenKafkaRecordStore({}).status().code(), absl::StatusCode::kInvalidArgument);
  RecordStoreOptions::Kafka options{.bootstrap_servers = "127.0.0.1:1", .properties = {{"no.such.property", "1"}}};
  EXPECT_EQ(OpenKafkaRecordStore(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KafkaRecordStore, BrokerRestartLosesNoAcknowledgedRecordAndOutageFailsUnavailable) {
  ASSERT_TRUE(KafkaTestOptions().ok()) << KafkaTestOptions().status();
  PrivateKafkaBroker broker;
  ASSERT_EQ(broker.Run("start"), 0);
  RecordStoreOptions::Kafka options{.bootstrap_servers = broker.Address(),
                                    .properties = {{"message.timeout.ms", "5000"}}};
  auto store = OpenKafkaRecordStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string name = UniqueName("restart");
  ASSERT_TRUE((*store)->CreateStream({.name = name}).ok());

  constexpr int kBefore = 500;
  for (int i = 0; i < kBefore; ++i) ASSERT_EQ(*AppendOne(**store, name, 0, absl::StrCat("before-", i)), i);

  ASSERT_EQ(broker.Run("stop --keep"), 0);
  // During the outage an append fails, retryably, within the delivery timeout.
  auto during = AppendOne(**store, name, 0, "during");
  EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable) << during.status();

  ASSERT_EQ(broker.Run("restart"), 0);
  // Appends succeed again once the client has reconnected (bounded retries).
  absl::StatusOr<Offset> after = absl::UnavailableError("not tried");
  for (int i = 0; i < 30 && !after.ok(); ++i) {
    after = AppendOne(**store, name, 0, "after");
    if (!after.ok()) absl::SleepFor(absl::Seconds(1));
  }
  ASSERT_TRUE(after.ok()) << after.status();

  auto bounds = (*store)->GetBounds(name, 0);
  ASSERT_TRUE(bounds.ok()) << bounds.status();
  auto reader = (*store)->OpenReader(name, 0, StartAt::Earliest());
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto got = ReadN(**reader, static_cast<size_t>(bounds->end));
  ASSERT_TRUE(got.ok()) << got.status();
  for (int i = 0; i < kBefore; ++i) {
    EXPECT_EQ((*got)[i].offset, i);
    EXPECT_EQ((*got)[i].record.data(), absl::StrCat("before-", i));
  }
  EXPECT_EQ(got->back().record.data(), "after");
  EXPECT_EQ(got->back().offset, *after);
  reader->reset();
  store->reset();
}

}  // namespace
}  // namespace runnel::gateway
