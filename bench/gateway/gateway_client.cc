#include "bench/gateway/gateway_client.h"

#include <signal.h>

#include <algorithm>

#include "absl/time/time.h"

// Records are published in liiklus's deprecated raw-bytes `value` form on purpose: payload bytes
// and nothing else, the same record the raw baselines carry.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace runnel::bench {
namespace {

namespace liiklus = ::com::github::bsideup::liiklus;

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr auto kPhaseTimeout = std::chrono::seconds(600);

}  // namespace

double SecondsSince(BenchClock::time_point since) {
  return std::chrono::duration<double>(BenchClock::now() - since).count();
}

std::chrono::system_clock::time_point BenchDeadline() {
  return std::chrono::system_clock::now() + kPhaseTimeout;
}

double Median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double CpuOfRun(std::initializer_list<pid_t> others) {
  double total = testing::ProcessCpuSeconds();
  for (pid_t pid : others) {
    if (pid == 0) continue;
    const double s = testing::ProcessCpuSeconds(pid);
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

v1::PublishBatchRequest MakeBatch(int n, int bytes, const std::string& topic) {
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

absl::StatusOr<BenchServer> BenchServer::Start(std::vector<std::string> argv,
                                               const std::string& log, const std::string& ready) {
  absl::StatusOr<testing::ChildProcess> child =
      testing::ChildProcess::Start(std::move(argv), {}, log);
  if (!child.ok()) return child.status();
  absl::StatusOr<std::string> line = child->WaitForLogLine(ready, kStartTimeout);
  if (!line.ok()) {
    return absl::UnavailableError(absl::StrCat("server did not start: ", line.status().message(),
                                               "\n", child->Log()));
  }
  const int port = testing::FieldFromLogLine(*line, "grpc_port");
  if (port <= 0) return absl::InternalError(absl::StrCat("no grpc_port in: ", *line));
  BenchServer server(*std::move(child), port);
  return server;
}

BenchServer::~BenchServer() {
  if (process_ != nullptr && process_->Running()) (void)process_->Stop(SIGTERM, absl::Seconds(30));
}

std::shared_ptr<grpc::Channel> BenchServer::Channel() const {
  grpc::ChannelArguments args;
  // The gateway's replies (500 records) and batches stay far below gRPC's default 4 MiB.
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_),
                                   grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<BenchServer> StartFileGateway(const std::string& dir, const std::string& fsync) {
  return BenchServer::Start(
      {testing::BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1", "--port", "0",
       "--http-host", "127.0.0.1", "--http-port", "0", "--store", "file", "--data-dir",
       dir + "/data", "--fsync", fsync, "--log-level", "info"},
      dir + "/gateway.log", "runnel-gateway serving");
}

absl::StatusOr<BenchServer> StartKafkaGateway(const std::string& dir, const std::string& brokers) {
  return BenchServer::Start(
      {testing::BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1", "--port", "0",
       "--http-host", "127.0.0.1", "--http-port", "0", "--store", "kafka", "--bootstrap-servers",
       brokers, "--log-level", "info"},
      dir + "/gateway.log", "runnel-gateway serving");
}

absl::Status CreateStream(v1::Gateway::Stub& stub, const std::string& topic) {
  grpc::ClientContext ctx;
  ctx.set_deadline(BenchDeadline());
  v1::CreateStreamRequest req;
  req.mutable_stream()->set_name(topic);
  req.mutable_stream()->set_partitions(1);
  v1::Stream reply;
  return ToAbsl(stub.CreateStream(&ctx, req, &reply), "CreateStream");
}

absl::Status DeleteStream(v1::Gateway::Stub& stub, const std::string& topic) {
  grpc::ClientContext ctx;
  ctx.set_deadline(BenchDeadline());
  v1::DeleteStreamRequest req;
  req.set_name(topic);
  v1::DeleteStreamReply reply;
  return ToAbsl(stub.DeleteStream(&ctx, req, &reply), "DeleteStream");
}

absl::StatusOr<double> PublishWithBatches(v1::Gateway::Stub& stub, const GatewayLoad& load,
                                          const std::string& topic) {
  const int64_t batch = load.batch;
  WindowedStream<v1::PublishBatchReply> stream(
      load.records, load.batch, load.window, load.record_bytes, topic,
      [&](const v1::PublishBatchReply& reply, int64_t index, int size) -> absl::Status {
        if (reply.positions_size() != size ||
            static_cast<int64_t>(reply.positions(0).offset()) != index * batch ||
            static_cast<int64_t>(reply.positions(size - 1).offset()) != index * batch + size - 1) {
          return absl::DataLossError(absl::StrCat("batch ", index, " acknowledged at offset ",
                                                  reply.positions(0).offset()));
        }
        return absl::OkStatus();
      });
  const BenchClock::time_point start = BenchClock::now();
  stream.Start([&](grpc::ClientContext* ctx, auto* reactor) {
    stub.async()->PublishBatches(ctx, reactor);
  });
  if (absl::Status s = stream.Await(); !s.ok()) return s;
  return SecondsSince(start);
}

absl::StatusOr<double> ConsumeWithRead(v1::Gateway::Stub& stub, const GatewayLoad& load,
                                       const std::string& topic) {
  grpc::ClientContext ctx;
  ctx.set_deadline(BenchDeadline());
  v1::ReadRequest req;
  req.set_topic(topic);
  req.set_partition(0);
  req.set_offset(0);
  req.set_max_records(static_cast<uint32_t>(load.batch));
  const BenchClock::time_point start = BenchClock::now();
  std::unique_ptr<grpc::ClientReader<v1::ReceiveBatchesReply>> reader = stub.Read(&ctx, req);
  v1::ReceiveBatchesReply reply;
  int64_t next = 0;
  while (next < load.records && reader->Read(&reply)) {
    for (const liiklus::ReceiveReply& r : reply.records()) {
      if (static_cast<int64_t>(r.record().offset()) != next ||
          r.record().value().size() != static_cast<size_t>(load.record_bytes)) {
        ctx.TryCancel();
        return absl::DataLossError(absl::StrCat("Read: expected offset ", next, ", got ",
                                                r.record().offset()));
      }
      ++next;
    }
  }
  const double s = SecondsSince(start);
  ctx.TryCancel();  // Read streams until cancelled.
  grpc::Status status = reader->Finish();
  if (next != load.records) {
    return absl::DataLossError(absl::StrCat("Read ended after ", next, " of ", load.records,
                                            " records: ", status.error_message()));
  }
  return s;
}

}  // namespace runnel::bench
