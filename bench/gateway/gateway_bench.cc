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
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
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
using Clock = std::chrono::steady_clock;
using testing::BuiltBinary;
using testing::ChildProcess;
using testing::FieldFromLogLine;
using testing::ProcessCpuSeconds;
using testing::TempDir;

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr auto kPhaseTimeout = std::chrono::seconds(600);
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
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + kPhaseTimeout;
}

// A batch of `n` records with a `bytes`-byte payload each, in liiklus's plain `value` form (the
// smallest record a client can publish; no CloudEvent attributes to inflate the wire size).
v1::PublishBatchRequest MakeBatch(int n, int bytes, const std::string& topic = kTopic) {
  v1::PublishBatchRequest batch;
  batch.set_topic(topic);
  for (int i = 0; i < n; ++i) {
    liiklus::PublishRequest* r = batch.add_records();
    std::string value(static_cast<size_t>(bytes), 'x');
    // Distinct payloads, so nothing along the way can get away with sharing one buffer.
    const std::string tag = absl::StrCat(i);
    value.replace(0, std::min(tag.size(), value.size()), tag.substr(0, value.size()));
    r->set_value(std::move(value));
  }
  return batch;
}

// Streams `records` records as batches of `batch` over one bidi call, keeping at most `window`
// batches unanswered, and checks each reply with `check(reply, batch_index, batch_size)`. The
// same driver serves the gateway's PublishBatches and the raw echo, so both runs write exactly
// the same messages with the same window. Reactions run on gRPC threads; Await() blocks the
// caller until OnDone.
template <typename Reply>
class WindowedStream final : public grpc::ClientBidiReactor<v1::PublishBatchRequest, Reply> {
 public:
  using Check = std::function<absl::Status(const Reply&, int64_t index, int size)>;

  WindowedStream(int64_t records, int batch, int window, int record_bytes, const std::string& topic,
                 Check check)
      : batches_((records + batch - 1) / batch),
        window_(window),
        full_(MakeBatch(batch, record_bytes, topic)),
        last_(MakeBatch(static_cast<int>(records - (batches_ - 1) * batch), record_bytes, topic)),
        batch_(batch),
        check_(std::move(check)) {}

  // Starts the call; `setup` performs the stub's async call on this reactor.
  void Start(const std::function<void(grpc::ClientContext*, WindowedStream*)>& setup) {
    context_.set_deadline(Deadline());
    setup(&context_, this);
    this->StartRead(&reply_);
    TryWrite();
    this->StartCall();
  }

  // Blocks until the call is over; returns its status or the first reply that did not check.
  absl::Status Await() {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return done_; });
    if (!check_status_.ok()) return check_status_;
    if (!status_.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status_.error_code()),
                          status_.error_message());
    }
    if (answered_ != batches_) {
      return absl::DataLossError(absl::StrCat(answered_, " of ", batches_, " batches answered"));
    }
    return absl::OkStatus();
  }

 private:
  // grpc::ClientBidiReactor
  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) return;  // The call is over; OnDone follows.
    }
    TryWrite();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // End of the reply stream; OnDone follows.
    bool more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int size = answered_ + 1 == batches_ ? last_.records_size() : batch_;
      absl::Status s = check_(reply_, answered_, size);
      if (!s.ok() && check_status_.ok()) {
        check_status_ = s;
        context_.TryCancel();
      }
      ++answered_;
      more = check_status_.ok();
    }
    if (more) {
      // One read beyond the last reply too: it must report the end of the stream.
      this->StartRead(&reply_);
      TryWrite();
    }
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    done_cv_.notify_all();
  }

  // Starts the next write if none is in flight and the window has room; half-closes after the
  // last batch.
  void TryWrite() {
    enum { kNothing, kWrite, kWritesDone } action = kNothing;
    const v1::PublishBatchRequest* message = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (writing_ || writes_done_ || !check_status_.ok()) return;
      if (sent_ == batches_) {
        writes_done_ = true;
        action = kWritesDone;
      } else if (sent_ - answered_ < window_) {
        writing_ = true;
        message = sent_ + 1 == batches_ ? &last_ : &full_;
        ++sent_;
        action = kWrite;
      }
    }
    if (action == kWrite) this->StartWrite(message);
    if (action == kWritesDone) this->StartWritesDone();
  }

  const int64_t batches_;
  const int64_t window_;
  const v1::PublishBatchRequest full_;
  const v1::PublishBatchRequest last_;
  const int batch_;
  const Check check_;
  grpc::ClientContext context_;
  Reply reply_;  // Owned by the read in flight.
  std::mutex mu_;
  std::condition_variable done_cv_;
  int64_t sent_ = 0;      // Guarded by mu_.
  int64_t answered_ = 0;  // Guarded by mu_.
  bool writing_ = false;  // Guarded by mu_.
  bool writes_done_ = false;
  bool done_ = false;
  absl::Status check_status_;
  grpc::Status status_;
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

