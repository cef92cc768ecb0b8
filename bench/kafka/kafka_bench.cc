// Issue 5's benchmark on one broker in one run: N records of S bytes (default 1,000,000 x 64)
// produced to and consumed from a fresh 1-partition topic per path and round, through
//   - raw librdkafka (bench/kafka/raw_kafka.h: idempotent, acks=all, linger.ms=5,
//     batch.num.messages=10000; a KafkaConsumer assigned partition 0) — the limit;
//   - KafkaRecordStore in this process: one Append per record with up to --window in flight
//     (as a liiklus Publish drives it), then NextBatch(10000 records, 4 MiB) (as the gateway's
//     receive paths read);
//   - runnel-gateway of this build tree on the broker (bench/gateway/gateway_client.h): runnel.v1
//     PublishBatches of --batch value-only records with --gateway-window batches unanswered,
//     then runnel.v1 Read of --batch records per reply.
// An unmeasured warm-up round (--warmup-records of each path) lets the broker's JVM compile its
// hot paths first. Rounds interleave the paths (raw, store, gateway); each phase reports its
// throughput and the CPU seconds used during it by this process + the broker (--broker-pid) +
// the gateway (on its own path), in total and by process. The tables give medians, and the
// gateway/raw and store/raw ratios by throughput and by records per CPU second, as ratios of
// medians and as the range of the per-round ratios.
//
// Usage: kafka_bench [--brokers host:port] [--broker-pid PID] [--records N] [--size S]
//                    [--runs R] [--window W] [--batch B] [--gateway-window G]
//                    [--warmup-records N (default 100000, 0 = none)]
// --brokers defaults to $RUNNEL_KAFKA_BROKERS (set by scripts/test.sh); bench/kafka/run.sh starts
// a broker of its own and passes both. Exits non-zero if a run fails or loses records; exits 77
// (skipped) without a broker when RUNNEL_SKIP_KAFKA=1.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "bench/gateway/gateway_client.h"
#include "bench/kafka/raw_kafka.h"
#include "gateway/record_store.h"
#include "gateway/stores/kafka_record_store.h"
#include "tests/testing/process.h"

