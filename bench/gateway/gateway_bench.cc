// Gateway benchmark (issue 2): publish then consume N records of 64 bytes through runnel-gateway
// on the file log, against a raw gRPC bidi echo between two processes on loopback (the machine's
// limit), and liiklus's one-record-per-call Publish/Receive for contrast. Every configuration
// runs --runs times, rounds interleaved, each gateway run on a fresh data directory; the table
// prints medians and ratios. Processes are started here (runnel-gateway and
// gateway_bench_echo_server from this build tree) and bound to 127.0.0.1.
//
// Usage: gateway_bench [--records=1000000] [--batch=500] [--window=32] [--record-bytes=64]
//                      [--per-record-records=200000] [--liiklus-records=20000] [--runs=3]
//                      [--work-dir=DIR] [--kafka-brokers=HOST:PORT] [--kafka-broker-pid=PID]
// Exits non-zero if any run fails or returns a wrong count, offset or payload size.

#include <utility>

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/gateway/gateway_client.h"
#include "common/status_macros.h"
#include "echo.grpc.pb.h"
#include "liiklus/LiiklusService.grpc.pb.h"
#include "runnel/v1/gateway.grpc.pb.h"
#include "tests/testing/process.h"

// Records are published in liiklus's deprecated raw-bytes `value` form on purpose: 64 payload
// bytes and nothing else, the same record the raw echo carries.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace runnel::bench {
namespace {

namespace liiklus = ::com::github::bsideup::liiklus;
using Clock = BenchClock;
using testing::BuiltBinary;
using testing::TempDir;

constexpr char kTopic[] = "bench";

struct Options {
  int64_t records = 1'000'000;
  int batch = 500;
  int window = 32;
  int record_bytes = 64;
  int64_t per_record_records = 200'000;
  int64_t liiklus_records = 20'000;
  int runs = 3;
  std::string work_dir;  // Empty: a fresh temporary directory.
  std::string kafka_brokers;  // Set: also run the gateway on this Kafka broker.
  pid_t kafka_broker_pid = 0;  // Set: the broker's CPU counts in the Kafka row's CPU figure.

