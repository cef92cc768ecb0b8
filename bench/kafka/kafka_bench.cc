// Produce-then-consume throughput of N records of S bytes (default 1,000,000 x 64) to a
// 1-partition topic, through KafkaRecordStore and through raw librdkafka (the limit) with the
// same producer settings (idempotent, acks=all, linger.ms=5, batch.num.messages=10000), on the
// same broker. Each run uses fresh topics; runs alternate raw/store; medians and the
// store/raw ratio are printed as a Markdown table.
//
// The store is driven as the gateway drives it: one Append per record (a Publish), pipelined
// with up to --window appends in flight; reads with Next(10000 records, 4 MiB).
//
// Usage: kafka_bench --brokers host:port [--records N] [--size S] [--runs R] [--window W]

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gateway/record_store.h"
#include "gateway/stores/kafka_record_store.h"
#include "tests/testing/process.h"

namespace {

using runnel::gateway::Offset;
using runnel::gateway::RecordStore;
using runnel::gateway::StartAt;
using runnel::gateway::StoredRecord;

struct Args {
  std::string brokers;
  int64_t records = 1'000'000;
  size_t size = 64;
  int runs = 3;
  int64_t window = 100'000;
  pid_t broker_pid = 0;  // Set: the broker's CPU is counted with ours (bench/kafka/run.sh sets it).
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct Result {
  double produce_s = 0;
  double consume_s = 0;
};

// --- Raw librdkafka ------------------------------------------------------------------------

class CountingDr final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR) failed.fetch_add(1);
    delivered.fetch_add(1);
  }
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
};

// Reads `topic` from offset 0 with a plain KafkaConsumer; returns the seconds it took.
double RawConsume(const Args& args, const std::string& topic) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", args.brokers, error);
  conf->set("group.id", "bench-raw", error);
  conf->set("enable.auto.commit", "false", error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, 0, 0));
  std::vector<RdKafka::TopicPartition*> assignment{tp.get()};
  consumer->assign(assignment);
  const auto start = std::chrono::steady_clock::now();
  int64_t got = 0, bytes = 0;
  while (got < args.records && Seconds(start) < 300) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      ++got;
      bytes += static_cast<int64_t>(m->len());
    }
  }
  const double consume_s = Seconds(start);
  consumer->close();
  if (got != args.records) {
    std::fprintf(stderr, "raw consume: got %lld of %lld\n", (long long)got, (long long)args.records);
    std::exit(1);
  }
  return consume_s;
}

Result RunRaw(const Args& args, const std::string& topic) {
  Result result;
  std::string error;
  CountingDr dr;
  {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"bootstrap.servers", args.brokers}, {"enable.idempotence", "true"}, {"acks", "all"},
             {"linger.ms", "5"}, {"batch.num.messages", "10000"},
             {"queue.buffering.max.messages", "1000000"}, {"queue.buffering.max.kbytes", "262144"}}) {
      conf->set(k, v, error);
    }
    conf->set("dr_cb", &dr, error);
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
    std::string payload(args.size, 'x');
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < args.records;) {
      RdKafka::ErrorCode err = producer->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, payload.data(),
                                                 payload.size(), nullptr, 0, 0, nullptr, nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) {
        producer->poll(1);
        continue;
      }
      if (err != RdKafka::ERR_NO_ERROR) {
        std::fprintf(stderr, "raw produce: %s\n", RdKafka::err2str(err).c_str());
        std::exit(1);
      }
      ++i;
      if ((i & 1023) == 0) producer->poll(0);
    }
    producer->flush(120'000);
    result.produce_s = Seconds(start);
    if (dr.delivered.load() != args.records || dr.failed.load() != 0) {
      std::fprintf(stderr, "raw produce: %lld delivered, %lld failed\n", (long long)dr.delivered.load(),
                   (long long)dr.failed.load());
      std::exit(1);
    }
  }
  result.consume_s = RawConsume(args, topic);
  return result;
}

// --- Through KafkaRecordStore --------------------------------------------------------------

