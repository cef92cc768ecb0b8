#pragma once
// The whole gateway in one object: record store, core, gRPC (liiklus + runnel.v1) and HTTP.
// main() builds one from parsed options; tests build one in-process on port 0.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/gateway.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

struct GatewayServerOptions {
  std::string grpc_host = "0.0.0.0";
  int grpc_port = 6565;  // 0 picks a free port.
  std::string http_host = "0.0.0.0";
  int http_port = 8080;  // 0 picks a free port; -1 disables HTTP.
  // HTTP connections open at once, in all and per client address (0: no limit), and how long
  // an idle or half-sent request may hold one.
  int http_max_connections = 4096;
  int http_max_connections_per_client = 256;
  int http_idle_timeout_seconds = 60;
  // Returned by the provisioner API; empty means "<hostname>:<grpc port>".
  std::string advertised_address;
  RecordStoreOptions store;
  GatewayOptions gateway;
  // Worker threads for store calls that may block.
  int blocking_threads = 4;
  absl::Duration shutdown_grace = absl::Seconds(10);
};

class GatewayServer {
 public:
  // Opens the store and starts serving. Errors name what failed (a taken port, a bad data dir).
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(const GatewayServerOptions& options);
  virtual ~GatewayServer() = default;

  virtual int grpc_port() const = 0;
  virtual int http_port() const = 0;

  // Stops accepting, lets in-flight calls finish for up to the grace period (then cancels
  // them), and closes the store (flushing and syncing it). Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace runnel::gateway
