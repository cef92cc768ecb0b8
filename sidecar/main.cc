// runnel-processor: parse the configuration, start the processor and its HTTP endpoint, wait for
// SIGTERM/SIGINT, shut down in order.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/http_server.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/process.h"
#include "sidecar/config.h"
#include "sidecar/processor.h"

int main(int argc, char** argv) {
  const runnel::StopSignals stop_signals;  // Before any thread starts.
  runnel::DisableMutexDeadlockDetection();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto config = runnel::sidecar::ParseProcessorCommandLine(args, runnel::CurrentEnvironment());
  if (!config.ok()) {
    std::fprintf(stderr, "runnel-processor: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->help) {
    std::fputs(runnel::sidecar::ProcessorUsage().c_str(), stdout);
    return 0;
  }
  runnel::SetLogLevel(*runnel::ParseLogLevel(config->log_level));

  runnel::MetricsRegistry metrics;
  runnel::sidecar::Processor processor(config->options, runnel::SystemClock::Get(), metrics);
  auto http = runnel::HttpServer::Start(
      {.address = config->http_host, .port = config->http_port, .threads = 1},
      [&](runnel::HttpRequest request, runnel::HttpRespond respond) {
        runnel::HttpResponse response;
        if (request.path == "/metrics") {
          response.content_type = "text/plain; version=0.0.4; charset=utf-8";
          response.body = metrics.Render();
        } else if (request.path == "/status") {
          response.content_type = "application/json";
          response.body = runnel::sidecar::StatusJson(processor.Status());
        } else if (request.path == "/healthz" || request.path == "/readyz") {
          std::string detail;
          const bool ready = processor.Ready(&detail);
          // Alive while starting; ready only once reading.
          response.status = (request.path == "/readyz" && !ready) ? 503 : 200;
          response.body = detail + "\n";
        } else {
          response = runnel::JsonError(404, "no such path: " + request.path);
        }
        std::move(respond)(std::move(response));
      });
  if (!http.ok()) {
    std::fprintf(stderr, "runnel-processor: %s\n", std::string(http.status().message()).c_str());
    return 1;
  }
  RUNNEL_LOG(INFO) << "runnel-processor serving" << runnel::Kv("http_port", (*http)->port())
                   << runnel::Kv("name", config->options.name);
  // A configuration that cannot work (found once the gateway answers) ends the process like a
  // bad flag does: the fatal status wakes the signal wait with a SIGTERM to ourselves.
  std::mutex fatal_mu;
  std::optional<absl::Status> fatal;
  processor.Start([&](absl::Status status) {
    {
      std::lock_guard lock(fatal_mu);
      fatal = std::move(status);
    }
    kill(getpid(), SIGTERM);
  });

  RUNNEL_LOG(INFO) << "stopping" << runnel::Kv("signal", stop_signals.Wait());
  processor.Shutdown();
  (*http)->Stop();
  std::lock_guard lock(fatal_mu);
  if (fatal.has_value()) {
    std::fprintf(stderr, "runnel-processor: %s\n", std::string(fatal->message()).c_str());
    return 2;
  }
  RUNNEL_LOG(INFO) << "runnel-processor stopped";
  return 0;
}
