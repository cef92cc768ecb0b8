#pragma once
// runnel-gateway's configuration: defaults, then a JSON file (--config, schema
// proto/runnel/config/v1/gateway.proto, unknown fields rejected), then environment variables
// (RUNNEL_GATEWAY_*), then flags. The only place the gateway reads the environment.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/server.h"

namespace runnel::gateway {

struct GatewayCommandLine {
  GatewayServerOptions server;
  std::string log_level = "info";
  std::string log_format = "text";
  bool help = false;
};

// Parses `args` (argv without the program name) and `env`. INVALID_ARGUMENT names the setting,
// its source and its value.
absl::StatusOr<GatewayCommandLine> ParseGatewayCommandLine(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

// The --help text.
std::string GatewayUsage();

}  // namespace runnel::gateway
