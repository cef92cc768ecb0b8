#pragma once
// The private seam between the SDK's Server and the wire: gRPC (riff-rpc) and HTTP (Beast) are
// the two implementations. Keeping them behind this interface means a transport can change
// without touching the public headers or user builds (house style B.10).

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "runnel/sdk/function.h"
#include "runnel/sdk/server.h"
#include "sdk/cpp/src/worker_pool.h"

namespace runnel::sdk::internal {

class Transport {
 public:
  virtual ~Transport() = default;
  // Binds and starts serving. Errors: kUnavailable when the port cannot be bound.
  virtual absl::Status Start() = 0;
  // The bound port (the real one when asked for port 0). REQUIRES: Start() succeeded.
  virtual int port() const = 0;
  // Stops accepting, waits for in-flight invocations until `deadline`, cancels what is left and
  // returns once no transport thread or callback runs any more. Idempotent.
  virtual void Shutdown(std::chrono::system_clock::time_point deadline) = 0;
};

// Both use `workers` to run the function; `workers` must outlive the transport's Shutdown().
std::unique_ptr<Transport> NewGrpcTransport(const Function& function, const ServerOptions& options,
                                            WorkerPool& workers);
std::unique_ptr<Transport> NewHttpTransport(const Function& function, const ServerOptions& options,
                                            WorkerPool& workers);

}  // namespace runnel::sdk::internal
