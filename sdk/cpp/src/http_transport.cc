// The HTTP fallback: request-reply functions over HTTP/1.1 (Boost.Beast), following riff's
// request-reply spec and streaming-http-adapter: POST / with Content-Type and Accept; 415, 406,
// 400, 413, 500 for the error cases, 405 for other methods on /, 501 for streaming functions,
// and /healthz, /readyz. One io_context; sessions follow Beast's async server example
// (shared_from_this, bind_front_handler, tcp_stream deadlines) and use error_code overloads
// only. The function runs on a worker unless it promised not to block (FunctionOptions).

#include <utility>  // Must precede Boost 1.74's Asio under GCC 12 in C++20 mode.

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <atomic>
#include <cctype>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "sdk/cpp/src/transport.h"

namespace runnel::sdk::internal {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(60);

// The edge between Beast's error_code and absl::Status (house style B.4): used for logging and
// the startup error only, as a session's errors end at its own socket.
absl::Status FromBeast(const beast::error_code& ec, std::string_view op) {
  return absl::UnavailableError(std::string(op) + ": " + ec.message());
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// riff's streaming-http-adapter mapping of invoker errors to HTTP statuses.
http::status HttpStatusOf(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kInvalidArgument) {
    if (StartsWith(std::string(s.message()), kUnsupportedMediaTypePrefix)) {
      return http::status::unsupported_media_type;
    }
    if (StartsWith(std::string(s.message()), kNotAcceptablePrefix)) {
      return http::status::not_acceptable;
    }
    if (StartsWith(std::string(s.message()), kBadInputPrefix)) {
      return http::status::bad_request;
    }
  }
  return http::status::internal_server_error;
}

// Counts requests being processed, so shutdown can wait for them.
struct InFlight {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
  void Add() {
    std::lock_guard<std::mutex> lock(mu);
    ++count;
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu);
    if (--count == 0) {
      cv.notify_all();
    }
  }
};

