#pragma once
// Starts the real runnel-gateway binary on free loopback ports and connects gRPC stubs to it.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "liiklus/LiiklusService.grpc.pb.h"
#include "runnel/v1/gateway.grpc.pb.h"
#include "tests/testing/process.h"

namespace runnel::testing {

namespace liiklus = ::com::github::bsideup::liiklus;

class GatewayProcess {
 public:
  // Starts runnel-gateway with `args` plus loopback ports chosen by the gateway itself.
  static absl::StatusOr<std::unique_ptr<GatewayProcess>> Start(std::vector<std::string> args,
                                                               const std::string& log_path) {
    std::vector<std::string> argv{BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1",
                                  "--port", "0", "--http-host", "127.0.0.1", "--http-port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = ChildProcess::Start(argv, {}, log_path);
    if (!child.ok()) return child.status();
    auto gw = std::unique_ptr<GatewayProcess>(new GatewayProcess(*std::move(child)));
    auto line = gw->process_.WaitForLogLine("runnel-gateway serving", absl::Seconds(30));
    if (!line.ok()) return line.status();
    gw->grpc_port_ = FieldFromLogLine(*line, "grpc_port");
    gw->http_port_ = FieldFromLogLine(*line, "http_port");
    gw->channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gw->grpc_port_),
                                       grpc::InsecureChannelCredentials());
    gw->liiklus_ = liiklus::LiiklusService::NewStub(gw->channel_);
    gw->runnel_ = v1::Gateway::NewStub(gw->channel_);
    return gw;
  }

  liiklus::LiiklusService::Stub& liiklus() { return *liiklus_; }
  v1::Gateway::Stub& runnel() { return *runnel_; }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  ChildProcess& process() { return process_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  explicit GatewayProcess(ChildProcess p) : process_(std::move(p)) {}
  ChildProcess process_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<liiklus::LiiklusService::Stub> liiklus_;
  std::unique_ptr<v1::Gateway::Stub> runnel_;
};

}  // namespace runnel::testing