  GatewayLoad Load() const {
    return {.records = records, .batch = batch, .window = window, .record_bytes = record_bytes};
  }
};

// Figures of one run of one configuration. Unset figures stay NaN-free: -1 means "not measured".
struct Figures {
  double publish_rps = -1;
  double consume_rps = -1;
  double total_s = -1;  // Publish plus consume (or the whole echo).
  int64_t records = 0;
  // CPU seconds every process of the run used (this client, the server, and the Kafka broker
  // when its pid is known) over the measured phases. On a machine whose cores the processes
  // share, records per CPU second is what throughput converges to when the cores are saturated.
  double cpu_s = -1;
};

// Raw baseline: `records` records out and back through the echo server.
absl::StatusOr<Figures> RunEcho(const Options& o, int batch, int64_t records,
                                const std::string& dir) {
  absl::StatusOr<BenchServer> server =
      BenchServer::Start({BuiltBinary("bench/gateway/gateway_bench_echo_server"), "0"},
                         dir + "/echo.log", "ready");
  if (!server.ok()) return server.status();
  auto stub = Echo::NewStub(server->Channel());
  WindowedStream<v1::PublishBatchRequest> stream(
      records, batch, o.window, o.record_bytes, kTopic,
      [&](const v1::PublishBatchRequest& reply, int64_t index, int size) -> absl::Status {
        if (reply.records_size() != size ||
            reply.records(size - 1).value().size() != static_cast<size_t>(o.record_bytes)) {
          return absl::DataLossError(absl::StrCat("echo batch ", index, " came back changed"));
        }
        return absl::OkStatus();
      });
  const double cpu_start = CpuOfRun({server->pid()});
  const Clock::time_point start = Clock::now();
  stream.Start([&](grpc::ClientContext* ctx, auto* reactor) {
    stub->async()->Echo(ctx, reactor);
  });
  RUNNEL_RETURN_IF_ERROR(stream.Await());
  const double s = SecondsSince(start);
  return Figures{.publish_rps = records / s, .consume_rps = records / s, .total_s = s,
                 .records = records, .cpu_s = CpuOfRun({server->pid()}) - cpu_start};
}

// Gateway on the file log (`fsync` = always|interval) or, for fsync "kafka", on o.kafka_brokers:
// PublishBatches then Read.
absl::StatusOr<Figures> RunGateway(const Options& o, const std::string& fsync,
                                   const std::string& dir) {
  const bool kafka = fsync == "kafka";
  absl::StatusOr<BenchServer> server =
      kafka ? StartKafkaGateway(dir, o.kafka_brokers) : StartFileGateway(dir, fsync);
  if (!server.ok()) return server.status();
  // A Kafka stream outlives the gateway: a fresh one per run (the directory names the run).
  const std::string topic =
      kafka ? absl::StrCat(kTopic, "-", ::getpid(), "-", std::filesystem::path(dir).filename().string())
            : kTopic;
  std::shared_ptr<grpc::Channel> channel = server->Channel();
  auto stub = v1::Gateway::NewStub(channel);
  RUNNEL_RETURN_IF_ERROR(CreateStream(*stub, topic));
  const pid_t broker = kafka ? o.kafka_broker_pid : 0;
  const double cpu_start = CpuOfRun({server->pid(), broker});
  absl::StatusOr<double> publish_s = PublishWithBatches(*stub, o.Load(), topic);
  if (!publish_s.ok()) return publish_s.status();
  absl::StatusOr<double> consume_s = ConsumeWithRead(*stub, o.Load(), topic);
  if (!consume_s.ok()) return consume_s.status();
  const double cpu_s = CpuOfRun({server->pid(), broker}) - cpu_start;
  if (kafka) (void)DeleteStream(*stub, topic);
  return Figures{.publish_rps = o.records / *publish_s, .consume_rps = o.records / *consume_s,
                 .total_s = *publish_s + *consume_s, .records = o.records, .cpu_s = cpu_s};
}

// liiklus's way: one unary Publish per record, then Subscribe + Receive (one message per record).
absl::StatusOr<Figures> RunLiiklus(const Options& o, const std::string& dir) {
  absl::StatusOr<BenchServer> server = StartFileGateway(dir, "always");
  if (!server.ok()) return server.status();
  std::shared_ptr<grpc::Channel> channel = server->Channel();
  auto runnel = v1::Gateway::NewStub(channel);
  auto stub = liiklus::LiiklusService::NewStub(channel);
  RUNNEL_RETURN_IF_ERROR(CreateStream(*runnel, kTopic));
  liiklus::PublishRequest one = MakeBatch(1, o.record_bytes, kTopic).records(0);
  one.set_topic(kTopic);
  const int64_t n = o.liiklus_records;

  Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(BenchDeadline());
    liiklus::PublishReply reply;
    RUNNEL_RETURN_IF_ERROR(ToAbsl(stub->Publish(&ctx, one, &reply), "Publish"));
    if (static_cast<int64_t>(reply.offset()) != i) {
      return absl::DataLossError(absl::StrCat("Publish ", i, " landed at offset ", reply.offset()));
    }
  }
  const double publish_s = SecondsSince(start);

