#pragma once
// A small HTTP/1.1 server on Boost.Beast for the components' health, metrics and admin
// endpoints: keep-alive, bounded request bodies (413 past the limit), one handler for all
// routes. Beast and Asio types stay in the .cc.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace runnel {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // Percent-decoded, without the query.
  std::map<std::string, std::string> query;    // Percent-decoded.
  std::map<std::string, std::string> headers;  // Names lower-cased.
  std::string body;

  // The header's value, or "" when absent. `name` lower-case.
  std::string Header(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

// Sends the response to one request. Call exactly once, from any thread.
using HttpRespond = absl::AnyInvocable<void(HttpResponse) &&>;
// Handles one request. Runs on a server thread; may block briefly (it is our thread, not
// gRPC's), or keep `respond` and answer later from another thread.
using HttpHandler = std::function<void(HttpRequest, HttpRespond)>;

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  int port = 0;  // 0 picks a free port.
  int threads = 2;
  uint64_t max_body_bytes = 1 << 20;
  // Idle keep-alive connections are closed after this long.
  int idle_timeout_seconds = 60;
};

// Thread-safe. Destruction stops it.
class HttpServer {
 public:
  // Binds and starts serving. INVALID_ARGUMENT for a bad address, UNAVAILABLE if the port is
  // taken (the message names it).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           HttpHandler handler);
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // Stops accepting, closes connections and joins the threads. Idempotent.
  virtual void Stop() = 0;
};

// A JSON error body {"error": message} with `status`.
HttpResponse JsonError(int status, const std::string& message);
// Percent-decodes `s` ("+" stays "+"). False on a malformed escape.
bool PercentDecode(const std::string& s, std::string* out);

}  // namespace runnel