namespace runnel::bench {
namespace {

using gateway::Offset;
using gateway::RecordStore;
using gateway::StartAt;

struct Args {
  std::string brokers;
  int64_t records = 1'000'000;
  size_t size = 64;
  int runs = 3;
  int64_t window = 100'000;  // Store appends in flight.
  int batch = 500;           // Gateway records per PublishBatches message and per Read reply.
  int gateway_window = 32;   // Gateway batches unanswered.
  pid_t broker_pid = 0;      // Set: the broker's CPU counts in every figure.
  int64_t warmup_records = 100'000;  // An unmeasured first round of every path (0: none).
};

// One phase (produce or consume) of one path in one round.
struct Phase {
  double seconds = -1;
  double cpu_s = -1;  // -1: a process was gone, not measured.
  // cpu_s by process: this one (the client: raw librdkafka, the store, the gRPC client), the
  // broker and runnel-gateway (gateway path only; 0 elsewhere).
  double self_s = -1;
  double broker_s = -1;
  double gateway_s = -1;
};

struct Round {
  Phase produce;
  Phase consume;
};

// CPU seconds so far of this process, the broker and the gateway (0 when not given).
struct CpuSample {
  double self, broker, gateway;
};
CpuSample SampleCpu(pid_t broker, pid_t gateway) {
  auto of = [](pid_t pid) { return pid == 0 ? 0 : testing::ProcessCpuSeconds(pid); };
  return {testing::ProcessCpuSeconds(), of(broker), of(gateway)};
}

// Runs `phase` and measures its CPU (this process + the broker + the gateway); `phase` returns
// its seconds.
template <typename F>
absl::StatusOr<Phase> Measure(pid_t broker, pid_t gateway, F phase) {
  const CpuSample start = SampleCpu(broker, gateway);
  absl::StatusOr<double> seconds = phase();
  if (!seconds.ok()) return seconds.status();
  const CpuSample end = SampleCpu(broker, gateway);
  Phase p{.seconds = *seconds};
  if (start.self < 0 || start.broker < 0 || start.gateway < 0 || end.self < 0 ||
      end.broker < 0 || end.gateway < 0) {
    return p;  // A process was gone: CPU not measured.
  }
  p.self_s = end.self - start.self;
  p.broker_s = end.broker - start.broker;
  p.gateway_s = end.gateway - start.gateway;
  p.cpu_s = p.self_s + p.broker_s + p.gateway_s;
  return p;
}

absl::StatusOr<Round> RunRaw(const Args& args, const std::string& topic) {
  Round round;
  absl::StatusOr<Phase> p = Measure(args.broker_pid, 0, [&] {
    return RawKafkaProduce(args.brokers, topic, args.records, args.size);
  });
  if (!p.ok()) return p.status();
  round.produce = *p;
  p = Measure(args.broker_pid, 0,
              [&] { return RawKafkaConsume(args.brokers, topic, args.records); });
  if (!p.ok()) return p.status();
  round.consume = *p;
  return round;
}

// Appends one record per call, at most args.window in flight; returns the seconds it took.
absl::StatusOr<double> StoreProduce(const Args& args, RecordStore& store,
                                    const std::string& stream) {
  std::string payload(args.size, 'x');
  absl::Mutex mu;
  int64_t in_flight = 0, done = 0;
  absl::Status first_error;
  const BenchClock::time_point start = BenchClock::now();
  for (int64_t i = 0; i < args.records; ++i) {
    {
      absl::MutexLock lock(&mu);
      auto room = [&] { return in_flight < args.window; };
      mu.Await(absl::Condition(&room));
      ++in_flight;
    }
    std::vector<v1::Record> records(1);
    records[0].set_data(payload);
    records[0].set_id("bench");
    records[0].set_type("bench");
    records[0].set_source("/bench");
    store.Append(stream, 0, std::move(records), [&](absl::StatusOr<Offset> r) {
      absl::MutexLock lock(&mu);
      --in_flight;
      ++done;
      if (!r.ok() && first_error.ok()) first_error = r.status();
    });
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&] { return done == args.records; };
    mu.Await(absl::Condition(&all));
  }
  const double seconds = SecondsSince(start);
  if (!first_error.ok()) return first_error;
  return seconds;
}

// Reads the stream from the start with NextBatch(10000, 4 MiB), as the gateway's receive paths
// read; returns the seconds it took.
absl::StatusOr<double> StoreConsume(const Args& args, RecordStore& store,
                                    const std::string& stream) {
  auto reader = store.OpenReader(stream, 0, StartAt::Earliest());
  if (!reader.ok()) return reader.status();
  const BenchClock::time_point start = BenchClock::now();
  int64_t got = 0;
  while (got < args.records) {
    std::promise<absl::StatusOr<gateway::RecordBatch>> promise;
    auto future = promise.get_future();
    (*reader)->NextBatch(10'000, 4 << 20, [&](absl::StatusOr<gateway::RecordBatch> r) {
      promise.set_value(std::move(r));
    });
    if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      return absl::DeadlineExceededError(
          absl::StrCat("store read stalled after ", got, " records"));
    }
    auto batch = future.get();
    if (!batch.ok()) return batch.status();
    got += static_cast<int64_t>(batch->size());
  }
  return SecondsSince(start);
}

absl::StatusOr<Round> RunStore(const Args& args, RecordStore& store, const std::string& stream) {
  Round round;
  absl::StatusOr<Phase> p =
      Measure(args.broker_pid, 0, [&] { return StoreProduce(args, store, stream); });
  if (!p.ok()) return p.status();
  round.produce = *p;
  p = Measure(args.broker_pid, 0, [&] { return StoreConsume(args, store, stream); });
  if (!p.ok()) return p.status();
  round.consume = *p;
  return round;
}

