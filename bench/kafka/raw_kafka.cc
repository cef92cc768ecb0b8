#include "bench/kafka/raw_kafka.h"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace runnel::bench {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

class CountingDr final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR && failed.fetch_add(1) == 0) first_error = m.errstr();
    delivered.fetch_add(1);
  }
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
  std::string first_error;  // Written once, read after flush.
};

absl::Status SetAll(RdKafka::Conf& conf,
                    const std::vector<std::pair<std::string, std::string>>& properties) {
  std::string error;
  for (const auto& [k, v] : properties) {
    if (conf.set(k, v, error) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("librdkafka property ", k, ": ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> RawKafkaProduce(const std::string& brokers, const std::string& topic,
                                       int64_t records, size_t record_bytes) {
  std::string error;
  CountingDr dr;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  if (absl::Status s = SetAll(*conf, {{"bootstrap.servers", brokers},
                                      {"enable.idempotence", "true"},
                                      {"acks", "all"},
                                      {"linger.ms", "5"},
                                      {"batch.num.messages", "10000"},
                                      {"queue.buffering.max.messages", "1000000"},
                                      {"queue.buffering.max.kbytes", "262144"}});
      !s.ok()) {
    return s;
  }
  if (conf->set("dr_cb", &dr, error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("dr_cb: ", error));
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  if (producer == nullptr) return absl::InternalError(absl::StrCat("raw producer: ", error));
  std::string payload(record_bytes, 'x');
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < records;) {
    RdKafka::ErrorCode err =
        producer->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, payload.data(), payload.size(),
                          nullptr, 0, 0, nullptr, nullptr);
    if (err == RdKafka::ERR__QUEUE_FULL) {
      producer->poll(1);
      continue;
    }
    if (err != RdKafka::ERR_NO_ERROR) {
      return absl::InternalError(absl::StrCat("raw produce: ", RdKafka::err2str(err)));
    }
    ++i;
    if ((i & 1023) == 0) producer->poll(0);
  }
  producer->flush(120'000);
  const double seconds = SecondsSince(start);
  if (dr.delivered.load() != records || dr.failed.load() != 0) {
    return absl::DataLossError(absl::StrCat("raw produce: ", dr.delivered.load(), " of ", records,
                                            " delivered, ", dr.failed.load(),
                                            " failed: ", dr.first_error));
  }
  return seconds;
}

absl::StatusOr<double> RawKafkaConsume(const std::string& brokers, const std::string& topic,
                                       int64_t records, double timeout_s) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  // queued.min.messages as the store's reader sets it (kafka_record_store.cc): with librdkafka
  // 2.0's default (100,000), a consumer that falls behind the fetcher fills its prefetch queue
  // and the partition then sits out of the fetch list for up to a second, so raw consume
  // alternated between ~2M and ~0.5-0.9M rec/s from round to round (docs/perf/kafka.md).
  if (absl::Status s = SetAll(*conf, {{"bootstrap.servers", brokers},
                                      {"group.id", "bench-raw"},
                                      {"enable.auto.commit", "false"},
                                      {"queued.min.messages", "1000000"}});
      !s.ok()) {
    return s;
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  if (consumer == nullptr) return absl::InternalError(absl::StrCat("raw consumer: ", error));
  std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, 0, 0));
  std::vector<RdKafka::TopicPartition*> assignment{tp.get()};
  if (RdKafka::ErrorCode err = consumer->assign(assignment); err != RdKafka::ERR_NO_ERROR) {
    return absl::InternalError(absl::StrCat("raw assign: ", RdKafka::err2str(err)));
  }
  const auto start = std::chrono::steady_clock::now();
  int64_t got = 0;
  while (got < records && SecondsSince(start) < timeout_s) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
    if (m->err() == RdKafka::ERR_NO_ERROR) ++got;
  }
  const double seconds = SecondsSince(start);
  consumer->close();
  if (got != records) {
    return absl::DeadlineExceededError(
        absl::StrCat("raw consume: got ", got, " of ", records, " in ", timeout_s, " s"));
  }
  return seconds;
}

}  // namespace runnel::bench
