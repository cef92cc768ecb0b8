#include "sdk/cpp/src/config.h"

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace runnel::sdk::internal {
namespace {

absl::StatusOr<long long> ParseInt(std::string_view what, std::string_view text, long long lo,
                                   long long hi) {
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    return absl::InvalidArgumentError(std::string(what) + ": expected an integer in [" +
                                      std::to_string(lo) + ", " + std::to_string(hi) +
                                      "], got '" + std::string(text) + "'");
  }
  return v;
}

}  // namespace

absl::StatusOr<ServerOptions> ParseServerOptions(
    int argc, const char* const* argv, const std::function<const char*(const char*)>& getenv) {
  ServerOptions o;
  if (const char* v = getenv("GRPC_PORT"); v != nullptr && *v != '\0') {
    absl::StatusOr<long long> p = ParseInt("GRPC_PORT", v, 0, 65535);
    if (!p.ok()) {
      return p.status();
    }
    o.grpc_port = static_cast<int>(*p);
  }
  if (const char* v = getenv("HTTP_PORT"); v != nullptr && *v != '\0') {
    absl::StatusOr<long long> p = ParseInt("HTTP_PORT", v, -1, 65535);
    if (!p.ok()) {
      return p.status();
    }
    o.http_port = static_cast<int>(*p);
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    size_t eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : arg.substr(eq + 1);
    if (eq == std::string_view::npos && i + 1 < argc && name.starts_with("--")) {
      value = argv[++i];
    }
    absl::StatusOr<long long> n;
    if (name == "--grpc-port") {
      n = ParseInt(name, value, 0, 65535);
      o.grpc_port = static_cast<int>(n.value_or(0));
    } else if (name == "--http-port") {
      n = ParseInt(name, value, -1, 65535);
      o.http_port = static_cast<int>(n.value_or(0));
    } else if (name == "--host") {
      o.host = std::string(value);
      n = 0;
    } else if (name == "--max-body-bytes") {
      n = ParseInt(name, value, 1, 1LL << 32);
      o.max_http_body_bytes = static_cast<size_t>(n.value_or(1));
    } else if (name == "--shutdown-grace-ms") {
      n = ParseInt(name, value, 0, 3600 * 1000);
      o.shutdown_grace = std::chrono::milliseconds(n.value_or(0));
    } else if (name == "--http-threads") {
      n = ParseInt(name, value, 1, 64);
      o.http_threads = static_cast<int>(n.value_or(1));
    } else {
      return absl::InvalidArgumentError(
          "unknown flag '" + std::string(arg) +
          "'; known: --grpc-port, --http-port, --host, --max-body-bytes, --shutdown-grace-ms, "
          "--http-threads");
    }
    if (!n.ok()) {
      return n.status();
    }
  }
  return o;
}

}  // namespace runnel::sdk::internal
