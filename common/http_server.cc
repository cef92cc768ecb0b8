// Boost 1.74's Asio needs <utility> before it under GCC 12 in C++20 mode.
#include <utility>

#include "common/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace runnel {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Executor = asio::io_context::executor_type;
// The stream and socket on the concrete io_context executor rather than any_io_executor: no
// type-erased executor copies on every operation.
using Stream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using Socket = Stream::socket_type;

HttpRequest ToRequest(http::request<http::string_body>&& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  absl::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  const std::string path(target.substr(0, q));
  if (!PercentDecode(path, &out.path)) out.path = path;
  if (q != absl::string_view::npos) {
    for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      std::string k, v;
      PercentDecode(kv[0], &k);
      if (kv.size() > 1) PercentDecode(kv[1], &v);
      out.query[k] = v;
    }
  }
  for (const auto& field : req) {
    std::string name(field.name_string());
    absl::AsciiStrToLower(&name);
    out.headers.insert_or_assign(std::move(name), std::string(field.value()));
  }
  out.body = std::move(req.body());
  return out;
}

// Response header names the server writes itself, or that would change the framing.
bool IsFramingHeader(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "content-type") ||
         absl::EqualsIgnoreCase(name, "content-length") ||
         absl::EqualsIgnoreCase(name, "transfer-encoding") ||
         absl::EqualsIgnoreCase(name, "connection");
}

bool HasLineBreak(absl::string_view s) {
  return s.find_first_of("\r\n") != absl::string_view::npos;
}

class Session;

// What the sessions of one server share. Outlives every session (the I/O contexts, which own
// the sessions' pending handlers, are destroyed before it).
struct ServerState {
  ServerState(const HttpServerOptions& o, HttpHandler h)
      : options(o),
        handler(std::move(h)),
        idle_timeout(std::chrono::seconds(o.idle_timeout_seconds)) {}

  // A request handed to the handler has been answered and written, or abandoned.
  void Done() {
    if (in_flight.fetch_sub(1) == 1 && draining.load()) {
      std::lock_guard<std::mutex> lock(mu);
      drained.notify_all();
    }
  }

  const HttpServerOptions options;
  const HttpHandler handler;
  const std::chrono::seconds idle_timeout;
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> draining{false};
  std::mutex mu;
  std::condition_variable drained;
  // Every live session, so that Stop() can close their connections; changed on connect and
  // disconnect only.
  std::mutex sessions_mu;
  std::unordered_set<Session*> sessions;  // GUARDED_BY(sessions_mu)
  // Live sessions per client address, for max_connections_per_client.
  std::unordered_map<std::string, int> per_client;  // GUARDED_BY(sessions_mu)
};

// One connection, following Beast's async server example: shared_from_this keeps it alive while
// an operation or an unanswered request refers to it; all its work runs on its I/O thread (one
// thread per io_context, so no strand is needed).
class Session : public std::enable_shared_from_this<Session> {
 public:
  // REQUIRES: state->sessions_mu held (the accept loop admits and registers in one step).
  Session(Socket socket, Executor ex, ServerState* state, std::string client)
      : stream_(std::move(socket)), ex_(ex), state_(state), client_(std::move(client)) {
    state_->sessions.insert(this);
    ++state_->per_client[client_];
  }

  ~Session() {
    {
      std::lock_guard<std::mutex> lock(state_->sessions_mu);
      state_->sessions.erase(this);
      if (--state_->per_client[client_] == 0) state_->per_client.erase(client_);
    }
    if (outstanding_) state_->Done();  // The handler dropped `respond` unanswered.
  }

  // REQUIRES: no I/O thread runs (Stop() joined them).
  void CloseSocket() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

