// runnel-gateway: parse the configuration, start the server, wait for SIGTERM/SIGINT, shut down.
#include <cstdio>
#include <string>
#include <vector>

#include "common/logging.h"
#include "common/process.h"
#include "gateway/config.h"
#include "gateway/server.h"

int main(int argc, char** argv) {
  const runnel::StopSignals stop_signals;  // Before any thread starts.
  runnel::DisableMutexDeadlockDetection();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto config = runnel::gateway::ParseGatewayCommandLine(args, runnel::CurrentEnvironment());
  if (!config.ok()) {
    std::fprintf(stderr, "runnel-gateway: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->help) {
    std::fputs(runnel::gateway::GatewayUsage().c_str(), stdout);
    return 0;
  }
  runnel::SetLogLevel(*runnel::ParseLogLevel(config->log_level));
  runnel::SetLogFormat(config->log_format == "json" ? runnel::LogFormat::kJson : runnel::LogFormat::kText);

  auto server = runnel::gateway::GatewayServer::Start(config->server);
  if (!server.ok()) {
    std::fprintf(stderr, "runnel-gateway: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  RUNNEL_LOG(INFO) << "stopping" << runnel::Kv("signal", stop_signals.Wait());
  (*server)->Shutdown();
  return 0;
}
