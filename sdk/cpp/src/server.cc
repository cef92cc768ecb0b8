#include "runnel/sdk/server.h"


#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <utility>

#include "common/logging.h"
#include "common/process.h"
#include "sdk/cpp/src/config.h"
#include "sdk/cpp/src/transport.h"
#include "sdk/cpp/src/worker_pool.h"

namespace runnel::sdk {

// Members are declared in construction order; Shutdown() tears down in reverse: transports stop
// accepting and drain, then the workers finish and join, then the destroy hook runs.
class Server::Impl {
 public:
  Impl(Function function, ServerOptions options)
      : function_(std::move(function)),
        options_(std::move(options)),
        workers_(options_.max_workers) {}

  ~Impl() { Shutdown(); }

  absl::Status Start() {
    if (function_.arity().inputs < 0 || function_.arity().outputs < 0) {
      return absl::InvalidArgumentError("function arity must not be negative");
    }
    if (function_.init()) {
      absl::Status s = CallGuarded([&] { return function_.init()(); });
      if (!s.ok()) {
        return absl::Status(s.code(), "init hook: " + std::string(s.message()));
      }
      init_done_ = true;
    }
    grpc_ = internal::NewGrpcTransport(function_, options_, workers_);
    if (absl::Status s = grpc_->Start(); !s.ok()) {
      return s;
    }
    if (options_.http_port >= 0) {
      http_ = internal::NewHttpTransport(function_, options_, workers_);
      if (absl::Status s = http_->Start(); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  void Shutdown() {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) {
      return;
    }
    shut_down_ = true;
    auto deadline = std::chrono::system_clock::now() + options_.shutdown_grace;
    if (http_) {
      http_->Shutdown(deadline);
    }
    if (grpc_) {
      grpc_->Shutdown(deadline);
    }
    workers_.Stop();
    if (init_done_ && function_.destroy()) {
      function_.destroy()();
    }
  }

  int grpc_port() const { return grpc_ ? grpc_->port() : 0; }
  int http_port() const { return http_ ? http_->port() : -1; }

 private:
  const Function function_;
  const ServerOptions options_;
  internal::WorkerPool workers_;
  std::unique_ptr<internal::Transport> grpc_;
  std::unique_ptr<internal::Transport> http_;
  bool init_done_ = false;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  if (impl_) {
    impl_->Shutdown();
  }
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Function function, ServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(function), std::move(options));
  if (absl::Status s = impl->Start(); !s.ok()) {
    return s;
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::grpc_port() const { return impl_->grpc_port(); }
int Server::http_port() const { return impl_->http_port(); }
void Server::Shutdown() { impl_->Shutdown(); }

int Run(int argc, char** argv, Function function) {
  absl::StatusOr<ServerOptions> options =
      internal::ParseServerOptions(argc, argv, [](const char* name) { return std::getenv(name); });
  if (!options.ok()) {
    std::cerr << argv[0] << ": " << options.status().message() << "\n";
    return 1;
  }
  const StopSignals stop_signals;  // Before any thread starts.
  DisableMutexDeadlockDetection();
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(std::move(function), *std::move(options));
  if (!server.ok()) {
    std::cerr << argv[0] << ": " << server.status().ToString() << "\n";
    return 1;
  }
  std::printf("runnel-sdk: ready grpc_port=%d http_port=%d\n", (*server)->grpc_port(),
              (*server)->http_port());
  std::fflush(stdout);
  RUNNEL_LOG(INFO) << "serving" << Kv("grpc_port", (*server)->grpc_port())
                   << Kv("http_port", (*server)->http_port());
  const char* signal = stop_signals.Wait();
  RUNNEL_LOG(INFO) << "shutting down" << Kv("signal", signal);
  (*server)->Shutdown();
  RUNNEL_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace runnel::sdk