  void Start() {
    asio::dispatch(ex_, beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(state_->options.max_body_bytes);
    ArmIdleTimer();
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      Close();
      return;
    }
    head_ = false;
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      Write(JsonError(413, absl::StrCat("request body is larger than the limit of ",
                                        state_->options.max_body_bytes, " bytes")));
      return;
    }
    if (ec) {
      keep_alive_ = false;
      Write(JsonError(400, absl::StrCat("malformed HTTP request: ", ec.message())));
      return;
    }
    http::request<http::string_body>& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = req.method() == http::verb::head;
    HttpRequest request = ToRequest(std::move(req));
    outstanding_ = true;
    state_->in_flight.fetch_add(1);
    HttpRespond respond = [self = shared_from_this()](HttpResponse response) mutable {
      if (self->ex_.running_in_this_thread()) {
        self->Write(std::move(response));  // Answered inline: no hop.
        return;
      }
      asio::post(self->ex_, [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    };
    state_->handler(std::move(request), std::move(respond));
  }

  // Serializes the head by hand and writes head and body with one gathered write.
  void Write(HttpResponse response) {
    if (state_->draining.load()) keep_alive_ = false;
    if (response.status < 100 || response.status > 999) response.status = 500;
    if (HasLineBreak(response.content_type)) response.content_type = "application/octet-stream";
    head_buf_.clear();
    absl::StrAppend(&head_buf_, version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", response.status, " ");
    const beast::string_view reason =
        http::obsolete_reason(static_cast<http::status>(response.status));
    head_buf_.append(reason.data(), reason.size());
    absl::StrAppend(&head_buf_, "\r\nServer: runnel\r\nContent-Type: ", response.content_type,
                    "\r\nContent-Length: ", response.body.size(), "\r\n");
    for (const auto& [name, value] : response.headers) {
      if (name.empty() || IsFramingHeader(name) || HasLineBreak(name) || HasLineBreak(value) ||
          name.find(':') != std::string::npos) {
        continue;
      }
      absl::StrAppend(&head_buf_, name, ": ", value, "\r\n");
    }
    if (!keep_alive_) {
      head_buf_.append("Connection: close\r\n");
    } else if (version_ == 10) {
      head_buf_.append("Connection: keep-alive\r\n");
    }
    head_buf_.append("\r\n");
    body_ = std::move(response.body);
    if (head_) body_.clear();  // HEAD: the headers of the GET answer, no body.
    // The deadline armed for the read still has most of its time when the answer is quick:
    // re-arming a Beast timer twice per request costs more than this clock read.
    if (std::chrono::steady_clock::now() - armed_at_ > state_->idle_timeout / 2) ArmIdleTimer();
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_buf_), asio::buffer(body_)};
    asio::async_write(stream_, buffers,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void ArmIdleTimer() {
    armed_at_ = std::chrono::steady_clock::now();
    stream_.expires_at(armed_at_ + state_->idle_timeout);
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (outstanding_) {
      outstanding_ = false;
      state_->Done();
    }
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

  Stream stream_;
  const Executor ex_;
  ServerState* const state_;
  const std::string client_;  // The peer's address.
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string head_buf_;
  std::string body_;
  std::chrono::steady_clock::time_point armed_at_;  // When the idle deadline was last set.
  bool keep_alive_ = true;
  bool head_ = false;
  bool outstanding_ = false;  // A request is with the handler or its answer is being written.
  unsigned version_ = 11;
};

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(const HttpServerOptions& options, HttpHandler handler)
      : state_(options, std::move(handler)) {
    for (int i = 0; i < std::max(1, options.threads); ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
    acceptor_.emplace(*contexts_[0]);
    retry_timer_.emplace(*contexts_[0]);
  }

  ~BeastHttpServer() override {
    Stop();
    retry_timer_.reset();
    acceptor_.reset();  // Before the io_contexts it belongs to.
  }

  absl::Status Listen() {
    const HttpServerOptions& options = state_.options;
    beast::error_code ec;
    const auto address = asio::ip::make_address(options.address, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTP listen address '", options.address, "' is not an IP address"));
    }
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options.address,
                                                 ":", options.port, ": ", ec.message()));
    }
    port_ = acceptor_->local_endpoint().port();
    // Asio builds an io_context's reactor (an epoll fd and an eventfd) on first use and throws if
    // it cannot: build every context's now, not when it gets its first connection, which may be
    // when the process is out of descriptors (the throw would end the process).
    for (auto& context : contexts_) {
      tcp::socket probe(*context);
      probe.open(endpoint.protocol(), ec);
      probe.close(ec);
    }
    Accept();
    for (auto& context : contexts_) {
      threads_.emplace_back([c = context.get()] { c->run(); });
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  absl::Status AcceptStatus() const override {
    std::lock_guard<std::mutex> lock(accept_mu_);
    return accept_status_;
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    for (auto& guard : guards_) guard.reset();
    for (auto& context : contexts_) context->stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    beast::error_code ec;
    acceptor_->close(ec);  // No I/O thread runs any more.
    // Close the connections now: their sessions may live on in unanswered `respond`s and in
    // the stopped io_contexts' queues until this object goes.
    std::lock_guard<std::mutex> lock(state_.sessions_mu);
    for (Session* session : state_.sessions) session->CloseSocket();
  }

  void Shutdown(std::chrono::system_clock::time_point deadline) override {
    if (stopped_.load()) return;
    asio::post(*contexts_[0], [this] {
      beast::error_code ec;
      acceptor_->close(ec);
    });
    state_.draining.store(true);
    {
      std::unique_lock<std::mutex> lock(state_.mu);
      state_.drained.wait_until(lock, deadline, [&] { return state_.in_flight.load() == 0; });
    }
    Stop();
  }

 private:
  // The accept loop runs on contexts_[0]'s thread.
  void Accept() {
    const Executor ex = contexts_[next_context_++ % contexts_.size()]->get_executor();
    acceptor_->async_accept(ex, [this, ex](beast::error_code ec, Socket s) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
        if (ec == asio::error::connection_aborted || ec == asio::error::interrupted ||
            ec == asio::error::would_block) {
          Accept();
          return;
        }
        // Out of descriptors (EMFILE, ENFILE) or memory: retrying at once fails again and
        // spins (100 % CPU and a flood of log lines). Back off; waiting clients stay queued.
        AcceptFailed(ec);
        return;
      }
      if (backoff_.count() > 0) {
        backoff_ = std::chrono::milliseconds(0);
        RUNNEL_LOG(INFO) << "HTTP accepting connections again";
        std::lock_guard<std::mutex> lock(accept_mu_);
        accept_status_ = absl::OkStatus();
      }
      Admit(std::move(s), ex);
      Accept();
    });
  }

