#pragma once
// The benchmarks' side of runnel-gateway (bench-only): start a gateway process of this build
// tree, create a stream, publish N records with runnel.v1 PublishBatches (windowed, checked
// offsets) and read them back with runnel.v1 Read, and count the CPU the processes of a run
// used. Shared by bench/gateway (file log against a raw gRPC echo) and bench/kafka (Kafka store
// against raw librdkafka), so both drive the gateway exactly the same way.

#include <utility>

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runnel/v1/gateway.grpc.pb.h"
#include "tests/testing/process.h"

namespace runnel::bench {

using BenchClock = std::chrono::steady_clock;

// Seconds since `since` on the steady clock.
double SecondsSince(BenchClock::time_point since);

// Every benchmark call gives up after this long.
std::chrono::system_clock::time_point BenchDeadline();

// The median (the mean of the middle two for an even count); -1 for none.
double Median(std::vector<double> v);

// CPU seconds used so far by this process plus `others` (pids; 0 entries are skipped); -1 if one
// of them is gone. A run's CPU is the difference of two readings.
double CpuOfRun(std::initializer_list<pid_t> others);

absl::Status ToAbsl(const grpc::Status& s, const std::string& what);

// A batch of `n` records with a `bytes`-byte payload each, in liiklus's plain `value` form (the
// smallest record a client can publish; no CloudEvent attributes, so no Kafka headers either).
v1::PublishBatchRequest MakeBatch(int n, int bytes, const std::string& topic);

// A server process of a benchmark on 127.0.0.1, stopped with SIGTERM when it goes out of scope.
class BenchServer {
 public:
  // Starts `argv` with its output in `log` and waits for a line containing `ready` that carries
  // grpc_port=N.
  static absl::StatusOr<BenchServer> Start(std::vector<std::string> argv, const std::string& log,
                                           const std::string& ready);
  BenchServer(BenchServer&&) = default;
  ~BenchServer();

  pid_t pid() const { return process_->pid(); }
  std::shared_ptr<grpc::Channel> Channel() const;

 private:
  BenchServer(testing::ChildProcess p, int port)
      : process_(std::make_unique<testing::ChildProcess>(std::move(p))), port_(port) {}
  std::unique_ptr<testing::ChildProcess> process_;  // Null once moved from.
  int port_;
};

// runnel-gateway of this build tree on the file log in `dir`/data (`fsync` = always|interval).
absl::StatusOr<BenchServer> StartFileGateway(const std::string& dir, const std::string& fsync);
// runnel-gateway of this build tree on a Kafka broker; its log goes to `dir`.
absl::StatusOr<BenchServer> StartKafkaGateway(const std::string& dir, const std::string& brokers);

// CreateStream `topic` with one partition.
absl::Status CreateStream(v1::Gateway::Stub& stub, const std::string& topic);
// DeleteStream `topic` (a Kafka topic outlives the gateway: benchmarks delete theirs).
absl::Status DeleteStream(v1::Gateway::Stub& stub, const std::string& topic);

// Streams `records` records as batches of `batch` over one bidi call, keeping at most `window`
// batches unanswered, and checks each reply with `check(reply, batch_index, batch_size)`. The
// same driver serves the gateway's PublishBatches and bench/gateway's raw echo, so both write
// exactly the same messages with the same window. Reactions run on gRPC threads; Await() blocks
// the caller until OnDone.
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
    context_.set_deadline(BenchDeadline());
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

// How the gateway is driven: `records` records of `record_bytes` bytes, published in batches of
// `batch` with at most `window` batches unanswered, read back `batch` records per reply.
struct GatewayLoad {
  int64_t records = 1'000'000;
  int batch = 500;
  int window = 32;
  int record_bytes = 64;
};

// Publishes the load to partition 0 of `topic` (one partition, empty) with PublishBatches,
// checking every acknowledged offset; returns the seconds it took.
absl::StatusOr<double> PublishWithBatches(v1::Gateway::Stub& stub, const GatewayLoad& load,
                                          const std::string& topic);

// Reads `load.records` records of partition 0 of `topic` from offset 0 with runnel.v1 Read,
// checking offsets and payload sizes; returns the seconds it took.
absl::StatusOr<double> ConsumeWithRead(v1::Gateway::Stub& stub, const GatewayLoad& load,
                                       const std::string& topic);

}  // namespace runnel::bench
