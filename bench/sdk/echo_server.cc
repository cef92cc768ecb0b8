// Baseline: the plainest riff-rpc server gRPC's callback API allows — every data frame's
// payload is echoed back as an output frame, on the reaction thread, with one read and one
// write in flight and a queue between them. No decoding, no worker thread, no function.
// Prints "runnel-sdk: ready grpc_port=<p> http_port=-1" like SDK functions, then serves until
// SIGTERM/SIGINT. Usage: echo_server [port]

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>

#include "common/process.h"
#include "riff/riff-rpc.grpc.pb.h"

namespace {

class Echo final : public grpc::ServerBidiReactor<streaming::InputSignal, streaming::OutputSignal> {
 public:
  Echo() { StartRead(&in_); }

  void OnReadDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) {
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    if (in_.has_data()) {
      streaming::OutputSignal& out = outbox_.emplace_back();
      out.mutable_data()->set_payload(std::move(*in_.mutable_data()->mutable_payload()));
      out.mutable_data()->set_contenttype(in_.data().contenttype());
      if (!writing_) {
        writing_ = true;
        StartWrite(&outbox_.front());
      }
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    outbox_.pop_front();
    if (ok && !outbox_.empty()) {
      StartWrite(&outbox_.front());
      return;
    }
    writing_ = false;
    MaybeFinishLocked();
  }

  void OnDone() override { delete this; }

 private:
  void MaybeFinishLocked() {
    if (reads_done_ && !writing_ && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  std::mutex mu_;
  streaming::InputSignal in_;
  std::deque<streaming::OutputSignal> outbox_;
  bool writing_ = false;
  bool reads_done_ = false;
  bool finished_ = false;
};

class Service final : public streaming::Riff::CallbackService {
  grpc::ServerBidiReactor<streaming::InputSignal, streaming::OutputSignal>* Invoke(
      grpc::CallbackServerContext*) override {
    return new Echo();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const runnel::StopSignals stop_signals;  // Before any thread starts.
  runnel::DisableMutexDeadlockDetection();
  Service service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::string(argc > 1 ? argv[1] : "0"),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  std::printf("runnel-sdk: ready grpc_port=%d http_port=-1\n", port);
  std::fflush(stdout);
  stop_signals.Wait();
  server->Shutdown();
  return 0;
}
