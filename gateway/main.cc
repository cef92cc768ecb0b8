// runnel-gateway: parse the configuration, start the server, wait for SIGTERM/SIGINT, shut down.
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common/logging.h"
#include "gateway/config.h"
#include "gateway/server.h"

extern char** environ;

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so that only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    if (const size_t eq = kv.find('='); eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto config = runnel::gateway::ParseGatewayCommandLine(args, env);
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
  int signal = 0;
  sigwait(&stop_signals, &signal);
  RUNNEL_LOG(INFO) << "stopping" << runnel::Kv("signal", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  return 0;
}
