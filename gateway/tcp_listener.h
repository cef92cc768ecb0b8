#pragma once
// The gateway's own accept loop for its gRPC port. gRPC 1.51's listener gives up for good on
// the first accept() that fails for want of descriptors (EMFILE): it logs once and never accepts
// again, so a gateway that ran out of descriptors once stayed deaf to gRPC after they were
// freed. This listener accepts on a thread of its own and hands each connection to gRPC
// (grpc::AddInsecureChannelFromFd); an accept that fails for want of descriptors or memory is
// retried with backoff (10 ms doubling to 1 s), logged at most every 10 s, and reported by
// accept_status() so that /readyz can say the port is not accepting.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace runnel::gateway {

class TcpListener {
 public:
  // Receives an accepted, non-blocking, close-on-exec socket and owns it from then on. Runs on
  // the listener's thread.
  using OnAccept = std::function<void(int fd)>;

  // Binds `host`:`port` (0 picks a free port) and starts accepting. `what` names the port in
  // logs and errors ("gRPC"). UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<TcpListener>> Start(const std::string& what,
                                                            const std::string& host, int port,
                                                            OnAccept on_accept);
  // Stops accepting and joins the thread.
  ~TcpListener();

  int port() const { return port_; }
  // OK while accepting; UNAVAILABLE with the last error while accept() keeps failing.
  absl::Status accept_status() const;
  // Stops accepting (new connections wait in the backlog until the socket closes) and joins the
  // thread; after it returns `on_accept` is not running and won't be called. Idempotent.
  void Stop();

 private:
  TcpListener(std::string what, int listen_fd, int wake_fd, int port, OnAccept on_accept);
  void Run();

  const std::string what_;
  const int listen_fd_;
  const int wake_fd_;  // An eventfd that Stop() signals.
  const int port_;
  const OnAccept on_accept_;
  mutable absl::Mutex mu_;
  absl::Status accept_status_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace runnel::gateway
