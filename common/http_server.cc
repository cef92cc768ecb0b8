// Boost 1.74's Asio needs <utility> before it under GCC 12 in C++20 mode.
#include <utility>

#include "common/http_server.h"

#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace runnel {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpRequest ToRequest(const http::request<http::string_body>& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  std::string target(req.target());
  const size_t q = target.find('?');
  std::string path = target.substr(0, q);
  if (!PercentDecode(path, &out.path)) out.path = path;
  if (q != std::string::npos) {
    for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      std::string k, v;
      PercentDecode(kv[0], &k);
      if (kv.size() > 1) PercentDecode(kv[1], &v);
      out.query[k] = v;
    }
  }
  for (const auto& field : req) {
    out.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  out.body = req.body();
  return out;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler* handler, const HttpServerOptions* options)
      : stream_(std::move(socket)), handler_(handler), options_(options) {}

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(options_->max_body_bytes);
    stream_.expires_after(std::chrono::seconds(options_->idle_timeout_seconds));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      Close();
      return;
    }
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      Write(JsonError(413, absl::StrCat("request body is larger than the limit of ",
                                        options_->max_body_bytes, " bytes")));
      return;
    }
    if (ec) {
      keep_alive_ = false;
      Write(JsonError(400, absl::StrCat("malformed HTTP request: ", ec.message())));
      return;
    }
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    auto self = shared_from_this();
    HttpRespond respond = [self](HttpResponse response) mutable {
      // Hop onto the connection's strand: the handler may answer from any thread.
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable { self->Write(std::move(response)); });
    };
    (*handler_)(ToRequest(req), std::move(respond));
  }

  void Write(HttpResponse response) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version_);
    res->set(http::field::server, "runnel");
    res->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) {
      res->set(k, v);
    }
    res->keep_alive(keep_alive_);
    res->body() = std::move(response.body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->OnWrite(ec);
                      });
  }

  void OnWrite(beast::error_code ec) {
    if (ec || !keep_alive_) {
      Close();
      return;
    }
    Read();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler* handler_;
  const HttpServerOptions* options_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(const HttpServerOptions& options, HttpHandler handler)
      : options_(options), handler_(std::move(handler)), ioc_(options.threads),
        acceptor_(asio::make_strand(ioc_)) {}

  ~BeastHttpServer() override { Stop(); }

  absl::Status Listen() {
    beast::error_code ec;
    const auto address = asio::ip::make_address(options_.address, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTP listen address '", options_.address, "' is not an IP address"));
    }
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options_.address,
                                                 ":", options_.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec != asio::error::operation_aborted) {
          RUNNEL_LOG(WARNING) << "HTTP accept failed" << Kv("error", ec.message());
          Accept();
        }
        return;
      }
      std::make_shared<Session>(std::move(s), &handler_, &options_)->Start();
      Accept();
    });
  }

  const HttpServerOptions options_;
  const HttpHandler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse JsonError(int status, const std::string& message) {
  nlohmann::json j;
  j["error"] = message;
  return {.status = status,
          .content_type = "application/json",
          .body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

bool PercentDecode(const std::string& s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !absl::ascii_isxdigit(s[i + 1]) || !absl::ascii_isxdigit(s[i + 2])) {
        return false;
      }
      out->push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out->push_back(s[i]);
    }
  }
  return true;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              HttpHandler handler) {
  auto server = std::make_unique<BeastHttpServer>(options, std::move(handler));
  if (absl::Status s = server->Listen(); !s.ok()) {
    return s;
  }
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace runnel