struct HttpContext {
  const Function& function;
  const ServerOptions& options;
  WorkerPool& workers;
  InFlight in_flight;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpContext& ctx) : stream_(std::move(socket)), ctx_(ctx) {}

  void Begin() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(ctx_.options.max_http_body_bytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::connection_reset ||
        ec == net::error::eof) {
      Close();
      return;
    }
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      SendError(http::status::payload_too_large,
                "request body exceeds " + std::to_string(ctx_.options.max_http_body_bytes) +
                    " bytes");
      return;
    }
    if (ec) {
      keep_alive_ = false;
      SendError(http::status::bad_request, "malformed HTTP request: " + ec.message());
      return;
    }
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    Route(std::move(req));
  }

  void Route(http::request<http::string_body> req) {
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/healthz" || path == "/readyz") {
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        SendError(http::status::method_not_allowed, "use GET", "GET, HEAD");
        return;
      }
      Send(http::status::ok, "text/plain", "ok\n", {});
      return;
    }
    if (path != "/") {
      SendError(http::status::not_found, "no such path; functions are invoked with POST /");
      return;
    }
    if (req.method() != http::verb::post) {
      SendError(http::status::method_not_allowed, "functions are invoked with POST /", "POST");
      return;
    }
    if (!ctx_.function.is_request_reply()) {
      SendError(http::status::not_implemented,
                "this is a streaming function (" + std::to_string(ctx_.function.arity().inputs) +
                    " inputs, " + std::to_string(ctx_.function.arity().outputs) +
                    " outputs); invoke it over riff-rpc (gRPC) instead of HTTP");
      return;
    }
    Message in;
    in.content_type = std::string(req[http::field::content_type]);
    if (in.content_type.empty()) {
      in.content_type = "application/octet-stream";
    }
    std::string accept_text(req[http::field::accept]);
    for (const auto& field : req) {
      if (field.name() == http::field::content_type || field.name() == http::field::accept ||
          field.name() == http::field::content_length || field.name() == http::field::connection) {
        continue;
      }
      std::string name(field.name_string());
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      in.headers.emplace(std::move(name), std::string(field.value()));
    }
    in.payload = std::move(req.body());
    absl::StatusOr<std::vector<MediaType>> accept = ParseAcceptList(accept_text);
    if (!accept.ok()) {
      SendError(http::status::not_acceptable, std::string(accept.status().message()));
      return;
    }
    ctx_.in_flight.Add();
    if (!ctx_.function.options().may_block) {
      Respond(ctx_.function.request_reply()(std::move(in), *accept));
      return;
    }
    ctx_.workers.Submit([self = shared_from_this(), in = std::move(in),
                         accept = *std::move(accept)]() mutable {
      absl::StatusOr<Message> out = self->ctx_.function.request_reply()(std::move(in), accept);
      net::post(self->stream_.get_executor(),
                [self, out = std::move(out)]() mutable { self->Respond(std::move(out)); });
    });
  }

  void Respond(absl::StatusOr<Message> out) {
    ctx_.in_flight.Done();
    if (!out.ok()) {
      SendError(HttpStatusOf(out.status()), std::string(out.status().message()));
      return;
    }
    Send(http::status::ok, out->content_type, std::move(out->payload), out->headers);
  }

  void SendError(http::status status, const std::string& message, std::string_view allow = {}) {
    nlohmann::json body = {{"error", message}};
    Headers headers;
    if (!allow.empty()) {
      headers.emplace("allow", std::string(allow));
    }
    Send(status, "application/json",
         body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", headers);
  }

  void Send(http::status status, std::string_view content_type, std::string body,
            const Headers& headers) {
    res_ = {};
    res_.result(status);
    res_.version(version_);
    for (const auto& [k, v] : headers) {
      if (beast::iequals(k, "content-type") || beast::iequals(k, "content-length")) {
        continue;  // Never let a function header clash with the framing (riff spec).
      }
      res_.set(k, v);
    }
    res_.set(http::field::content_type, std::string(content_type));
    res_.keep_alive(keep_alive_);
    res_.body() = std::move(body);
    res_.prepare_payload();
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec || !keep_alive_) {
      Close();
      return;
    }
    DoRead();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  HttpContext& ctx_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

class HttpTransport final : public Transport {
 public:
  HttpTransport(const Function& function, const ServerOptions& options, WorkerPool& workers)
      : options_(options),
        ctx_{.function = function, .options = options_, .workers = workers, .in_flight = {}},
        ioc_(options.http_threads < 1 ? 1 : options.http_threads),
        acceptor_(net::make_strand(ioc_)) {}

  ~HttpTransport() override { Shutdown(std::chrono::system_clock::now()); }

  absl::Status Start() override {
    beast::error_code ec;
    net::ip::address address = net::ip::make_address(options_.host, ec);
    if (ec) {
      return absl::InvalidArgumentError("HTTP server: bad host '" + options_.host + "'");
    }
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.http_port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor_.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return FromBeast(ec, "HTTP server: listen on " + options_.host + ":" +
                               std::to_string(options_.http_port));
    }
    port_ = acceptor_.local_endpoint(ec).port();
    DoAccept();
    int n = options_.http_threads < 1 ? 1 : options_.http_threads;
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Shutdown(std::chrono::system_clock::time_point deadline) override {
    if (threads_.empty() || shut_down_.exchange(true)) {
      return;
    }
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    {
      std::unique_lock<std::mutex> lock(ctx_.in_flight.mu);
      ctx_.in_flight.cv.wait_until(lock, deadline, [&] { return ctx_.in_flight.count == 0; });
    }
    ioc_.stop();
    for (std::thread& t : threads_) {
      t.join();
    }
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec != net::error::operation_aborted) {
          RUNNEL_LOG(WARNING) << FromBeast(ec, "HTTP accept").ToString();
        }
        if (!acceptor_.is_open()) {
          return;
        }
      } else {
        s.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(s), ctx_)->Begin();
      }
      DoAccept();
    });
  }

  const ServerOptions options_;
  HttpContext ctx_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace

std::unique_ptr<Transport> NewHttpTransport(const Function& function, const ServerOptions& options,
                                            WorkerPool& workers) {
  return std::make_unique<HttpTransport>(function, options, workers);
}

}  // namespace runnel::sdk::internal