  void AcceptFailed(const beast::error_code& ec) {
    backoff_ = std::clamp<std::chrono::milliseconds>(backoff_ * 2, std::chrono::milliseconds(10),
                                                     std::chrono::milliseconds(1000));
    ++accept_failures_;
    {
      std::lock_guard<std::mutex> lock(accept_mu_);
      accept_status_ = absl::UnavailableError(
          absl::StrCat("the HTTP port cannot accept connections: ", ec.message()));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_accept_log_) {
      RUNNEL_LOG(WARNING) << "HTTP accept failed; retrying with backoff"
                          << Kv("error", ec.message()) << Kv("failures", accept_failures_)
                          << Kv("retry_ms", backoff_.count());
      accept_failures_ = 0;
      next_accept_log_ = now + std::chrono::seconds(10);
    }
    retry_timer_->expires_after(backoff_);
    retry_timer_->async_wait([this](beast::error_code wait_ec) {
      if (wait_ec || !acceptor_->is_open()) return;
      Accept();
    });
  }

  // Starts a session for `s`, or closes it at once past the connection limits.
  void Admit(Socket s, Executor ex) {
    beast::error_code ec;
    s.set_option(tcp::no_delay(true), ec);
    const tcp::endpoint peer = s.remote_endpoint(ec);
    std::string client = ec ? std::string("unknown") : peer.address().to_string();
    const HttpServerOptions& o = state_.options;
    std::shared_ptr<Session> session;
    {
      std::lock_guard<std::mutex> lock(state_.sessions_mu);
      const bool over_total =
          o.max_connections > 0 && state_.sessions.size() >= static_cast<size_t>(o.max_connections);
      auto it = state_.per_client.find(client);
      const bool over_client = o.max_connections_per_client > 0 && it != state_.per_client.end() &&
                               it->second >= o.max_connections_per_client;
      if (!over_total && !over_client) {
        session = std::make_shared<Session>(std::move(s), ex, &state_, std::move(client));
      } else {
        ++refused_;
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_refusal_log_) {
          RUNNEL_LOG(WARNING) << "refusing HTTP connections: too many open"
                              << Kv("client", client) << Kv("open", state_.sessions.size())
                              << Kv("max_connections", o.max_connections)
                              << Kv("max_connections_per_client", o.max_connections_per_client)
                              << Kv("refused", refused_);
          refused_ = 0;
          next_refusal_log_ = now + std::chrono::seconds(10);
        }
      }
    }
    if (session == nullptr) {
      s.close(ec);
      return;
    }
    session->Start();
  }

  ServerState state_;  // Before the io_contexts: their pending handlers hold sessions.
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> retry_timer_;  // Accept's backoff.
  // The accept loop's state, on contexts_[0]'s thread only.
  size_t next_context_ = 0;
  std::chrono::milliseconds backoff_{0};
  int64_t accept_failures_ = 0;  // Since the last log line.
  int64_t refused_ = 0;          // Since the last log line.
  std::chrono::steady_clock::time_point next_accept_log_{};
  std::chrono::steady_clock::time_point next_refusal_log_{};
  mutable std::mutex accept_mu_;
  absl::Status accept_status_;  // GUARDED_BY(accept_mu_)
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

HttpResponse MethodNotAllowed(const std::string& allow, const std::string& message) {
  HttpResponse response = JsonError(405, message);
  response.headers["allow"] = allow;
  return response;
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
