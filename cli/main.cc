// runnel: the command line. Reads the environment once and hands everything to cli::RunCli.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "cli/commands.h"

namespace {
std::atomic<bool> interrupted{false};
std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  std::signal(SIGPIPE, SIG_IGN);
  runnel::cli::CliEnv env;
  env.home = Env("RUNNEL_HOME");
  if (env.home.empty()) env.home = Env("HOME") + "/.runnel";
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  env.self_exe = n > 0 ? std::string(self, static_cast<size_t>(n)) : argv[0];
  env.binaries = {{"runnel-gateway", Env("RUNNEL_GATEWAY_BIN")},
                  {"runnel-processor", Env("RUNNEL_PROCESSOR_BIN")}};
  env.path = Env("PATH");
  env.out = &std::cout;
  env.err = &std::cerr;
  env.interrupted = &interrupted;
  return runnel::cli::RunCli(std::vector<std::string>(argv + 1, argv + argc), env);
}
