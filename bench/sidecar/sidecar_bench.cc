// Sidecar benchmark (issue 4). End to end: a publisher streams N 64-byte JSON numbers into
// runnel-gateway (file log), runnel-processor feeds them to `square` and publishes the results,
// a subscriber reads them back. Figures: records/s from the first publish to the last result,
// and the latency of single records with count=1 windows (one record in flight at a time).
// Baselines in the same run: the raw gRPC bidi echo of bench/gateway with the same messages,
// batched as the pipeline's gateway hops batch them ("of raw") and one record per message
// ("of raw/1", as riff-rpc carries records).
// The pipeline runs with the C++ SDK's square over riff-rpc and over plain HTTP (the same
// binary's HTTP port, runnel-processor --function-url; issue 7), alternating, --runs times each,
// medians compared; and with riff's Node invoker hosting bench/sdk/node_square.js (when node and
// tests/interop/node_modules are there, unless --no-node).
//
// Usage: sidecar_bench [--records=200000] [--latency-records=2000] [--batch=500] [--runs=3]
//                      [--http-inflight=64] [--window=count=1000,time=50ms]
//                      [--no-node] [--no-http] [--no-raw] [--no-latency]   (rows to skip)
#include <utility>

#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "echo.grpc.pb.h"
#include "liiklus/LiiklusService.grpc.pb.h"
#include "runnel/v1/gateway.grpc.pb.h"
#include "tests/testing/process.h"