// CPU seconds used so far by this process plus `others` (pids; 0 entries are skipped).
double CpuOfRun(std::initializer_list<pid_t> others) {
  double total = ProcessCpuSeconds();
  for (pid_t pid : others) {
    if (pid == 0) continue;
    const double s = ProcessCpuSeconds(pid);
    if (s < 0) return -1;
    total += s;
  }
  return total;
}

absl::Status ToAbsl(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

// A server process of this benchmark, stopped with SIGTERM when it goes out of scope.
class Server {
 public:
  static absl::StatusOr<Server> Start(std::vector<std::string> argv, const std::string& log,
                                      const std::string& ready) {
    absl::StatusOr<ChildProcess> child = ChildProcess::Start(std::move(argv), {}, log);
    if (!child.ok()) return child.status();
    absl::StatusOr<std::string> line = child->WaitForLogLine(ready, kStartTimeout);
    if (!line.ok()) {
      return absl::UnavailableError(absl::StrCat("server did not start: ", line.status().message(),
                                                 "\n", child->Log()));
    }
    const int port = FieldFromLogLine(*line, "grpc_port");
    if (port <= 0) return absl::InternalError(absl::StrCat("no grpc_port in: ", *line));
    Server server(*std::move(child), port);
    return server;
  }

  Server(Server&&) = default;
  ~Server() {
    if (process_ != nullptr && process_->Running()) (void)process_->Stop(SIGTERM, absl::Seconds(30));
  }

  pid_t pid() const { return process_->pid(); }

  std::shared_ptr<grpc::Channel> Channel() const {
    grpc::ChannelArguments args;
    // The gateway's replies (500 records) and batches stay far below gRPC's default 4 MiB.
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                     grpc::InsecureChannelCredentials(), args);
  }

 private:
  Server(ChildProcess p, int port)
      : process_(std::make_unique<ChildProcess>(std::move(p))), port_(port) {}
  std::unique_ptr<ChildProcess> process_;  // Null once moved from.
  int port_;
};

absl::StatusOr<Server> StartGateway(const std::string& dir, const std::string& fsync) {
  return Server::Start({BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1", "--port",
                        "0", "--http-host", "127.0.0.1", "--http-port", "0", "--store", "file",
                        "--data-dir", dir + "/data", "--fsync", fsync, "--log-level", "info"},
                       dir + "/gateway.log", "runnel-gateway serving");
}

// The gateway on a Kafka broker; each run publishes to a fresh stream (topic) of its own.
absl::StatusOr<Server> StartKafkaGateway(const std::string& dir, const std::string& brokers) {
  return Server::Start({BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1", "--port",
                        "0", "--http-host", "127.0.0.1", "--http-port", "0", "--store", "kafka",
                        "--bootstrap-servers", brokers, "--log-level", "info"},
                       dir + "/gateway.log", "runnel-gateway serving");
}

absl::Status CreateStream(v1::Gateway::Stub& stub, const std::string& topic = kTopic) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::CreateStreamRequest req;
  req.mutable_stream()->set_name(topic);
  req.mutable_stream()->set_partitions(1);
  v1::Stream reply;
  return ToAbsl(stub.CreateStream(&ctx, req, &reply), "CreateStream");
}

// Raw baseline: `records` records out and back through the echo server.
absl::StatusOr<Figures> RunEcho(const Options& o, int batch, int64_t records,
                                const std::string& dir) {
  absl::StatusOr<Server> server =
      Server::Start({BuiltBinary("bench/gateway/gateway_bench_echo_server"), "0"},
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
  const double s = Seconds(Clock::now() - start);
  return Figures{.publish_rps = records / s, .consume_rps = records / s, .total_s = s,
                 .records = records, .cpu_s = CpuOfRun({server->pid()}) - cpu_start};
}

// Reads `records` records of partition 0 from offset 0 with runnel.v1 Read, checking offsets.
absl::StatusOr<double> ConsumeWithRead(v1::Gateway::Stub& stub, const Options& o, int64_t records,
                                       const std::string& topic = kTopic) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  v1::ReadRequest req;
  req.set_topic(topic);
  req.set_partition(0);
  req.set_offset(0);
  req.set_max_records(static_cast<uint32_t>(o.batch));
  const Clock::time_point start = Clock::now();
  std::unique_ptr<grpc::ClientReader<v1::ReceiveBatchesReply>> reader = stub.Read(&ctx, req);
  v1::ReceiveBatchesReply reply;
  int64_t next = 0;
  while (next < records && reader->Read(&reply)) {
    for (const liiklus::ReceiveReply& r : reply.records()) {
      if (static_cast<int64_t>(r.record().offset()) != next ||
          r.record().value().size() != static_cast<size_t>(o.record_bytes)) {
        ctx.TryCancel();
        return absl::DataLossError(absl::StrCat("Read: expected offset ", next, ", got ",
                                                r.record().offset()));
      }
      ++next;
    }
  }
  const double s = Seconds(Clock::now() - start);
  ctx.TryCancel();  // Read streams until cancelled.
  grpc::Status status = reader->Finish();
  if (next != records) {
    return absl::DataLossError(absl::StrCat("Read ended after ", next, " of ", records,
                                            " records: ", status.error_message()));
  }
  return s;
}

