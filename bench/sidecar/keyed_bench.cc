// Keyed event-time benchmark (issue 12). End to end: a publisher streams N 64-byte JSON records
// {"k":KEY,"t":EPOCH_MILLIS,"v":N} into runnel-gateway (file log); runnel-processor windows them
// and calls bench/sidecar/aggregate.cc (C++ SDK over riff-rpc: one {"count","sum"} per
// invocation), publishing the results; a reader sums the counts of the results until every
// record is accounted for.
//   keyed    --key-by /k --event-time /t --window time=1s: one invocation per (key, second of
//            event time). Keys are spread pseudo-randomly over --keys; event time advances
//            --events-per-second records per second with up to --disorder of jitter (below
//            --max-out-of-orderness: no record is late).
//   unkeyed  today's pipeline, --window count=1000,time=1s: one invocation per 1000 records.
// Same records and function for both; rounds interleave them (the order alternating) so that
// both see the same drift of a shared machine. Figures: records/s from the first publish to the
// last result, and CPU per record (µs, utime+stime from /proc/<pid>/stat, from just before the
// first publish to the last result) of the processor, function and gateway. Medians of the
// rounds, the keyed/unkeyed ratio, the load average beside each figure.
// The keyed figure includes the tail of the last window: it fires once the input is idle for
// --idle-timeout and event time then advances with the clock past its end (`tail` column: last
// input acknowledged -> last result).
//
// Usage: keyed_bench [--records=1000000] [--keys=10000] [--rounds=3] [--batch=500]
//                    [--partitions=1] [--events-per-second=100000] [--disorder-ms=50]
//                    [--half-close-idle=0ms|auto|D] [--no-unkeyed] [--keep]
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "liiklus/LiiklusService.grpc.pb.h"
#include "runnel/v1/gateway.grpc.pb.h"
#include "tests/testing/process.h"

