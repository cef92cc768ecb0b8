#pragma once
// Hosting a function: a riff-rpc gRPC server (always) and an HTTP server (request-reply
// functions answer POST /; streaming functions answer 501), plus /healthz and /readyz.
//
//   int main(int argc, char** argv) {
//     return runnel::sdk::Run(argc, argv, runnel::sdk::Function::RequestReply(
//         [](double x) { return x * x; }));
//   }

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runnel/sdk/function.h"

namespace runnel::sdk {

struct ServerOptions {
  // Listening address for both servers; port 0 picks a free port (see Server::grpc_port()).
  std::string host = "0.0.0.0";
  int grpc_port = 8081;
  // -1 disables the HTTP server.
  int http_port = 8080;
  // Largest HTTP request body; larger ones get 413.
  size_t max_http_body_bytes = 1 << 20;
  // Largest riff-rpc message accepted (gRPC max receive size).
  size_t max_grpc_message_bytes = 4 << 20;
  // Input messages buffered per invocation before the SDK stops reading from the caller.
  size_t input_buffer = 256;
  // Hard bound of buffered input messages, reached only when the function waits on an input
  // whose buffer is empty while another input fills (a join fed unevenly); beyond it the
  // invocation fails with kResourceExhausted rather than deadlock or grow without bound.
  size_t max_input_buffer = 65536;
  // Output messages buffered per invocation before Emit blocks.
  size_t output_buffer = 256;
  // Worker threads running functions; one per concurrent invocation, created on demand.
  // Invocations beyond this wait for a free worker.
  int max_workers = 256;
  // HTTP I/O threads.
  int http_threads = 1;
  // Graceful shutdown: how long in-flight invocations may take to finish.
  std::chrono::milliseconds shutdown_grace{10000};
};

// A running server. Thread-safe.
class Server {
 public:
  // Runs `function`'s init hook, then starts both servers. Errors: the init hook's status,
  // kUnavailable when a port cannot be bound, kInvalidArgument on bad options.
  static absl::StatusOr<std::unique_ptr<Server>> Start(Function function, ServerOptions options);

  ~Server();  // Shutdown(), if not done yet.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int grpc_port() const;
  int http_port() const;  // -1 when HTTP is disabled.

  // Stops accepting, lets in-flight invocations finish within `shutdown_grace`, cancels the
  // rest, joins every thread and runs the destroy hook. Idempotent.
  void Shutdown();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The whole life of a function process: parses flags and environment (`--grpc-port` / GRPC_PORT,
// default 8081; `--http-port` / HTTP_PORT, default 8080, -1 disables; `--host`;
// `--max-body-bytes`; `--shutdown-grace-ms`), starts the server, prints
// "runnel-sdk: ready grpc_port=<p> http_port=<p>" on stdout, waits for SIGTERM or SIGINT, shuts
// down gracefully and returns the process exit code (0 on a clean shutdown, 1 on bad flags or
// a failed start).
int Run(int argc, char** argv, Function function);

}  // namespace runnel::sdk
