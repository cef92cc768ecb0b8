#pragma once
// The one HTTP/1.1 server of Runnel, on Boost.Beast: the components' health, metrics and admin
// endpoints, the gateway's HTTP front and the function SDK's HTTP transport. Keep-alive with an
// idle timeout, bounded request bodies (413 past the limit, 400 for malformed requests), HEAD
// answered without a body, one handler for all routes that may answer inline or later from any
// thread, several I/O threads, and a graceful Shutdown that lets answers in flight finish.
// Beast and Asio types stay in the .cc.

#include <chrono>
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
  // Extra response headers. The server owns the framing: Content-Type comes from
  // `content_type`, and Content-Length, Transfer-Encoding and Connection entries here are
  // ignored, as is any name or value holding CR or LF.
  std::map<std::string, std::string> headers;
};

// Sends the response to one request. Call at most once, from any thread, while the HttpServer
// object exists (after Stop() the answer is dropped). Dropping it unanswered closes the
// connection. The connection reads no further request until it is answered.
using HttpRespond = absl::AnyInvocable<void(HttpResponse) &&>;
// Handles one request. Runs on an I/O thread: it may answer inline (the cheapest path: the
// response is written without a thread hop) or keep `respond` and answer later from another
// thread; it must not block, as it holds up every connection of its I/O thread.
using HttpHandler = std::function<void(HttpRequest, HttpRespond)>;

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  int port = 0;  // 0 picks a free port.
  // I/O threads, each running its own event loop; accepted connections are spread over them
  // round robin and stay on one thread for their life.
  int threads = 2;
  // Largest request body; larger ones get 413 and the connection is closed.
  uint64_t max_body_bytes = 1 << 20;
  // Idle keep-alive connections (and clients that stall mid-request) are closed after this long.
  int idle_timeout_seconds = 60;
  // Connections open at once, in all and from one client address (0: no limit). A connection
  // past either is closed as soon as it is accepted, so that one client (or a flood) cannot take
  // every file descriptor of the process.
  int max_connections = 4096;
  int max_connections_per_client = 256;
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
  // OK while accepting; UNAVAILABLE with the last error while accept() keeps failing (out of
  // file descriptors or memory: it is retried with backoff, 10 ms doubling to 1 s, and logged at
  // most every 10 s).
  virtual absl::Status AcceptStatus() const = 0;
  // Stops accepting, closes connections and joins the threads. Idempotent.
  virtual void Stop() = 0;
  // Stops accepting, then waits until every request handed to the handler has been answered
  // and its answer written (answers from now on ask the client to close), or until `deadline`;
  // then Stop().
  virtual void Shutdown(std::chrono::system_clock::time_point deadline) = 0;
};

// A JSON error body {"error": message} with `status`.
HttpResponse JsonError(int status, const std::string& message);
// 405 with a JSON error body and the Allow header, e.g. allow = "GET, HEAD".
HttpResponse MethodNotAllowed(const std::string& allow, const std::string& message);
// Percent-decodes `s` ("+" stays "+"). False on a malformed escape.
bool PercentDecode(const std::string& s, std::string* out);

}  // namespace runnel