namespace {

using runnel::testing::BuiltBinary;
using runnel::testing::ChildProcess;
using runnel::testing::FieldFromLogLine;
namespace v1 = runnel::v1;
namespace liiklus = ::com::github::bsideup::liiklus;

struct Options {
  int64_t records = 200000;
  int latency_records = 2000;
  int batch = 500;
  int runs = 3;
  int http_inflight = 64;
  std::string window = "count=1000,time=50ms";  // Of the throughput runs.
  bool node = true;
  bool http = true;
  bool raw = true;
  bool latency = true;
};

// How the pipeline's function is hosted and called.
enum class Function {
  kCpp,      // C++ SDK square over riff-rpc.
  kCppHttp,  // The same binary, called over its HTTP port (--function-url).
  kNode,     // riff's Node invoker over riff-rpc.
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A JSON number padded with spaces to 64 bytes.
std::string Payload(int64_t i) {
  std::string s = std::to_string(i % 1000);
  s.append(64 - s.size(), ' ');
  return s;
}

v1::PublishBatchRequest Batch(const std::string& topic, int64_t first, int n) {
  v1::PublishBatchRequest request;
  request.set_topic(topic);
  for (int i = 0; i < n; ++i) {
    liiklus::LiiklusEvent* e = request.add_records()->mutable_liiklusevent();
    e->set_id(absl::StrCat(first + i));
    e->set_type("bench");
    e->set_source("bench");
    e->set_data_content_type("application/json");
    e->set_data(Payload(first + i));
  }
  return request;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sidecar_bench: %s\n", what.c_str());
  std::exit(1);
}

ChildProcess Spawn(std::vector<std::string> argv, std::map<std::string, std::string> env,
                   const std::string& log, const std::string& ready, std::string* line) {
  auto child = ChildProcess::Start(std::move(argv), std::move(env), log);
  if (!child.ok()) Die(std::string(child.status().message()));
  auto l = child->WaitForLogLine(ready, absl::Seconds(60));
  if (!l.ok()) Die(std::string(l.status().message()));
  if (line != nullptr) *line = *l;
  return *std::move(child);
}

// Raw limit: `records` records out and back through the echo server, `batch` per message.
double RawEchoRate(const Options& o, const std::string& dir, int batch) {
  std::string line;
  ChildProcess server = Spawn({BuiltBinary("bench/gateway/gateway_bench_echo_server"), "0"}, {},
                              dir + "/echo.log", "ready", &line);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", FieldFromLogLine(line, "grpc_port")),
                                     grpc::InsecureChannelCredentials());
  auto stub = runnel::bench::Echo::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->Echo(&context);
  const int64_t batches = o.records / batch;
  const absl::Time start = absl::Now();
  std::thread writer([&] {
    for (int64_t b = 0; b < batches; ++b) stream->Write(Batch("echo", b * batch, batch));
    stream->WritesDone();
  });
  v1::PublishBatchRequest reply;
  int64_t got = 0;
  while (got < batches * batch && stream->Read(&reply)) got += reply.records_size();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  writer.join();
  stream->Finish();
  server.Stop(SIGTERM, absl::Seconds(10)).IgnoreError();
  return static_cast<double>(got) / seconds;
}

struct Pipeline {
  std::unique_ptr<ChildProcess> gateway, function, processor;
  std::shared_ptr<grpc::Channel> channel;
  std::string address;
};

Pipeline StartPipeline(const Options& o, const std::string& dir, Function fn,
                       const std::string& window) {
  const bool node = fn == Function::kNode;
  Pipeline p;
  std::string line;
  p.gateway = std::make_unique<ChildProcess>(Spawn(
      {BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1", "--port", "0", "--http-host",
       "127.0.0.1", "--http-port", "0", "--store", "file", "--data-dir", dir + "/data", "--fsync",
       "interval"},
      {}, dir + "/gateway.log", "runnel-gateway serving", &line));
  p.address = absl::StrCat("127.0.0.1:", FieldFromLogLine(line, "grpc_port"));
  p.channel = grpc::CreateChannel(p.address, grpc::InsecureChannelCredentials());
  auto gw = v1::Gateway::NewStub(p.channel);
  for (const char* name : {"in", "out"}) {
    grpc::ClientContext c;
    v1::CreateStreamRequest r;
    r.mutable_stream()->set_name(name);
    r.mutable_stream()->set_content_type("application/json");
    v1::Stream s;
    if (!gw->CreateStream(&c, r, &s).ok()) Die("create stream");
  }
  std::string function;
  if (node) {
    const int port = FreePort();
    p.function = std::make_unique<ChildProcess>(
        Spawn({"/usr/bin/env", "node", NODE_INVOKER},
              {{"FUNCTION_URI", NODE_SQUARE}, {"GRPC_PORT", std::to_string(port)}},
              dir + "/function.log", "Ready to process signals", nullptr));
    function = absl::StrCat("127.0.0.1:", port);
  } else {
    p.function = std::make_unique<ChildProcess>(
        Spawn({SQUARE_BINARY, "--grpc-port=0", "--http-port=0"}, {}, dir + "/function.log",
              "runnel-sdk: ready", &line));
    function = absl::StrCat("127.0.0.1:", FieldFromLogLine(line, "grpc_port"));
  }
  std::vector<std::string> argv{BuiltBinary("sidecar/runnel-processor"), "--http-host",
                                "127.0.0.1", "--http-port", "0", "--name", "bench", "--input",
                                p.address + "/in", "--output", p.address + "/out", "--window",
                                window};
  if (fn == Function::kCppHttp) {
    argv.insert(argv.end(),
                {"--function-url",
                 absl::StrCat("http://127.0.0.1:", FieldFromLogLine(line, "http_port"), "/"),
                 "--function-max-inflight", std::to_string(o.http_inflight)});
  } else {
    argv.insert(argv.end(), {"--function", function});
  }
  if (node) {
    // riff's Node invoker drops in-flight outputs on an immediate half-close (docs/sidecar.md).
    argv.insert(argv.end(), {"--half-close-idle", "200ms"});
  }
  p.processor = std::make_unique<ChildProcess>(
      Spawn(argv, {}, dir + "/processor.log", "runnel-processor running", nullptr));
  return p;
}

void StopPipeline(Pipeline& p) {
  p.processor->Stop(SIGTERM, absl::Seconds(30)).IgnoreError();
  p.function->Stop(SIGTERM, absl::Seconds(10)).IgnoreError();
  p.gateway->Stop(SIGTERM, absl::Seconds(10)).IgnoreError();
}

// Reads "out" from offset 0, calling on_record(count) for each record, until `want` or timeout.
int64_t ReadOut(Pipeline& p, int64_t want, absl::Duration timeout,
                const std::function<void(int64_t)>& on_record) {
  auto gw = v1::Gateway::NewStub(p.channel);
  const absl::Time deadline = absl::Now() + timeout;
  int64_t got = 0;
  int64_t last = -1;
  absl::Time progress = absl::Now();
  while (got < want && absl::Now() < deadline) {
    if (got != last) {
      last = got;
      progress = absl::Now();
    } else if (absl::Now() - progress > absl::Seconds(15)) {
      break;  // Stalled: the caller reports the shortfall.
    }
    grpc::ClientContext c;
    c.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
    v1::ReadRequest r;
    r.set_topic("out");
    r.set_offset(static_cast<uint64_t>(got));
    r.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
    r.set_max_records(1000);
    auto reader = gw->Read(&c, r);
    v1::ReceiveBatchesReply batch;
    while (got < want && reader->Read(&batch)) {
      for (int i = 0; i < batch.records_size(); ++i) on_record(++got);
    }
    c.TryCancel();
    reader->Finish();
  }
  return got;
}

double ThroughputRate(const Options& o, const std::string& dir, Function fn) {
  Pipeline p = StartPipeline(o, dir, fn, o.window);
  auto gw = v1::Gateway::NewStub(p.channel);
  const int64_t batches = o.records / o.batch;
  const int64_t total = batches * o.batch;
  const absl::Time start = absl::Now();
  std::thread publisher([&] {
    grpc::ClientContext c;
    auto stream = gw->PublishBatches(&c);
    std::thread acks([&] {
      v1::PublishBatchReply reply;
      while (stream->Read(&reply)) {
      }
    });
    for (int64_t b = 0; b < batches; ++b) stream->Write(Batch("in", b * o.batch, o.batch));
    stream->WritesDone();
    acks.join();
    stream->Finish();
  });
  const int64_t got = ReadOut(p, total, absl::Minutes(5), [](int64_t) {});
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  publisher.join();
  StopPipeline(p);
  if (got != total) Die(absl::StrCat("pipeline delivered ", got, " of ", total));
  return static_cast<double>(got) / seconds;
}

struct Latency {
  double p50_ms, p99_ms, max_ms;
  double publish_p50_ms;  // Of which: the input's own publish (PublishBatches round trip).
};

// One record at a time through count=1 windows: publish, wait for its result, repeat.
Latency MeasureLatency(const Options& o, const std::string& dir, Function fn) {
  Pipeline p = StartPipeline(o, dir, fn, "count=1");
  auto gw = v1::Gateway::NewStub(p.channel);
  // The reader wakes the publisher when a result lands. No busy-wait: on a 2-core machine a
  // spinning thread takes a core from the pipeline it measures.
  absl::Mutex mu;
  int64_t received = 0;
  std::thread reader([&] {
    ReadOut(p, o.latency_records, absl::Minutes(5), [&](int64_t n) {
      absl::MutexLock lock(&mu);
      received = n;
    });
  });
  grpc::ClientContext c;
  auto stream = gw->PublishBatches(&c);
  std::vector<double> ms, publish_ms;
  for (int i = 0; i < o.latency_records; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    stream->Write(Batch("in", i, 1));
    v1::PublishBatchReply reply;
    stream->Read(&reply);
    publish_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    {
      absl::MutexLock lock(&mu);
      const int64_t want = i + 1;
      auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return received >= want; };
      if (!mu.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(30))) {
        Die("latency run: a result did not arrive within 30 s");
      }
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  stream->WritesDone();
  stream->Finish();
  reader.join();
  StopPipeline(p);
  std::sort(ms.begin(), ms.end());
  std::sort(publish_ms.begin(), publish_ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back(),
          publish_ms[publish_ms.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag, auto* out) {
      const std::string prefix = std::string(flag) + "=";
      if (a.rfind(prefix, 0) == 0 && absl::SimpleAtoi(a.substr(prefix.size()), out)) return true;
      return false;
    };
    if (a == "--no-node") {
      o.node = false;
    } else if (a == "--no-http") {
      o.http = false;
    } else if (a == "--no-raw") {
      o.raw = false;
    } else if (a == "--no-latency") {
      o.latency = false;
    } else if (a.rfind("--window=", 0) == 0) {
      o.window = a.substr(9);
    } else if (!value("--records", &o.records) &&
               !value("--latency-records", &o.latency_records) && !value("--batch", &o.batch) &&
               !value("--runs", &o.runs) && !value("--http-inflight", &o.http_inflight)) {
      Die("usage: sidecar_bench [--records=N] [--latency-records=N] [--batch=N] [--runs=N] "
          "[--http-inflight=N] [--window=SPEC] [--no-node] [--no-http] [--no-raw] "
          "[--no-latency]");
    }
  }
  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("runnel-sidecar-bench-", getpid())).string();
  std::filesystem::create_directories(dir);
  const bool node = o.node && std::filesystem::exists(NODE_INVOKER);
  int run = 0;
  auto fresh = [&] {
    std::string d = absl::StrCat(dir, "/run", run++);
    std::filesystem::create_directories(d);
    return d;
  };

