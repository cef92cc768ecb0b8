#include "gateway/server.h"

#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include "absl/strings/str_cat.h"
#include "common/executor.h"
#include "common/http_server.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "gateway/http_front.h"
#include "gateway/liiklus_service.h"
#include "gateway/runnel_service.h"
#include "gateway/tcp_listener.h"

namespace runnel::gateway {
namespace {

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

// Members are declared in construction order; Shutdown() tears down in reverse.
class GatewayServerImpl final : public GatewayServer {
 public:
  explicit GatewayServerImpl(const GatewayServerOptions& options) : options_(options) {}
  ~GatewayServerImpl() override { Shutdown(); }

  absl::Status Init() {
    absl::StatusOr<std::unique_ptr<RecordStore>> store = OpenRecordStore(options_.store);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    blocking_ = std::make_unique<Executor>("gateway-blocking", options_.blocking_threads, 4096);
    gateway_ = std::make_unique<Gateway>(store_.get(), &metrics_, options_.gateway);
    liiklus_ = std::make_unique<LiiklusServiceImpl>(gateway_.get(), blocking_.get());
    runnel_ = std::make_unique<RunnelServiceImpl>(gateway_.get(), blocking_.get());

    // No listening port of gRPC's own: gateway/tcp_listener.h says why.
    grpc::ServerBuilder builder;
    builder.RegisterService(liiklus_.get());
    builder.RegisterService(runnel_.get());
    builder.SetMaxReceiveMessageSize(64 << 20);
    builder.SetMaxSendMessageSize(64 << 20);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) return absl::InternalError("cannot start the gRPC server");
    grpc::Server* server = server_.get();
    absl::StatusOr<std::unique_ptr<TcpListener>> listener =
        TcpListener::Start("gRPC", options_.grpc_host, options_.grpc_port,
                           [server](int fd) { grpc::AddInsecureChannelFromFd(server, fd); });
    if (!listener.ok()) return listener.status();
    grpc_listener_ = *std::move(listener);
    grpc_port_ = grpc_listener_->port();
    const std::string advertised = options_.advertised_address.empty()
                                       ? absl::StrCat(HostName(), ":", grpc_port_)
                                       : options_.advertised_address;
    if (options_.http_port >= 0) {
      http_front_ = std::make_unique<HttpFront>(gateway_.get(), &metrics_, advertised);
      HttpFront* front = http_front_.get();
      absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
          {.address = options_.http_host,
           .port = options_.http_port,
           .max_body_bytes = options_.gateway.max_record_bytes,
           .idle_timeout_seconds = options_.http_idle_timeout_seconds,
           .max_connections = options_.http_max_connections,
           .max_connections_per_client = options_.http_max_connections_per_client},
          [front](HttpRequest request, HttpRespond respond) {
            front->Handle(std::move(request), std::move(respond));
          });
      if (!http.ok()) return http.status();
      http_ = *std::move(http);
      // Not ready while a port cannot accept (out of file descriptors): a balancer should
      // send its clients elsewhere until it can.
      http_front_->SetReadinessCheck([this]() -> absl::Status {
        if (absl::Status s = grpc_listener_->accept_status(); !s.ok()) return s;
        return http_->AcceptStatus();
      });
      http_front_->SetReady(true);
    }
    RUNNEL_LOG(INFO) << "runnel-gateway serving" << Kv("grpc_port", grpc_port_)
                     << Kv("http_port", http_port()) << Kv("advertised", advertised);
    return absl::OkStatus();
  }

  int grpc_port() const override { return grpc_port_; }
  int http_port() const override { return http_ ? http_->port() : -1; }

  void Shutdown() override {
    if (shut_down_) return;
    shut_down_ = true;
    if (http_front_) http_front_->SetReady(false);
    if (gateway_ && !gateway_->Drain(options_.shutdown_grace)) {
      RUNNEL_LOG(WARNING) << "calls still running after the shutdown grace period; cancelling them"
                          << Kv("grace", absl::FormatDuration(options_.shutdown_grace));
    }
    if (grpc_listener_) grpc_listener_->Stop();  // No connection is handed to a stopped server.
    if (server_) {
      // Every call has ended (or overstayed the grace period): cancel what is left and close
      // idle client connections now rather than waiting for clients to hang up.
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
    if (http_) http_->Stop();
    blocking_.reset();  // Runs what was queued, then joins.
    gateway_.reset();   // Ends sessions (leaves groups).
    store_.reset();     // Flushes and syncs.
    RUNNEL_LOG(INFO) << "runnel-gateway stopped";
  }

 private:
  const GatewayServerOptions options_;
  MetricsRegistry metrics_;
  std::unique_ptr<RecordStore> store_;
  std::unique_ptr<Executor> blocking_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<LiiklusServiceImpl> liiklus_;
  std::unique_ptr<RunnelServiceImpl> runnel_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<TcpListener> grpc_listener_;  // Hands connections to server_.
  int grpc_port_ = 0;
  std::unique_ptr<HttpFront> http_front_;
  std::unique_ptr<HttpServer> http_;
  bool shut_down_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(
    const GatewayServerOptions& options) {
  auto server = std::make_unique<GatewayServerImpl>(options);
  if (absl::Status s = server->Init(); !s.ok()) {
    return s;
  }
  return std::unique_ptr<GatewayServer>(std::move(server));
}

}  // namespace runnel::gateway