Result RunStore(const Args& args, RecordStore& store, const std::string& stream) {
  Result result;
  std::string payload(args.size, 'x');
  absl::Mutex mu;
  int64_t in_flight = 0, done = 0, failed = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < args.records; ++i) {
    {
      absl::MutexLock lock(&mu);
      auto room = [&] { return in_flight < args.window; };
      mu.Await(absl::Condition(&room));
      ++in_flight;
    }
    std::vector<runnel::v1::Record> records(1);
    records[0].set_data(payload);
    records[0].set_id("bench");
    records[0].set_type("bench");
    records[0].set_source("/bench");
    store.Append(stream, 0, std::move(records), [&](absl::StatusOr<Offset> r) {
      absl::MutexLock lock(&mu);
      --in_flight;
      ++done;
      if (!r.ok()) {
        if (++failed == 1) std::fprintf(stderr, "store append: %s\n", r.status().ToString().c_str());
      }
    });
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&] { return done == args.records; };
    mu.Await(absl::Condition(&all));
  }
  result.produce_s = Seconds(start);
  if (failed != 0) std::exit(1);

  auto reader = store.OpenReader(stream, 0, StartAt::Earliest());
  if (!reader.ok()) {
    std::fprintf(stderr, "open reader: %s\n", reader.status().ToString().c_str());
    std::exit(1);
  }
  const auto read_start = std::chrono::steady_clock::now();
  int64_t got = 0;
  while (got < args.records) {
    std::promise<absl::StatusOr<std::vector<StoredRecord>>> promise;
    auto future = promise.get_future();
    (*reader)->Next(10'000, 4 << 20, [&](absl::StatusOr<std::vector<StoredRecord>> r) { promise.set_value(std::move(r)); });
    if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      std::fprintf(stderr, "store read: stalled after %lld records\n", (long long)got);
      std::exit(1);
    }
    auto batch = future.get();
    if (!batch.ok()) {
      std::fprintf(stderr, "store read: %s\n", batch.status().ToString().c_str());
      std::exit(1);
    }
    got += static_cast<int64_t>(batch->size());
  }
  result.consume_s = Seconds(read_start);
  return result;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--brokers") args.brokers = value;
    else if (flag == "--records") args.records = std::atoll(value);
    else if (flag == "--size") args.size = static_cast<size_t>(std::atoll(value));
    else if (flag == "--runs") args.runs = std::atoi(value);
    else if (flag == "--window") args.window = std::atoll(value);
    else if (flag == "--broker-pid") args.broker_pid = static_cast<pid_t>(std::atoll(value));
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (args.brokers.empty() || args.runs < 1 || args.records < 1) {
    std::fprintf(stderr, "usage: kafka_bench --brokers host:port [--records N] [--size S] [--runs R] [--window W]\n");
    return 2;
  }
  auto store = runnel::gateway::OpenKafkaRecordStore({.bootstrap_servers = args.brokers});
  if (!store.ok()) {
    std::fprintf(stderr, "open store: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<double> raw_p, raw_c, store_p, store_c, raw_store_c, raw_cpu, store_cpu;
  // CPU seconds of this process and the broker: produce + consume of one path, per record, is
  // what a saturated machine's throughput converges to (and what the gateway bench compares).
  auto cpu_now = [&] {
    double s = runnel::testing::ProcessCpuSeconds();
    if (args.broker_pid > 0) s += runnel::testing::ProcessCpuSeconds(args.broker_pid);
    return s;
  };
  for (int run = 0; run < args.runs; ++run) {
    const std::string suffix = absl::StrCat(::getpid(), "-", run);
    for (const char* kind : {"raw", "store"}) {
      const std::string topic = absl::StrCat("bench-", kind, "-", suffix);
      if (auto s = (*store)->CreateStream({.name = topic}); !s.ok()) {
        std::fprintf(stderr, "create %s: %s\n", topic.c_str(), s.status().ToString().c_str());
        return 1;
      }
      const double cpu_start = cpu_now();
      Result r = std::string(kind) == "raw" ? RunRaw(args, topic) : RunStore(args, **store, topic);
      (std::string(kind) == "raw" ? raw_cpu : store_cpu).push_back(cpu_now() - cpu_start);
      const double n = static_cast<double>(args.records);
      std::fprintf(stderr, "run %d %-5s produce %.0f rec/s, consume %.0f rec/s\n", run, kind, n / r.produce_s,
                   n / r.consume_s);
      (std::string(kind) == "raw" ? raw_p : store_p).push_back(n / r.produce_s);
      (std::string(kind) == "raw" ? raw_c : store_c).push_back(n / r.consume_s);
      if (std::string(kind) == "store") {
        // The same records (CloudEvents headers and all) read raw: the format's share of the gap.
        raw_store_c.push_back(n / RawConsume(args, topic));
        std::fprintf(stderr, "run %d raw consume of the store's records %.0f rec/s\n", run, raw_store_c.back());
      }
      (void)(*store)->DeleteStream(topic);
    }
  }
  const double mb = static_cast<double>(args.size) / 1e6;
  std::printf("%lld records x %zu bytes, 1 partition, median of %d runs\n\n", (long long)args.records, args.size,
              args.runs);
  std::printf("| path | raw librdkafka | KafkaRecordStore | store / raw |\n|---|---|---|---|\n");
  std::printf("| produce (acks=all, idempotent) | %.0f rec/s (%.1f MB/s) | %.0f rec/s (%.1f MB/s) | %.0f %% |\n",
              Median(raw_p), Median(raw_p) * mb, Median(store_p), Median(store_p) * mb,
              100 * Median(store_p) / Median(raw_p));
  std::printf("| consume | %.0f rec/s (%.1f MB/s) | %.0f rec/s (%.1f MB/s) | %.0f %% |\n", Median(raw_c),
              Median(raw_c) * mb, Median(store_c), Median(store_c) * mb, 100 * Median(store_c) / Median(raw_c));
  std::printf("| consume, raw, of the store's records (with CloudEvents headers) | %.0f rec/s (%.1f MB/s) | | |\n",
              Median(raw_store_c), Median(raw_store_c) * mb);
  std::printf("| CPU s per million records, produce + consume (this process%s) | %.2f | %.2f | |\n",
              args.broker_pid > 0 ? " + broker" : "", Median(raw_cpu) * 1e6 / args.records,
              Median(store_cpu) * 1e6 / args.records);
  store->reset();
  return 0;
}