namespace {

using runnel::testing::BuiltBinary;
using runnel::testing::ChildProcess;
using runnel::testing::FieldFromLogLine;
using runnel::testing::ProcessCpuSeconds;
namespace v1 = runnel::v1;
namespace liiklus = ::com::github::bsideup::liiklus;

struct Options {
  int64_t records = 1000000;
  int keys = 10000;
  int rounds = 3;
  int batch = 500;
  int partitions = 1;  // Of the input stream (the output has 1, so the reader sees one log).
  int64_t events_per_second = 100000;
  int disorder_ms = 50;
  // Passed to runnel-processor as --half-close-idle; "auto" (the default) passes nothing, and
  // the processor half-closes at once for the C++ SDK, which announces it answers afterwards.
  std::string half_close_idle = "auto";
  bool unkeyed = true;
  bool keep = false;  // Keep the run directories (logs) under /tmp.
};

// Event time of record 0: a whole second, so windows line up with record counts.
constexpr int64_t kEpochMillis = 1700000000000;

uint64_t Mix(uint64_t x) {  // splitmix64: a cheap, well-spread hash of the record number.
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Record `i`: {"k":"k0042","t":1700000000123,"v":17} padded with spaces to 64 bytes.
std::string Payload(const Options& o, int64_t i) {
  const uint64_t h = Mix(static_cast<uint64_t>(i));
  const int64_t t = kEpochMillis + i * 1000 / o.events_per_second -
                    static_cast<int64_t>((h >> 32) % static_cast<uint64_t>(o.disorder_ms + 1));
  std::string s = absl::StrFormat(R"({"k":"k%05d","t":%d,"v":%d})",
                                  static_cast<int>(h % static_cast<uint64_t>(o.keys)), t, i % 1000);
  s.append(64 - std::min<size_t>(64, s.size()), ' ');
  return s;
}

v1::PublishBatchRequest Batch(const Options& o, int64_t first, int n) {
  v1::PublishBatchRequest request;
  request.set_topic("in");
  for (int i = 0; i < n; ++i) {
    liiklus::LiiklusEvent* e = request.add_records()->mutable_liiklusevent();
    e->set_id(absl::StrCat(first + i));
    e->set_type("bench");
    e->set_source("bench");
    e->set_data_content_type("application/json");
    e->set_data(Payload(o, first + i));
  }
  return request;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "keyed_bench: %s\n", what.c_str());
  std::exit(1);
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = -1;
  in >> one;
  return one;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

ChildProcess Spawn(std::vector<std::string> argv, const std::string& log, const std::string& ready,
                   std::string* line) {
  auto child = ChildProcess::Start(std::move(argv), {}, log);
  if (!child.ok()) Die(std::string(child.status().message()));
  auto l = child->WaitForLogLine(ready, absl::Seconds(60));
  if (!l.ok()) Die(std::string(l.status().message()));
  if (line != nullptr) *line = *l;
  return *std::move(child);
}

struct Pipeline {
  std::unique_ptr<ChildProcess> gateway, function, processor;
  std::shared_ptr<grpc::Channel> channel;
};

Pipeline StartPipeline(const Options& o, const std::string& dir, bool keyed) {
  Pipeline p;
  std::string line;
  p.gateway = std::make_unique<ChildProcess>(
      Spawn({BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1", "--port", "0",
             "--http-host", "127.0.0.1", "--http-port", "0", "--store", "file", "--data-dir",
             dir + "/data", "--fsync", "interval"},
            dir + "/gateway.log", "runnel-gateway serving", &line));
  const std::string address = absl::StrCat("127.0.0.1:", FieldFromLogLine(line, "grpc_port"));
  p.channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto gw = v1::Gateway::NewStub(p.channel);
  for (auto [name, partitions] : {std::pair{"in", o.partitions}, std::pair{"out", 1}}) {
    grpc::ClientContext c;
    v1::CreateStreamRequest r;
    r.mutable_stream()->set_name(name);
    r.mutable_stream()->set_content_type("application/json");
    r.mutable_stream()->set_partitions(partitions);
    v1::Stream s;
    if (!gw->CreateStream(&c, r, &s).ok()) Die("create stream");
  }
  p.function =
      std::make_unique<ChildProcess>(Spawn({AGGREGATE_BINARY, "--grpc-port=0", "--http-port=0"},
                                           dir + "/function.log", "runnel-sdk: ready", &line));
  std::vector<std::string> argv{BuiltBinary("sidecar/runnel-processor"),
                                "--http-host",
                                "127.0.0.1",
                                "--http-port",
                                "0",
                                "--name",
                                "bench",
                                "--input",
                                address + "/in",
                                "--output",
                                address + "/out",
                                "--function",
                                absl::StrCat("127.0.0.1:", FieldFromLogLine(line, "grpc_port"))};
  if (keyed) {
    argv.insert(argv.end(), {"--key-by", "/k", "--event-time", "/t", "--window", "time=1s",
                             "--max-out-of-orderness", absl::StrCat(o.disorder_ms + 50, "ms"),
                             "--idle-timeout", "1s"});
  } else {
    argv.insert(argv.end(), {"--window", "count=1000,time=1s"});
  }
  if (o.half_close_idle != "auto") {
    argv.insert(argv.end(), {"--half-close-idle", o.half_close_idle});
  }
  p.processor = std::make_unique<ChildProcess>(
      Spawn(argv, dir + "/processor.log", "runnel-processor running", nullptr));
  return p;
}

void StopPipeline(Pipeline& p) {
  p.processor->Stop(SIGTERM, absl::Seconds(30)).IgnoreError();
  p.function->Stop(SIGTERM, absl::Seconds(10)).IgnoreError();
  p.gateway->Stop(SIGTERM, absl::Seconds(10)).IgnoreError();
}

// The "count" of an aggregate result.
int64_t CountOf(std::string_view data) {
  constexpr std::string_view kField = "\"count\":";
  const size_t at = data.find(kField);
  if (at == std::string_view::npos) return 0;
  int64_t n = 0;
  std::from_chars(data.data() + at + kField.size(), data.data() + data.size(), n);
  return n;
}

struct Reading {
  int64_t results = 0;  // Result records.
  int64_t counted = 0;  // Sum of their counts: input records accounted for.
};

// Reads "out" from offset 0 until the results account for `want` input records, a stall of
// 20 s, or `timeout`.
Reading ReadOut(Pipeline& p, int64_t want, absl::Duration timeout) {
  auto gw = v1::Gateway::NewStub(p.channel);
  const absl::Time deadline = absl::Now() + timeout;
  Reading got;
  int64_t last = -1;
  absl::Time progress = absl::Now();
  while (got.counted < want && absl::Now() < deadline) {
    if (got.results != last) {
      last = got.results;
      progress = absl::Now();
    } else if (absl::Now() - progress > absl::Seconds(20)) {
      break;  // Stalled: the caller reports the shortfall.
    }
    grpc::ClientContext c;
    c.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
    v1::ReadRequest r;
    r.set_topic("out");
    r.set_offset(static_cast<uint64_t>(got.results));
    r.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
    r.set_max_records(1000);
    auto reader = gw->Read(&c, r);
    v1::ReceiveBatchesReply batch;
    while (got.counted < want && reader->Read(&batch)) {
      for (const auto& record : batch.records()) {
        ++got.results;
        got.counted += CountOf(record.liiklus_event_record().event().data());
      }
    }
    c.TryCancel();
    reader->Finish();
  }
  return got;
}

struct Run {
  double rate = 0;          // Records/s, first publish -> last result.
  double processor_us = 0;  // CPU per record.
  double function_us = 0;
  double gateway_us = 0;
  double tail_s = 0;  // Last input acknowledged -> last result.
  int64_t results = 0;
  double load = 0;  // 1-minute load average at the end of the run.
};

Run Measure(const Options& o, const std::string& dir, bool keyed) {
  Pipeline p = StartPipeline(o, dir, keyed);
  auto gw = v1::Gateway::NewStub(p.channel);
  const int64_t batches = o.records / o.batch;
  const int64_t total = batches * o.batch;
  const double cpu0[] = {ProcessCpuSeconds(p.processor->pid()),
                         ProcessCpuSeconds(p.function->pid()), ProcessCpuSeconds(p.gateway->pid())};
  const absl::Time start = absl::Now();
  absl::Time published = start;
  std::thread publisher([&] {
    grpc::ClientContext c;
    auto stream = gw->PublishBatches(&c);
    std::thread acks([&] {
      v1::PublishBatchReply reply;
      while (stream->Read(&reply)) {
      }
    });
    for (int64_t b = 0; b < batches; ++b) stream->Write(Batch(o, b * o.batch, o.batch));
    stream->WritesDone();
    acks.join();
    stream->Finish();
    published = absl::Now();
  });
  const Reading got = ReadOut(p, total, absl::Minutes(10));
  const absl::Time end = absl::Now();
  const double cpu1[] = {ProcessCpuSeconds(p.processor->pid()),
                         ProcessCpuSeconds(p.function->pid()), ProcessCpuSeconds(p.gateway->pid())};
  publisher.join();
  StopPipeline(p);
  if (got.counted != total) {
    Die(absl::StrCat(keyed ? "keyed" : "unkeyed", " pipeline accounted for ", got.counted, " of ",
                     total, " records in ", got.results, " results (logs in ", dir, ")"));
  }
  const double per_record_us = 1e6 / static_cast<double>(total);
  return {.rate = static_cast<double>(total) / absl::ToDoubleSeconds(end - start),
          .processor_us = (cpu1[0] - cpu0[0]) * per_record_us,
          .function_us = (cpu1[1] - cpu0[1]) * per_record_us,
          .gateway_us = (cpu1[2] - cpu0[2]) * per_record_us,
          .tail_s = absl::ToDoubleSeconds(end - published),
          .results = got.results,
          .load = LoadAverage()};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag, auto* out) {
      const std::string prefix = std::string(flag) + "=";
      return a.rfind(prefix, 0) == 0 && absl::SimpleAtoi(a.substr(prefix.size()), out);
    };
    if (a == "--no-unkeyed") {
      o.unkeyed = false;
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a.rfind("--half-close-idle=", 0) == 0) {
      o.half_close_idle = a.substr(18);
    } else if (!value("--records", &o.records) && !value("--keys", &o.keys) &&
               !value("--rounds", &o.rounds) && !value("--batch", &o.batch) &&
               !value("--partitions", &o.partitions) &&
               !value("--events-per-second", &o.events_per_second) &&
               !value("--disorder-ms", &o.disorder_ms)) {
      Die("usage: keyed_bench [--records=N] [--keys=N] [--rounds=N] [--batch=N] "
          "[--partitions=N] [--events-per-second=N] [--disorder-ms=N] [--half-close-idle=D|auto] "
          "[--no-unkeyed] [--keep]");
    }
  }
  if (o.records < o.batch || o.keys < 1 || o.keys > 99999 || o.events_per_second < 1 ||
      o.disorder_ms < 0 || o.partitions < 1) {
    Die("bad options: records >= batch, 1 <= keys <= 99999, events-per-second >= 1");
  }
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("runnel-keyed-bench-", getpid()))
          .string();
  int run = 0;
  auto fresh = [&] {
    std::string d = absl::StrCat(dir, "/run", run++);
    std::filesystem::create_directories(d);
    return d;
  };
  std::printf(
      "records=%lld keys=%d batch=%d partitions=%d event time %lld records/s, disorder "
      "<= %d ms, --half-close-idle %s (64-byte JSON records, file log, loopback, %u "
      "cores)\n",
      static_cast<long long>(o.records), o.keys, o.batch, o.partitions,
      static_cast<long long>(o.events_per_second), o.disorder_ms, o.half_close_idle.c_str(),
      std::thread::hardware_concurrency());
  std::fflush(stdout);
  std::vector<Run> keyed, unkeyed;
  for (int r = 0; r < std::max(1, o.rounds); ++r) {
    // Alternate which goes first, so neither always runs on the warmer (or busier) machine.
    const bool keyed_first = r % 2 == 0;
    for (int k = 0; k < 2; ++k) {
      const bool is_keyed = (k == 0) == keyed_first;
      if (!is_keyed && !o.unkeyed) continue;
      Run m = Measure(o, fresh(), is_keyed);
      (is_keyed ? keyed : unkeyed).push_back(m);
      std::fprintf(stderr,
                   "round %d %-7s %9.0f records/s  processor %6.2f us/record  function %6.2f  "
                   "gateway %6.2f  tail %5.2f s  results %lld  load %.2f\n",
                   r + 1, is_keyed ? "keyed" : "unkeyed", m.rate, m.processor_us, m.function_us,
                   m.gateway_us, m.tail_s, static_cast<long long>(m.results), m.load);
    }
  }
  auto median = [](const std::vector<Run>& runs, double Run::*field) {
    std::vector<double> v;
    for (const Run& r : runs) v.push_back(r.*field);
    return Median(v);
  };
  std::printf("%-58s %10s %10s %10s %10s %7s %6s\n", "configuration (medians)", "records/s",
              "proc us/r", "func us/r", "gw us/r", "tail s", "load");
  auto row = [&](const std::string& name, const std::vector<Run>& runs) {
    std::printf("%-58s %10.0f %10.2f %10.2f %10.2f %7.2f %6.2f\n", name.c_str(),
                median(runs, &Run::rate), median(runs, &Run::processor_us),
                median(runs, &Run::function_us), median(runs, &Run::gateway_us),
                median(runs, &Run::tail_s), median(runs, &Run::load));
  };
  row(absl::StrCat("keyed: --key-by /k --event-time /t --window time=1s, ", o.keys, " keys"),
      keyed);
  if (o.unkeyed) {
    row("unkeyed: --window count=1000,time=1s", unkeyed);
    std::printf(
        "keyed / unkeyed: records/s %.2f, processor CPU per record %.2f (medians of %d "
        "rounds each)\n",
        median(keyed, &Run::rate) / median(unkeyed, &Run::rate),
        median(keyed, &Run::processor_us) / median(unkeyed, &Run::processor_us),
        std::max(1, o.rounds));
  }
  std::printf(
      "goal (issue 12): keyed >= 100000 records/s with < 10 us of processor CPU per "
      "record: %s, %s (Numaflow keyed reduce: ~12k records/s per pod)\n",
      median(keyed, &Run::rate) >= 100000 ? "met" : "not met",
      median(keyed, &Run::processor_us) < 10 ? "met" : "not met");
  if (!o.keep) std::filesystem::remove_all(dir);
  return 0;
}