// A fresh runnel-gateway on the broker, a fresh stream through it: PublishBatches, then Read.
absl::StatusOr<Round> RunGateway(const Args& args, const std::string& dir,
                                 const std::string& topic) {
  absl::StatusOr<BenchServer> server = StartKafkaGateway(dir, args.brokers);
  if (!server.ok()) return server.status();
  auto stub = v1::Gateway::NewStub(server->Channel());
  if (absl::Status s = CreateStream(*stub, topic); !s.ok()) return s;
  const GatewayLoad load{.records = args.records,
                         .batch = args.batch,
                         .window = args.gateway_window,
                         .record_bytes = static_cast<int>(args.size)};
  Round round;
  absl::StatusOr<Phase> p = Measure(args.broker_pid, server->pid(),
                                    [&] { return PublishWithBatches(*stub, load, topic); });
  if (!p.ok()) return p.status();
  round.produce = *p;
  p = Measure(args.broker_pid, server->pid(),
              [&] { return ConsumeWithRead(*stub, load, topic); });
  if (!p.ok()) return p.status();
  round.consume = *p;
  (void)DeleteStream(*stub, topic);
  return round;
}

// A path's rounds and the figures derived from them.
struct Path {
  std::string name;
  std::vector<Round> rounds;

  std::vector<double> Rates(bool produce, int64_t records) const {
    std::vector<double> v;
    for (const Round& r : rounds) v.push_back(records / (produce ? r.produce : r.consume).seconds);
    return v;
  }
  // CPU seconds per million records (of every process, or of one: `share` picks it from a
  // Phase); rounds without a CPU figure are left out.
  std::vector<double> CpuPerMillion(bool produce, int64_t records,
                                    double Phase::*share = &Phase::cpu_s) const {
    std::vector<double> v;
    for (const Round& r : rounds) {
      const double cpu = (produce ? r.produce : r.consume).*share;
      if (cpu >= 0) v.push_back(cpu * 1e6 / records);
    }
    return v;
  }
};

std::string Rate(double v) { return v < 0 ? "-" : absl::StrFormat("%.0f", v); }
std::string Cpu(double v) { return v < 0 ? "-" : absl::StrFormat("%.2f", v); }
std::string Percent(double v) { return v < 0 ? "-" : absl::StrFormat("%.0f %%", 100 * v); }

// "<ratio of medians> (rounds: lo–hi)": `higher_is_better` figures divide path by raw, CPU
// figures divide raw by path (records per CPU second).
std::string RatioCell(const std::vector<double>& path, const std::vector<double>& raw,
                      bool higher_is_better) {
  if (path.empty() || raw.empty()) return "-";
  auto ratio = [&](double p, double r) { return higher_is_better ? p / r : r / p; };
  std::string cell = Percent(ratio(Median(path), Median(raw)));
  if (path.size() == raw.size() && path.size() > 1) {
    std::vector<double> per_round;
    for (size_t i = 0; i < path.size(); ++i) per_round.push_back(ratio(path[i], raw[i]));
    const auto [lo, hi] = std::minmax_element(per_round.begin(), per_round.end());
    absl::StrAppend(&cell, absl::StrFormat(" (rounds %.0f–%.0f %%)", 100 * *lo, 100 * *hi));
  }
  return cell;
}

absl::StatusOr<Args> ParseArgs(int argc, char** argv) {
  Args args;
  if (const char* env = std::getenv("RUNNEL_KAFKA_BROKERS"); env != nullptr) args.brokers = env;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
    const std::string value = argv[i + 1];
    int64_t n = 0;
    if (flag == "--brokers") {
      args.brokers = value;
      continue;
    }
    if (flag == "--warmup-records" && absl::SimpleAtoi(value, &n) && n >= 0) {
      args.warmup_records = n;
      continue;
    }
    if (!absl::SimpleAtoi(value, &n) || n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": not a positive count: '", value, "'"));
    }
    if (flag == "--records") args.records = n;
    else if (flag == "--size") args.size = static_cast<size_t>(n);
    else if (flag == "--runs") args.runs = static_cast<int>(n);
    else if (flag == "--window") args.window = n;
    else if (flag == "--batch") args.batch = static_cast<int>(n);
    else if (flag == "--gateway-window") args.gateway_window = static_cast<int>(n);
    else if (flag == "--broker-pid") args.broker_pid = static_cast<pid_t>(n);
    else return absl::InvalidArgumentError(absl::StrCat("unknown flag ", flag));
  }
  return args;
}

