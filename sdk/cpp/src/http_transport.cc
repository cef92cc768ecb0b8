// The HTTP fallback: request-reply functions over HTTP/1.1, following riff's request-reply spec
// and streaming-http-adapter: POST / with Content-Type and Accept; 415, 406, 400, 413, 500 for
// the error cases, 405 for other methods on /, 501 for streaming functions, and /healthz,
// /readyz. The server itself (keep-alive, body limit, idle timeout, I/O threads, graceful drain)
// is common/http_server; this file is only the riff mapping. The function runs on a worker
// unless it promised not to block (FunctionOptions), in which case it answers inline on the I/O
// thread.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/http_server.h"
#include "sdk/cpp/src/transport.h"

namespace runnel::sdk::internal {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// riff's streaming-http-adapter mapping of invoker errors to HTTP statuses.
int HttpStatusOf(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kInvalidArgument) {
    std::string_view message(s.message().data(), s.message().size());
    if (StartsWith(message, kUnsupportedMediaTypePrefix)) return 415;
    if (StartsWith(message, kNotAcceptablePrefix)) return 406;
    if (StartsWith(message, kBadInputPrefix)) return 400;
  }
  return 500;
}

HttpResponse ToResponse(absl::StatusOr<Message> out) {
  if (!out.ok()) {
    return JsonError(HttpStatusOf(out.status()), std::string(out.status().message()));
  }
  // The server keeps function headers from clashing with the framing (riff spec): Content-Type
  // comes from the message, Content-Length from the payload.
  return {.status = 200,
          .content_type = std::move(out->content_type),
          .body = std::move(out->payload),
          .headers = std::move(out->headers)};
}

// Moves the header `name` out of `headers`; "" when absent.
std::string Take(Headers& headers, const std::string& name) {
  auto node = headers.extract(name);
  return node.empty() ? std::string() : std::move(node.mapped());
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(const Function& function, const ServerOptions& options, WorkerPool& workers)
      : function_(function), options_(options), workers_(workers) {}

  ~HttpTransport() override { Shutdown(std::chrono::system_clock::now()); }

  absl::Status Start() override {
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        {.address = options_.host,
         .port = options_.http_port,
         .threads = options_.http_threads < 1 ? 1 : options_.http_threads,
         .max_body_bytes = options_.max_http_body_bytes},
        [this](HttpRequest request, HttpRespond respond) {
          Handle(std::move(request), std::move(respond));
        });
    if (!server.ok()) {
      return server.status();
    }
    server_ = *std::move(server);
    return absl::OkStatus();
  }

  int port() const override { return server_->port(); }

  void Shutdown(std::chrono::system_clock::time_point deadline) override {
    if (server_) {
      server_->Shutdown(deadline);
    }
  }

 private:
  void Handle(HttpRequest request, HttpRespond respond) {
    if (request.path == "/healthz" || request.path == "/readyz") {
      if (request.method != "GET" && request.method != "HEAD") {
        std::move(respond)(MethodNotAllowed("GET, HEAD", "use GET"));
        return;
      }
      std::move(respond)(HttpResponse{.content_type = "text/plain", .body = "ok\n"});
      return;
    }
    if (request.path != "/") {
      std::move(respond)(JsonError(404, "no such path; functions are invoked with POST /"));
      return;
    }
    if (request.method != "POST") {
      std::move(respond)(MethodNotAllowed("POST", "functions are invoked with POST /"));
      return;
    }
    if (!function_.is_request_reply()) {
      std::move(respond)(JsonError(
          501, "this is a streaming function (" + std::to_string(function_.arity().inputs) +
                   " inputs, " + std::to_string(function_.arity().outputs) +
                   " outputs); invoke it over riff-rpc (gRPC) instead of HTTP"));
      return;
    }
    Message in;
    in.headers = std::move(request.headers);
    in.content_type = Take(in.headers, "content-type");
    if (in.content_type.empty()) {
      in.content_type = "application/octet-stream";
    }
    const std::string accept_text = Take(in.headers, "accept");
    in.headers.erase("content-length");
    in.headers.erase("connection");
    in.payload = std::move(request.body);
    absl::StatusOr<std::vector<MediaType>> accept = ParseAcceptList(accept_text);
    if (!accept.ok()) {
      std::move(respond)(JsonError(406, std::string(accept.status().message())));
      return;
    }
    if (!function_.options().may_block) {
      std::move(respond)(ToResponse(function_.request_reply()(std::move(in), *accept)));
      return;
    }
    workers_.Submit([this, in = std::move(in), accept = *std::move(accept),
                     respond = std::move(respond)]() mutable {
      std::move(respond)(ToResponse(function_.request_reply()(std::move(in), accept)));
    });
  }

  const Function& function_;
  const ServerOptions options_;
  WorkerPool& workers_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace

std::unique_ptr<Transport> NewHttpTransport(const Function& function, const ServerOptions& options,
                                            WorkerPool& workers) {
  return std::make_unique<HttpTransport>(function, options, workers);
}

}  // namespace runnel::sdk::internal
