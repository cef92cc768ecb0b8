// riff-rpc load generator: one long Invoke stream carrying N data frames (64-byte JSON numbers),
// as fast as the server takes them, with one write and one read in flight (gRPC callback API).
// It half-closes only after every output arrived, so servers that drop outputs on half-close
// (riff's Node invoker 0.3.0) are measured fairly. Prints "msgs_per_s=<x> outputs=<n>".
//
// Usage: riff_load <host:port> <frames>

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "riff/riff-rpc.grpc.pb.h"

namespace {

class Load final : public grpc::ClientBidiReactor<streaming::InputSignal, streaming::OutputSignal> {
 public:
  Load(streaming::Riff::Stub* stub, long frames) : frames_(frames) {
    start_.mutable_start()->add_expectedcontenttypes("application/json");
    start_.mutable_start()->add_inputnames("in");
    start_.mutable_start()->add_outputnames("out");
    // 64 bytes of JSON number; its square is still finite.
    std::string number = "1.2345678901234567890123456789012345678901234567890123456789012";
    while (number.size() < 64) {
      number += "1";
    }
    data_.mutable_data()->set_payload(number);
    data_.mutable_data()->set_contenttype("application/json");
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    stub->async()->Invoke(&ctx_, this);
  }

  void Run() {
    begin_ = std::chrono::steady_clock::now();
    StartRead(&out_);
    StartWrite(&start_);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      return;
    }
    if (written_ < frames_) {
      ++written_;
      StartWrite(&data_);
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      return;
    }
    if (++received_ == frames_) {
      end_ = std::chrono::steady_clock::now();
      StartWritesDone();
    }
    StartRead(&out_);
  }

  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  int Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    if (received_ != frames_) {
      std::fprintf(stderr, "riff_load: %ld of %ld outputs, status %d %s\n", received_, frames_,
                   status_.error_code(), status_.error_message().c_str());
      return 1;
    }
    double secs = std::chrono::duration<double>(end_ - begin_).count();
    std::printf("msgs_per_s=%.0f outputs=%ld\n", static_cast<double>(frames_) / secs, received_);
    return 0;
  }

 private:
  const long frames_;
  grpc::ClientContext ctx_;
  streaming::InputSignal start_;
  streaming::InputSignal data_;
  streaming::OutputSignal out_;
  long written_ = 0;   // Touched only by OnWriteDone (one write in flight).
  long received_ = 0;  // Touched only by OnReadDone, then read after OnDone.
  std::chrono::steady_clock::time_point begin_, end_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <host:port> <frames>\n", argv[0]);
    return 2;
  }
  auto channel = grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    std::fprintf(stderr, "riff_load: cannot connect to %s\n", argv[1]);
    return 1;
  }
  auto stub = streaming::Riff::NewStub(channel);
  Load load(stub.get(), std::atol(argv[2]));
  load.Run();
  return load.Wait();
}
