// Baseline server for bench/gateway: the plainest bidi echo gRPC's callback API allows. Every
// message is sent back as it came, on the reaction thread, with one read and one write in flight
// and a bounded queue between them (reading pauses while it is full, as the gateway's window
// does). No parsing beyond protobuf's, no storage. Prints "ready grpc_port=<p>" once serving,
// then serves until SIGTERM/SIGINT. Usage: gateway_bench_echo_server [port]

#include <utility>

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <deque>
#include <mutex>
#include <string>

#include "common/process.h"
#include "echo.grpc.pb.h"

namespace {

using runnel::v1::PublishBatchRequest;

// The same window the gateway's PublishBatches keeps (gateway/runnel_service.cc).
constexpr size_t kMaxQueued = 32;

class EchoReactor final : public grpc::ServerBidiReactor<PublishBatchRequest, PublishBatchRequest> {
 public:
  EchoReactor() { StartRead(&in_); }

  // grpc::ServerBidiReactor
  void OnReadDone(bool ok) override {
    bool write = false;
    bool read = false;
    const PublishBatchRequest* front = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!ok) {
        reads_done_ = true;
      } else {
        outbox_.push_back(std::move(in_));
        in_.Clear();
        if (!writing_) {
          writing_ = true;
          write = true;
          front = &outbox_.front();
        }
        read = outbox_.size() < kMaxQueued;
        reading_ = read;
      }
    }
    if (write) StartWrite(front);
    if (read) StartRead(&in_);
    if (!ok) MaybeFinish();
  }

  void OnWriteDone(bool ok) override {
    bool write = false;
    bool read = false;
    const PublishBatchRequest* front = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      outbox_.pop_front();
      if (!ok) failed_ = true;
      if (ok && !outbox_.empty()) {
        write = true;
        front = &outbox_.front();
      } else {
        writing_ = false;
      }
      if (ok && !reading_ && !reads_done_ && outbox_.size() < kMaxQueued) {
        reading_ = true;
        read = true;
      }
    }
    if (write) StartWrite(front);
    if (read) StartRead(&in_);
    MaybeFinish();
  }

  void OnDone() override { delete this; }

 private:
  void MaybeFinish() {
    grpc::Status status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_ || writing_ || !(reads_done_ || failed_)) return;
      finished_ = true;
      if (failed_) status = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    Finish(status);
  }

  std::mutex mu_;
  PublishBatchRequest in_;  // Owned by the read in flight.
  std::deque<PublishBatchRequest> outbox_;
  bool reading_ = true;
  bool writing_ = false;
  bool reads_done_ = false;
  bool failed_ = false;
  bool finished_ = false;
};

class EchoService final : public runnel::bench::Echo::CallbackService {
  grpc::ServerBidiReactor<PublishBatchRequest, PublishBatchRequest>* Echo(
      grpc::CallbackServerContext*) override {
    return new EchoReactor();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const runnel::StopSignals stop_signals;  // Before any thread starts.
  runnel::DisableMutexDeadlockDetection();
  EchoService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::string(argc > 1 ? argv[1] : "0"),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "gateway_bench_echo_server: cannot listen\n");
    return 1;
  }
  std::printf("gateway_bench_echo_server: ready grpc_port=%d\n", port);
  std::fflush(stdout);
  stop_signals.Wait();
  server->Shutdown();
  return 0;
}