int Main(int argc, char** argv) {
  absl::StatusOr<Args> parsed = ParseArgs(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr,
                 "kafka_bench: %s\nusage: kafka_bench [--brokers host:port] [--broker-pid PID] "
                 "[--records N] [--size S] [--runs R] [--window W] [--batch B] "
                 "[--gateway-window G] [--warmup-records N]\n",
                 std::string(parsed.status().message()).c_str());
    return 2;
  }
  const Args args = *parsed;
  if (args.brokers.empty()) {
    const char* skip = std::getenv("RUNNEL_SKIP_KAFKA");
    if (skip != nullptr && std::string(skip) == "1") return 77;
    std::fprintf(stderr,
                 "kafka_bench: no broker: pass --brokers, set RUNNEL_KAFKA_BROKERS, or use "
                 "bench/kafka/run.sh (starts one)\n");
    return 2;
  }
  auto store = gateway::OpenKafkaRecordStore({.bootstrap_servers = args.brokers});
  if (!store.ok()) {
    std::fprintf(stderr, "kafka_bench: open store: %s\n", store.status().ToString().c_str());
    return 1;
  }
  testing::TempDir work;
  Path raw{"raw librdkafka (produce / KafkaConsumer)", {}};
  Path kstore{"KafkaRecordStore in process (Append / NextBatch)", {}};
  Path gw{"runnel-gateway on Kafka (PublishBatches / Read)", {}};
  std::vector<double> raw_of_store;  // Raw consumer reading the store's records, rec/s.
  const double n = static_cast<double>(args.records);
  auto fail = [](const std::string& what, const absl::Status& s) {
    std::fprintf(stderr, "kafka_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
    return 1;
  };
  auto per_million = [&](double cpu) { return Cpu(cpu < 0 ? -1 : cpu * 1e6 / n); };
  // "total (this process / broker / gateway)" CPU s/M of a phase.
  auto split = [&](const Phase& p) {
    return absl::StrCat(per_million(p.cpu_s), " (", per_million(p.self_s), "/",
                        per_million(p.broker_s), "/", per_million(p.gateway_s), ")");
  };
  auto report = [&](int run, const Path& path) {
    const Round& r = path.rounds.back();
    std::fprintf(stderr,
                 "round %d %-48s produce %9.0f rec/s %24s CPU s/M   consume %9.0f rec/s %24s "
                 "CPU s/M\n",
                 run, path.name.c_str(), n / r.produce.seconds, split(r.produce).c_str(),
                 n / r.consume.seconds, split(r.consume).c_str());
  };

  // One round of every path with `a`'s counts; recorded (and reported) only if `record`.
  auto run_round = [&](const Args& a, const std::string& suffix, int run, bool record) -> int {
    // Raw librdkafka, then the store, each on a topic the store creates (1 partition).
    for (Path* path : {&raw, &kstore}) {
      const std::string topic = absl::StrCat("bench-", path == &raw ? "raw" : "store", "-", suffix);
      if (auto s = (*store)->CreateStream({.name = topic}); !s.ok()) {
        return fail(absl::StrCat("create ", topic), s.status());
      }
      absl::StatusOr<Round> r = path == &raw ? RunRaw(a, topic) : RunStore(a, **store, topic);
      if (!r.ok()) return fail(absl::StrCat(path->name, ", round ", run), r.status());
      if (record) {
        path->rounds.push_back(*r);
        report(run, *path);
      }
      if (path == &kstore && record) {
        // The same records (CloudEvents headers and all) read raw: the format's share of the gap.
        absl::StatusOr<double> s = RawKafkaConsume(a.brokers, topic, a.records);
        if (!s.ok()) return fail("raw consume of the store's records", s.status());
        raw_of_store.push_back(n / *s);
      }
      (void)(*store)->DeleteStream(topic);
    }
    // The gateway: a process of its own per round, its stream created (and deleted) through it.
    const std::string dir = absl::StrCat(work.path(), "/round-", suffix);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    absl::StatusOr<Round> r = RunGateway(a, dir, absl::StrCat("bench-gateway-", suffix));
    if (!r.ok()) return fail(absl::StrCat(gw.name, ", round ", run), r.status());
    if (record) {
      gw.rounds.push_back(*r);
      report(run, gw);
    }
    return 0;
  };

  // A fresh broker's JVM is still compiling its hot paths: warm every path up first, unmeasured.
  if (args.warmup_records > 0) {
    Args warmup = args;
    warmup.records = std::min(args.warmup_records, args.records);
    const int rc = run_round(warmup, absl::StrCat(::getpid(), "-warmup"), 0, false);
    if (rc != 0) return rc;
  }
  for (int run = 1; run <= args.runs; ++run) {
    if (int rc = run_round(args, absl::StrCat(::getpid(), "-", run), run, true); rc != 0) return rc;
  }

  const double mb = static_cast<double>(args.size) / 1e6;
  std::printf(
      "%lld records x %zu bytes, 1 partition, fresh topics, %d rounds (raw, store, gateway "
      "interleaved); medians\n"
      "CPU s/M = CPU seconds per million records of this process + the broker%s (+ runnel-gateway "
      "on its row), during that phase only\n\n",
      static_cast<long long>(args.records), args.size, args.runs,
      args.broker_pid > 0 ? "" : " (NOT counted: no --broker-pid)");
  std::printf(
      "| path | produce rec/s | consume rec/s | produce CPU s/M | consume CPU s/M |\n"
      "|---|---:|---:|---:|---:|\n");
  for (const Path* path : {&raw, &kstore, &gw}) {
    std::printf("| %s | %s (%.1f MB/s) | %s (%.1f MB/s) | %s | %s |\n", path->name.c_str(),
                Rate(Median(path->Rates(true, args.records))).c_str(),
                Median(path->Rates(true, args.records)) * mb,
                Rate(Median(path->Rates(false, args.records))).c_str(),
                Median(path->Rates(false, args.records)) * mb,
                Cpu(Median(path->CpuPerMillion(true, args.records))).c_str(),
                Cpu(Median(path->CpuPerMillion(false, args.records))).c_str());
  }
  std::printf(
      "| raw KafkaConsumer reading the store's records (CloudEvents headers) | | %s | | |\n",
              Rate(Median(raw_of_store)).c_str());
  std::printf(
      "\nCPU s/M by process (medians): this process (the client) / the broker / "
      "runnel-gateway\n\n"
      "| path | produce | consume |\n"
      "|---|---:|---:|\n");
  for (const Path* path : {&raw, &kstore, &gw}) {
    auto cell = [&](bool produce) {
      return absl::StrCat(
          Cpu(Median(path->CpuPerMillion(produce, args.records, &Phase::self_s))), " / ",
          Cpu(Median(path->CpuPerMillion(produce, args.records, &Phase::broker_s))), " / ",
          Cpu(Median(path->CpuPerMillion(produce, args.records, &Phase::gateway_s))));
    };
    std::printf("| %s | %s | %s |\n", path->name.c_str(), cell(true).c_str(),
                cell(false).c_str());
  }
  std::printf(
      "\n| ratio (of medians; per-round range) | publish / produce | consume |\n"
      "|---|---:|---:|\n");
  for (const Path* path : {&gw, &kstore}) {
    const char* who = path == &gw ? "gateway" : "store";
    std::printf("| %s / raw, throughput | %s | %s |\n", who,
                RatioCell(path->Rates(true, args.records), raw.Rates(true, args.records), true)
                    .c_str(),
                RatioCell(path->Rates(false, args.records), raw.Rates(false, args.records), true)
                    .c_str());
    std::printf("| %s / raw, records per CPU second | %s | %s |\n", who,
                RatioCell(path->CpuPerMillion(true, args.records),
                          raw.CpuPerMillion(true, args.records), false)
                    .c_str(),
                RatioCell(path->CpuPerMillion(false, args.records),
                          raw.CpuPerMillion(false, args.records), false)
                    .c_str());
  }
  store->reset();
  return 0;
}

}  // namespace
}  // namespace runnel::bench

int main(int argc, char** argv) { return runnel::bench::Main(argc, argv); }