  start = Clock::now();
  grpc::ClientContext sub_ctx;
  sub_ctx.set_deadline(BenchDeadline());
  liiklus::SubscribeRequest sub;
  sub.set_topic(kTopic);
  sub.set_group("bench");
  sub.set_auto_offset_reset(liiklus::SubscribeRequest::EARLIEST);
  auto assignments = stub->Subscribe(&sub_ctx, sub);
  liiklus::SubscribeReply assignment;
  if (!assignments->Read(&assignment)) {
    return ToAbsl(assignments->Finish(), "Subscribe ended without an assignment");
  }
  grpc::ClientContext recv_ctx;
  recv_ctx.set_deadline(BenchDeadline());
  liiklus::ReceiveRequest recv;
  *recv.mutable_assignment() = assignment.assignment();
  recv.set_format(liiklus::ReceiveRequest::BINARY);
  auto records = stub->Receive(&recv_ctx, recv);
  liiklus::ReceiveReply reply;
  int64_t next = 0;
  while (next < n && records->Read(&reply)) {
    if (static_cast<int64_t>(reply.record().offset()) != next) {
      recv_ctx.TryCancel();
      sub_ctx.TryCancel();
      return absl::DataLossError(absl::StrCat("Receive: expected offset ", next, ", got ",
                                              reply.record().offset()));
    }
    ++next;
  }
  const double consume_s = SecondsSince(start);
  recv_ctx.TryCancel();
  sub_ctx.TryCancel();
  (void)records->Finish();
  (void)assignments->Finish();
  if (next != n) return absl::DataLossError(absl::StrCat("Receive got ", next, " of ", n));
  return Figures{.publish_rps = n / publish_s, .consume_rps = n / consume_s,
                 .total_s = publish_s + consume_s, .records = n};
}

struct Row {
  std::string name;
  std::function<absl::StatusOr<Figures>(const std::string& dir)> run;
  std::vector<Figures> results;
  Figures Medians() const {
    std::vector<double> p, c, t, cpu;
    for (const Figures& f : results) {
      p.push_back(f.publish_rps);
      c.push_back(f.consume_rps);
      t.push_back(f.total_s);
      cpu.push_back(f.cpu_s);
    }
    return {.publish_rps = Median(p), .consume_rps = Median(c), .total_s = Median(t),
            .records = results.empty() ? 0 : results[0].records, .cpu_s = Median(cpu)};
  }
};

std::string Rate(double v) { return v < 0 ? "-" : absl::StrFormat("%.0f", v); }
std::string Ratio(double a, double b) {
  return (a < 0 || b <= 0) ? "-" : absl::StrFormat("%.3f", a / b);
}

absl::StatusOr<Options> ParseFlags(int argc, char** argv) {
  Options o;
  std::map<std::string, int64_t*> ints{{"records", &o.records},
                                       {"per-record-records", &o.per_record_records},
                                       {"liiklus-records", &o.liiklus_records}};
  std::map<std::string, int*> small{{"batch", &o.batch},
                                    {"window", &o.window},
                                    {"record-bytes", &o.record_bytes},
                                    {"runs", &o.runs}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("expected --flag=value, got '", arg, "'"));
    }
    const std::string key = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    if (key == "work-dir") {
      o.work_dir = value;
      continue;
    }
    if (key == "kafka-brokers") {
      o.kafka_brokers = value;
      continue;
    }
    if (key == "kafka-broker-pid") {
      if (!absl::SimpleAtoi(value, &o.kafka_broker_pid) || o.kafka_broker_pid <= 0) {
        return absl::InvalidArgumentError(absl::StrCat("--kafka-broker-pid: not a pid: '", value, "'"));
      }
      continue;
    }
    int64_t v;
    if (!absl::SimpleAtoi(value, &v) || v < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--", key, ": not a count: '", value, "'"));
    }
    if (auto it = ints.find(key); it != ints.end()) {
      *it->second = v;
    } else if (auto it2 = small.find(key); it2 != small.end() && v <= 1'000'000) {
      *it2->second = static_cast<int>(v);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown or out-of-range flag --", key));
    }
  }
  if (o.records < 1 || o.batch < 1 || o.window < 1 || o.record_bytes < 1 || o.runs < 1) {
    return absl::InvalidArgumentError("--records, --batch, --window, --record-bytes, --runs must be >= 1");
  }
  return o;
}

