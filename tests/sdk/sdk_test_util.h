#pragma once
// Helpers for the SDK's integration tests: run an example binary on free loopback ports, drive
// it over riff-rpc (a plain synchronous gRPC client, independent of the SDK's own transport
// code) and over HTTP/1.1.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "riff/riff-rpc.grpc.pb.h"

namespace runnel::sdk::testing {

// A child process running `binary --grpc-port=0 --http-port=0 <extra args>` with `env` added
// to the environment. The constructor waits (up to 30 s) for the SDK's ready line and records
// the ports; the destructor sends SIGTERM and reaps the process.
class FunctionProcess {
 public:
  FunctionProcess(const std::string& binary, std::vector<std::string> extra_args = {},
                  std::map<std::string, std::string> env = {});
  ~FunctionProcess();
  bool ready() const { return grpc_port_ > 0; }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  // Sends SIGTERM and waits up to 30 s; returns the exit status (or -1 on timeout/signal).
  int Terminate();

 private:
  int pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

struct Frame {
  int index = 0;
  std::string payload;
  std::string content_type;
  std::map<std::string, std::string> headers;
};

struct InvokeResult {
  grpc::Status status;
  std::vector<streaming::OutputFrame> outputs;
};

streaming::InputSignal StartSignal(std::vector<std::string> accept,
                                   std::vector<std::string> inputs,
                                   std::vector<std::string> outputs);
streaming::InputSignal DataSignal(const Frame& frame);

// One Invoke RPC: sends `signals` in order, half-closes, and collects every output until the
// status. Outputs are read concurrently with writing, so backpressure cannot deadlock it.
InvokeResult Invoke(const std::string& target, const std::vector<streaming::InputSignal>& signals);

// The common case: a StartFrame then data frames.
InvokeResult Invoke(const std::string& target, std::vector<std::string> accept,
                    std::vector<std::string> inputs, std::vector<std::string> outputs,
                    const std::vector<Frame>& frames);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

// A keep-alive HTTP/1.1 connection to 127.0.0.1:port.
class HttpConnection {
 public:
  explicit HttpConnection(int port);
  ~HttpConnection();
  // Sends one request; `headers` are added as given. Returns status 0 if the connection failed.
  HttpResponse Request(const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& headers, const std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace runnel::sdk::testing