// Gateway on the file log (`fsync` = always|interval) or, for fsync "kafka", on o.kafka_brokers:
// PublishBatches then Read.
absl::StatusOr<Figures> RunGateway(const Options& o, const std::string& fsync,
                                   const std::string& dir) {
  const bool kafka = fsync == "kafka";
  absl::StatusOr<Server> server =
      kafka ? StartKafkaGateway(dir, o.kafka_brokers) : StartGateway(dir, fsync);
  if (!server.ok()) return server.status();
  // A Kafka stream outlives the gateway: a fresh one per run (the directory names the run).
  const std::string topic =
      kafka ? absl::StrCat(kTopic, "-", ::getpid(), "-", std::filesystem::path(dir).filename().string())
            : kTopic;
  std::shared_ptr<grpc::Channel> channel = server->Channel();
  auto stub = v1::Gateway::NewStub(channel);
  RUNNEL_RETURN_IF_ERROR(CreateStream(*stub, topic));
  const int64_t batch = o.batch;
  WindowedStream<v1::PublishBatchReply> stream(
      o.records, o.batch, o.window, o.record_bytes, topic,
      [&](const v1::PublishBatchReply& reply, int64_t index, int size) -> absl::Status {
        if (reply.positions_size() != size ||
            static_cast<int64_t>(reply.positions(0).offset()) != index * batch ||
            static_cast<int64_t>(reply.positions(size - 1).offset()) != index * batch + size - 1) {
          return absl::DataLossError(absl::StrCat("batch ", index, " acknowledged at offset ",
                                                  reply.positions(0).offset()));
        }
        return absl::OkStatus();
      });
  const pid_t broker = kafka ? o.kafka_broker_pid : 0;
  const double cpu_start = CpuOfRun({server->pid(), broker});
  const Clock::time_point start = Clock::now();
  stream.Start([&](grpc::ClientContext* ctx, auto* reactor) {
    stub->async()->PublishBatches(ctx, reactor);
  });
  RUNNEL_RETURN_IF_ERROR(stream.Await());
  const double publish_s = Seconds(Clock::now() - start);
  absl::StatusOr<double> consume_s = ConsumeWithRead(*stub, o, o.records, topic);
  if (!consume_s.ok()) return consume_s.status();
  return Figures{.publish_rps = o.records / publish_s, .consume_rps = o.records / *consume_s,
                 .total_s = publish_s + *consume_s, .records = o.records,
                 .cpu_s = CpuOfRun({server->pid(), broker}) - cpu_start};
}

// liiklus's way: one unary Publish per record, then Subscribe + Receive (one message per record).
absl::StatusOr<Figures> RunLiiklus(const Options& o, const std::string& dir) {
  absl::StatusOr<Server> server = StartGateway(dir, "always");
  if (!server.ok()) return server.status();
  std::shared_ptr<grpc::Channel> channel = server->Channel();
  auto runnel = v1::Gateway::NewStub(channel);
  auto stub = liiklus::LiiklusService::NewStub(channel);
  RUNNEL_RETURN_IF_ERROR(CreateStream(*runnel));
  liiklus::PublishRequest one = MakeBatch(1, o.record_bytes).records(0);
  one.set_topic(kTopic);
  const int64_t n = o.liiklus_records;

  Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    liiklus::PublishReply reply;
    RUNNEL_RETURN_IF_ERROR(ToAbsl(stub->Publish(&ctx, one, &reply), "Publish"));
    if (static_cast<int64_t>(reply.offset()) != i) {
      return absl::DataLossError(absl::StrCat("Publish ", i, " landed at offset ", reply.offset()));
    }
  }
  const double publish_s = Seconds(Clock::now() - start);

  start = Clock::now();
  grpc::ClientContext sub_ctx;
  sub_ctx.set_deadline(Deadline());
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
  recv_ctx.set_deadline(Deadline());
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
  const double consume_s = Seconds(Clock::now() - start);
  recv_ctx.TryCancel();
  sub_ctx.TryCancel();
  (void)records->Finish();
  (void)assignments->Finish();
  if (next != n) return absl::DataLossError(absl::StrCat("Receive got ", next, " of ", n));
  return Figures{.publish_rps = n / publish_s, .consume_rps = n / consume_s,
                 .total_s = publish_s + consume_s, .records = n};
}

double Median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
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