  // Two raw limits: the echo with the pipeline's own batching on the gateway hops (`batch`
  // records per message), and with one record per message, as riff-rpc carries them (the
  // "raw C++ gRPC bidi echo of 64-byte messages" the SDK benchmark compares with).
  const double raw = o.raw ? RawEchoRate(o, fresh(), o.batch) : 0;
  const double raw_single = o.raw ? RawEchoRate(o, fresh(), 1) : 0;
  auto of_raw = [&](double rate) { return o.raw ? 100 * rate / raw : 0.0; };
  auto of_raw_single = [&](double rate) { return o.raw ? 100 * rate / raw_single : 0.0; };
  // riff-rpc, HTTP and the Node invoker alternate, so that all see the same drift of a shared
  // machine; ratios are of the medians.
  std::vector<double> cpp_runs, http_runs, js_runs;
  for (int r = 0; r < std::max(1, o.runs); ++r) {
    cpp_runs.push_back(ThroughputRate(o, fresh(), Function::kCpp));
    if (o.http) http_runs.push_back(ThroughputRate(o, fresh(), Function::kCppHttp));
    if (node) js_runs.push_back(ThroughputRate(o, fresh(), Function::kNode));
    std::fprintf(stderr, "run %d: riff-rpc %.0f records/s, HTTP %.0f records/s, Node %.0f records/s\n",
                 r + 1, cpp_runs.back(), o.http ? http_runs.back() : 0.0,
                 node ? js_runs.back() : 0.0);
  }
  const double cpp = Median(cpp_runs);
  const double http = o.http ? Median(http_runs) : 0;
  const double js = node ? Median(js_runs) : 0;
  Latency cpp_latency{}, http_latency{}, js_latency{};
  if (o.latency) {
    cpp_latency = MeasureLatency(o, fresh(), Function::kCpp);
    if (o.http) http_latency = MeasureLatency(o, fresh(), Function::kCppHttp);
  }
  if (node && o.latency) js_latency = MeasureLatency(o, fresh(), Function::kNode);
  std::printf("records=%lld batch=%d latency_records=%d (64-byte JSON records, loopback)\n",
              static_cast<long long>(o.records), o.batch, o.latency_records);
  std::printf("%-52s %12s %8s %10s\n", "configuration", "records/s", "of raw", "of raw/1");
  auto row = [&](const std::string& name, double rate) {
    std::printf("%-52s %12.0f %7.1f%% %9.1f%%\n", name.c_str(), rate, of_raw(rate),
                of_raw_single(rate));
  };
  if (o.raw) {
    row(absl::StrCat("raw gRPC bidi echo, ", o.batch, " records/message"), raw);
    row("raw gRPC bidi echo, 1 record/message", raw_single);
  }
  row(absl::StrCat("pipeline, C++ SDK square, ", o.window), cpp);
  if (o.http) {
    row(absl::StrCat("pipeline, same square over HTTP, ", o.http_inflight, " in flight"), http);
    std::printf("HTTP / riff-rpc: %.2f (medians of %d runs each)\n", http / cpp,
                std::max(1, o.runs));
  }
  if (node) {
    row("pipeline, Node invoker square, same window", js);
    std::printf("C++ SDK / Node invoker: %.2fx (medians of %d runs each)\n", cpp / js,
                std::max(1, o.runs));
  }
  if (o.latency) {
    std::printf("latency publish->result, count=1 windows, one in flight (ms):\n");
    std::printf("  C++ SDK:       p50 %.3f  p99 %.3f  max %.3f  (input publish p50 %.3f)\n",
                cpp_latency.p50_ms, cpp_latency.p99_ms, cpp_latency.max_ms,
                cpp_latency.publish_p50_ms);
    if (o.http) {
      std::printf("  C++ SDK, HTTP: p50 %.3f  p99 %.3f  max %.3f\n", http_latency.p50_ms,
                  http_latency.p99_ms, http_latency.max_ms);
    }
    if (node) {
      std::printf("  Node invoker:  p50 %.3f  p99 %.3f  max %.3f (half-close-idle 200ms)\n",
                  js_latency.p50_ms, js_latency.p99_ms, js_latency.max_ms);
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