int Main(int argc, char** argv) {
  absl::StatusOr<Options> parsed = ParseFlags(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "gateway_bench: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  const Options o = *parsed;
  std::optional<TempDir> temp;
  std::string work = o.work_dir;
  if (work.empty()) {
    temp.emplace();
    work = temp->path();
  }

  std::vector<Row> rows;
  rows.push_back({absl::StrCat("raw gRPC bidi echo, ", o.batch, " rec/msg"),
                  [&](const std::string& d) { return RunEcho(o, o.batch, o.records, d); }});
  rows.push_back({"gateway, file log, fsync=always",
                  [&](const std::string& d) { return RunGateway(o, "always", d); }});
  rows.push_back({"gateway, file log, fsync=interval",
                  [&](const std::string& d) { return RunGateway(o, "interval", d); }});
  if (!o.kafka_brokers.empty()) {
    rows.push_back({"gateway, Kafka store",
                    [&](const std::string& d) { return RunGateway(o, "kafka", d); }});
  }
  if (o.per_record_records > 0) {
    rows.push_back({"raw gRPC bidi echo, 1 rec/msg", [&](const std::string& d) {
                      return RunEcho(o, 1, o.per_record_records, d);
                    }});
  }
  if (o.liiklus_records > 0) {
    rows.push_back({"liiklus Publish+Receive, 1 rec/call",
                    [&](const std::string& d) { return RunLiiklus(o, d); }});
  }

  for (int run = 1; run <= o.runs; ++run) {
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::string dir = absl::StrCat(work, "/run", run, "-", r);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      absl::StatusOr<Figures> f = rows[r].run(dir);
      if (!f.ok()) {
        std::fprintf(stderr, "gateway_bench: %s, run %d: %s\n", rows[r].name.c_str(), run,
                     std::string(f.status().message()).c_str());
        return 1;
      }
      std::fprintf(stderr, "run %d: %-38s publish %10s rec/s  consume %10s rec/s  total %.3f s\n",
                   run, rows[r].name.c_str(), Rate(f->publish_rps).c_str(),
                   Rate(f->consume_rps).c_str(), f->total_s);
      rows[r].results.push_back(*f);
      std::filesystem::remove_all(dir + "/data", ec);  // Keep the disk free for the next run.
    }
  }

  const Figures raw = rows[0].Medians();
  std::printf("%lld records of %d bytes, batches of %d, window %d, median of %d runs\n",
              static_cast<long long>(o.records), o.record_bytes, o.batch, o.window, o.runs);
  std::printf("%-38s %9s %12s %12s %10s %12s %9s %9s %9s %11s\n", "configuration", "records",
              "publish/s", "consume/s", "total s", "end-to-end/s", "pub/raw", "cons/raw",
              "e2e/raw", "cpu s/M rec");
  const double raw_e2e = raw.records / raw.total_s;
  for (const Row& row : rows) {
    const Figures m = row.Medians();
    const double e2e = m.records / m.total_s;
    std::printf("%-38s %9lld %12s %12s %10.3f %12s %9s %9s %9s %11s\n", row.name.c_str(),
                static_cast<long long>(m.records), Rate(m.publish_rps).c_str(),
                Rate(m.consume_rps).c_str(), m.total_s, Rate(e2e).c_str(),
                Ratio(m.publish_rps, raw_e2e).c_str(), Ratio(m.consume_rps, raw_e2e).c_str(),
                Ratio(e2e, raw_e2e).c_str(),
                m.cpu_s < 0 ? "-" : absl::StrFormat("%.2f", m.cpu_s * 1e6 / m.records).c_str());
  }
  std::printf("raw echo rows: records go out and come back on one stream at once, so publish/s ="
              " consume/s = end-to-end/s; gateway rows publish first, then consume.\n"
              "cpu s/M rec: CPU seconds of client + server%s per million records, publish and "
              "consume together.\n",
              o.kafka_broker_pid > 0 ? " (+ the Kafka broker, Kafka row)" : "");
  return 0;
}

}  // namespace
}  // namespace runnel::bench

int main(int argc, char** argv) { return runnel::bench::Main(argc, argv); }
