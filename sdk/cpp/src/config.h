#pragma once
// The one place the SDK reads flags and the environment (house style B.8): Run() turns argv and
// GRPC_PORT / HTTP_PORT into ServerOptions, then library code sees only the struct.

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "runnel/sdk/server.h"

namespace runnel::sdk::internal {

// Flags win over the environment; `getenv` is injected so tests need not touch the process's.
// Errors: kInvalidArgument naming the bad flag or variable.
absl::StatusOr<ServerOptions> ParseServerOptions(
    int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv);

}  // namespace runnel::sdk::internal
