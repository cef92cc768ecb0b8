// The Beast shell around http_function.h. Everything below runs on the transport's one I/O
// thread except the public entry points (Start, Send, Close, Cancel, WaitReady), which only post
// to it; so no state here needs a lock.
// Output flow control (FunctionCallCallbacks::may_read): a paused call's requests are parked
// instead of started (requests in flight finish), and go back to the front of the queue when the
// call resumes. Connections follow Beast's async client example
// (shared_from_this, tcp_stream deadlines, error_code overloads).

#include <utility>  // Must precede Boost 1.74's Asio under GCC 12 in C++20 mode.

#include "sidecar/http_function_transport.h"

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "sidecar/http_function.h"

namespace runnel::sidecar {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

SteadyTime ToSteady(absl::Time t) {
  if (t == absl::InfiniteFuture()) return SteadyTime::max();
  return std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(t - absl::Now());
}

class HttpCall;
class HttpFunctionTransport;

// One record's POST, from its first attempt to its result.
struct PendingRequest {
  std::shared_ptr<HttpCall> call;
  size_t index = 0;  // Position in the call: the order its result is handed out in.
  http::request<http::string_body> request;
  int failures = 0;          // Failed attempts so far.
  bool stale_retry = false;  // Already retried once after a stale keep-alive connection.
};

// What one attempt on a connection produced.
struct Exchange {
  beast::error_code ec;
  const char* stage = "";  // "resolve", "connect", "write", "read": where `ec` happened.
  bool reused = false;     // The connection had served a request before.
  HttpFunctionResponse response;
};

// One keep-alive connection; runs one request at a time. Reconnects when the previous exchange
// closed it.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Done = std::function<void(std::shared_ptr<Connection>, std::unique_ptr<PendingRequest>,
                                  Exchange)>;

  Connection(asio::io_context& ioc, const HttpFunctionOptions& options)
      : options_(options), resolver_(ioc), stream_(ioc) {}

  void Run(std::unique_ptr<PendingRequest> request, SteadyTime deadline, Done done) {
    request_ = std::move(request);
    done_ = std::move(done);
    exchange_ = Exchange{};
    exchange_.reused = connected_;
    // One deadline for the whole exchange: connect, write and read (tcp_stream applies it to
    // every operation until changed).
    stream_.expires_at(deadline);
    deadline_ = deadline;
    if (connected_) {
      Write();
      return;
    }
    exchange_.stage = "resolve";
    resolver_.async_resolve(options_.host, std::to_string(options_.port),
                            [self = shared_from_this()](beast::error_code ec,
                                                        tcp::resolver::results_type results) {
                              self->OnResolve(ec, std::move(results));
                            });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    connected_ = false;
    buffer_.consume(buffer_.size());
  }

 private:
  void OnResolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return Finish(ec);
    if (std::chrono::steady_clock::now() >= deadline_) return Finish(beast::error::timeout);
    exchange_.stage = "connect";
    stream_.async_connect(results, [self = shared_from_this()](beast::error_code ec,
                                                               const tcp::endpoint&) {
      if (ec) return self->Finish(ec);
      self->connected_ = true;
      beast::error_code ignored;
      self->stream_.socket().set_option(tcp::no_delay(true), ignored);
      self->Write();
    });
  }

  void Write() {
    exchange_.stage = "write";
    http::async_write(stream_, request_->request,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Finish(ec);
                        self->Read();
                      });
  }

  void Read() {
    exchange_.stage = "read";
    parser_.emplace();
    parser_->body_limit(options_.max_response_bytes);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Finish(ec);
                       self->OnResponse();
                     });
  }

  void OnResponse() {
    http::response<http::string_body> res = parser_->release();
    parser_.reset();
    HttpFunctionResponse& out = exchange_.response;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      if (field.name() == http::field::content_type) {
        out.content_type = std::string(field.value());
      } else {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
    }
    const bool keep_alive = res.keep_alive();
    out.body = std::move(res.body());
    if (!keep_alive) Close();
    Finish({});
  }

  void Finish(beast::error_code ec) {
    exchange_.ec = ec;
    if (ec) Close();  // A failed exchange leaves the stream in an unknown state.
    Done done = std::move(done_);
    done(shared_from_this(), std::move(request_), std::move(exchange_));
  }

  const HttpFunctionOptions& options_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  bool connected_ = false;
  SteadyTime deadline_;
  std::unique_ptr<PendingRequest> request_;
  Done done_;
  Exchange exchange_;
};

// Metrics, looked up once. Status-code counters are created on first use (I/O thread only).
struct HttpMetrics {
  explicit HttpMetrics(MetricsRegistry& registry) : registry(registry) {
    request_seconds = &registry.GetHistogram(
        "runnel_processor_function_request_seconds",
        "Function requests: time from sending to the whole response (each attempt).",
        {{"transport", "http"}});
    registry.AddCollector([in_flight = in_flight](std::string* out) {
      absl::StrAppend(out,
                      "# HELP runnel_processor_function_requests_in_flight Function requests "
                      "sent and not yet answered.\n"
                      "# TYPE runnel_processor_function_requests_in_flight gauge\n"
                      "runnel_processor_function_requests_in_flight{transport=\"http\"} ",
                      in_flight->load(std::memory_order_relaxed), "\n");
    });
  }

  Counter& Requests(const std::string& code) {
    Counter*& c = requests[code];
    if (c == nullptr) {
      c = &registry.GetCounter("runnel_processor_function_requests_total",
                               "Function requests completed, by HTTP status ('error', "
                               "'timeout': no response).",
                               {{"transport", "http"}, {"code", code}});
    }
    return *c;
  }
  Counter& Retries(const std::string& reason) {
    Counter*& c = retries[reason];
    if (c == nullptr) {
      c = &registry.GetCounter("runnel_processor_function_retries_total",
                               "Function requests retried, by reason.",
                               {{"transport", "http"}, {"reason", reason}});
    }
    return *c;
  }

  MetricsRegistry& registry;
  Histogram* request_seconds = nullptr;
  std::map<std::string, Counter*> requests;
  std::map<std::string, Counter*> retries;
  std::shared_ptr<std::atomic<int64_t>> in_flight = std::make_shared<std::atomic<int64_t>>(0);
};

// One window's requests. State is owned by the I/O thread; the FunctionCall methods post to it.
class HttpCall final : public FunctionCall, public std::enable_shared_from_this<HttpCall> {
 public:
  HttpCall(HttpFunctionTransport& transport, streaming::StartFrame start,
           FunctionCallCallbacks callbacks)
      : transport_(transport),
        callbacks_(std::move(callbacks)),
        accept_(start.expectedcontenttypes_size() > 0 ? start.expectedcontenttypes(0) : "*/*"),
        has_output_(start.outputnames_size() > 0) {}

  // FunctionCall
  void Send(streaming::InputFrame frame) override;
  void Close() override;
  void Cancel() override;

  // I/O thread.
  void Begin(absl::Time deadline);
  void Complete(size_t index, HttpVerdict verdict);
  bool done() const { return done_; }
  bool paused() const { return paused_; }
  // Keeps a request of a paused call until it resumes.
  void Park(std::unique_ptr<PendingRequest> request) { parked_.push_back(std::move(request)); }
  SteadyTime deadline() const { return deadline_; }

 private:
  void OnSend(streaming::InputFrame frame);
  // After an output was handed over: asks may_read, pausing the call on a no.
  void AskToReadOn();
  void OnResume(uint64_t ticket);
  void MaybeFinish() {
    if (closed_ && results_.pending() == 0) Finish(absl::OkStatus());
  }
  void Finish(absl::Status status) {
    if (done_) return;
    done_ = true;
    parked_.clear();  // They point back at this call.
    if (deadline_timer_) deadline_timer_->cancel();
    std::move(callbacks_.on_done)(std::move(status));
  }

  HttpFunctionTransport& transport_;
  FunctionCallCallbacks callbacks_;
  const std::string accept_;
  const bool has_output_;  // False for a sink: results are dropped.
  // I/O thread.
  ReorderBuffer<HttpVerdict> results_;
  size_t handed_out_ = 0;  // Index of the next result to hand out.
  bool closed_ = false;
  bool done_ = false;
  bool paused_ = false;  // may_read said no: no new request starts.
  uint64_t pause_ticket_ = 0;
  std::deque<std::unique_ptr<PendingRequest>> parked_;  // Requests held back while paused.
  SteadyTime deadline_ = SteadyTime::max();
  std::unique_ptr<asio::steady_timer> deadline_timer_;
};

class HttpFunctionTransport final : public FunctionTransport {
 public:
  HttpFunctionTransport(const HttpFunctionOptions& options, const RetryOptions& retry,
                        MetricsRegistry& metrics)
      : options_(options),
        retry_(retry),
        metrics_(metrics),
        work_(asio::make_work_guard(ioc_)),
        thread_([this] { ioc_.run(); }) {}

  ~HttpFunctionTransport() override {
    // Stop, then join: handlers still queued (a cancelled call's requests) are destroyed with the
    // io_context, never run.
    work_.reset();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::shared_ptr<FunctionCall> Start(streaming::StartFrame start, absl::Time deadline,
                                      FunctionCallCallbacks callbacks) override {
    auto call = std::make_shared<HttpCall>(*this, std::move(start), std::move(callbacks));
    Post([call, deadline] { call->Begin(deadline); });
    return call;
  }

  // A TCP connection to the function's address (functions need answer nothing but POST).
  bool WaitReady(absl::Time deadline) override {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec) return false;
    beast::tcp_stream stream(ioc);
    stream.expires_at(ToSteady(deadline));
    bool connected = false;
    stream.async_connect(results, [&](beast::error_code e, const tcp::endpoint&) {
      connected = !e;
    });
    ioc.run();
    return connected;
  }

  void Post(std::function<void()> task) { asio::post(ioc_, std::move(task)); }
  asio::io_context& ioc() { return ioc_; }
  const HttpFunctionOptions& options() const { return options_; }

  // I/O thread: queues a request; `front` for one that must not lose its place.
  void Enqueue(std::unique_ptr<PendingRequest> request, bool front = false) {
    if (front) {
      queue_.push_front(std::move(request));
    } else {
      queue_.push_back(std::move(request));
    }
    Pump();
  }

  // I/O thread: a resumed call's parked requests, in their order, at the front: they have
  // waited longest.
  void Unpark(std::deque<std::unique_ptr<PendingRequest>> parked) {
    while (!parked.empty()) {
      queue_.push_front(std::move(parked.back()));
      parked.pop_back();
    }
    Pump();
  }

 private:
  // Starts queued requests while fewer than max_inflight run. Each running request holds one
  // connection, so connections never outnumber max_inflight.
  void Pump() {
    while (in_flight_ < options_.max_inflight && !queue_.empty()) {
      std::unique_ptr<PendingRequest> request = std::move(queue_.front());
      queue_.pop_front();
      if (request->call->done()) continue;  // Cancelled, failed or past its deadline.
      if (request->call->paused()) {
        request->call->Park(std::move(request));
        continue;
      }
      std::shared_ptr<Connection> connection;
      if (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
      } else {
        connection = std::make_shared<Connection>(ioc_, options_);
      }
      ++in_flight_;
      metrics_.in_flight->store(in_flight_, std::memory_order_relaxed);
      const SteadyTime deadline =
          std::min(std::chrono::steady_clock::now() +
                       absl::ToChronoNanoseconds(options_.request_timeout),
                   request->call->deadline());
      connection->Run(std::move(request), deadline,
                      [this, started = std::chrono::steady_clock::now()](
                          std::shared_ptr<Connection> c, std::unique_ptr<PendingRequest> r,
                          Exchange e) {
                        OnExchange(std::move(c), std::move(r), std::move(e), started);
                      });
    }
  }

  void OnExchange(std::shared_ptr<Connection> connection, std::unique_ptr<PendingRequest> request,
                  Exchange exchange, SteadyTime started) {
    --in_flight_;
    metrics_.in_flight->store(in_flight_, std::memory_order_relaxed);
    idle_.push_back(std::move(connection));
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
    if (exchange.ec) {
      // A keep-alive connection the server closed while idle fails on first use; that says
      // nothing about the function, so go again at once on a fresh connection (once).
      const bool stale = exchange.reused && !request->stale_retry &&
                         exchange.ec != beast::error::timeout &&
                         (exchange.ec == http::error::end_of_stream ||
                          exchange.ec == asio::error::connection_reset ||
                          exchange.ec == asio::error::broken_pipe ||
                          exchange.ec == asio::error::eof);
      if (stale) {
        request->stale_retry = true;
        Enqueue(std::move(request), /*front=*/true);
        return;
      }
      const bool timeout = exchange.ec == beast::error::timeout;
      metrics_.Requests(timeout ? "timeout" : "error").Add();
      // The edge between Beast's error_code and absl::Status.
      absl::Status status =
          timeout ? absl::DeadlineExceededError(absl::StrCat(
                        "POST ", options_.url, ": no complete response within ",
                        absl::FormatDuration(options_.request_timeout), " (", exchange.stage,
                        ")"))
                  : absl::UnavailableError(absl::StrCat("POST ", options_.url, ": ",
                                                        exchange.stage, ": ",
                                                        exchange.ec.message()));
      Retry(std::move(request), std::move(status), {}, timeout ? "timeout" : "connection");
      return;
    }
    metrics_.request_seconds->Observe(seconds.count());
    metrics_.Requests(absl::StrCat(exchange.response.status)).Add();
    if (request->call->done()) return;
    HttpVerdict verdict = ClassifyResponse(std::move(exchange.response), options_.url);
    if (verdict.kind == HttpVerdict::Kind::kRetry) {
      Retry(std::move(request), std::move(verdict.status), std::move(verdict.detail),
            absl::StrCat(exchange.response.status));
      return;
    }
    request->call->Complete(request->index, std::move(verdict));
    Pump();
  }

  // After a failed attempt: again after a back-off, or refused once the policy gives up.
  void Retry(std::unique_ptr<PendingRequest> request, absl::Status status,
             std::map<std::string, std::string> detail, const std::string& reason) {
    HttpCall& call = *request->call;
    if (call.done()) {
      Pump();
      return;
    }
    ++request->failures;
    if (!retry_.ShouldRetry(request->failures)) {
      RUNNEL_LOG(WARNING) << "function request failed; giving up"
                          << Kv("attempts", request->failures) << Kv("status", status.ToString());
      HttpVerdict verdict;
      verdict.kind = HttpVerdict::Kind::kReject;
      verdict.status = std::move(status);
      verdict.detail = std::move(detail);
      call.Complete(request->index, std::move(verdict));
      Pump();
      return;
    }
    const absl::Duration delay = retry_.Delay(request->failures);
    metrics_.Retries(reason).Add();
    RUNNEL_LOG(DEBUG) << "function request failed; retrying" << Kv("attempt", request->failures)
                      << Kv("retry_in", delay) << Kv("status", status.ToString());
    auto timer = std::make_shared<asio::steady_timer>(ioc_, absl::ToChronoNanoseconds(delay));
    timer->async_wait([this, timer, request = std::move(request)](beast::error_code) mutable {
      Enqueue(std::move(request));
    });
    Pump();
  }

  const HttpFunctionOptions options_;
  RetryPolicy retry_;  // I/O thread.
  HttpMetrics metrics_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  // I/O thread.
  std::deque<std::unique_ptr<PendingRequest>> queue_;
  std::vector<std::shared_ptr<Connection>> idle_;
  int in_flight_ = 0;
  std::thread thread_;  // Last: starts after, and is joined before, everything above goes.
};

void HttpCall::Send(streaming::InputFrame frame) {
  transport_.Post([self = shared_from_this(), frame = std::move(frame)]() mutable {
    self->OnSend(std::move(frame));
  });
}

void HttpCall::Close() {
  transport_.Post([self = shared_from_this()] {
    self->closed_ = true;
    self->MaybeFinish();
  });
}

void HttpCall::Cancel() {
  transport_.Post([self = shared_from_this()] { self->Finish(absl::CancelledError("cancelled")); });
}

void HttpCall::Begin(absl::Time deadline) {
  // Posted by Start, so this runs before any Send's request and so before any output. No
  // half-close can lose an answer here (FunctionTraits).
  // Answers come back in frame order (results_), each an output, a refusal or nothing: in order
  // whenever the caller hears about the empty ones.
  if (callbacks_.on_traits) {
    callbacks_.on_traits(FunctionTraits{.answers_after_half_close = true,
                                        .answers_in_order = callbacks_.on_no_output != nullptr});
  }
  if (deadline == absl::InfiniteFuture()) return;
  deadline_ = ToSteady(deadline);
  deadline_timer_ = std::make_unique<asio::steady_timer>(transport_.ioc(), deadline_);
  deadline_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->Finish(absl::DeadlineExceededError("invocation deadline exceeded"));
  });
}

void HttpCall::OnSend(streaming::InputFrame frame) {
  if (done_ || closed_) return;
  const HttpFunctionOptions& o = transport_.options();
  HttpFunctionRequest mapped = RequestForFrame(std::move(frame), accept_);
  auto pending = std::make_unique<PendingRequest>();
  pending->call = shared_from_this();
  pending->index = results_.Add();
  http::request<http::string_body>& req = pending->request;
  req.version(11);
  req.method(http::verb::post);
  req.target(o.target);
  req.set(http::field::host,
          o.port == 80 ? o.host : absl::StrCat(o.host, ":", o.port));
  req.set(http::field::user_agent, "runnel-processor");
  req.set(http::field::content_type, mapped.content_type);
  req.set(http::field::accept, mapped.accept);
  for (auto& [name, value] : mapped.headers) req.set(name, value);
  req.body() = std::move(mapped.body);
  req.prepare_payload();
  transport_.Enqueue(std::move(pending));
}

void HttpCall::Complete(size_t index, HttpVerdict verdict) {
  if (done_) return;
  results_.Complete(index, std::move(verdict));
  for (HttpVerdict& v : results_.TakeReady()) {
    const size_t i = handed_out_++;
    switch (v.kind) {
      case HttpVerdict::Kind::kOutput:
        if (has_output_) {
          callbacks_.on_output(std::move(v.output));
          AskToReadOn();
        } else if (callbacks_.on_no_output) {
          callbacks_.on_no_output(i);
        }
        break;
      case HttpVerdict::Kind::kNoOutput:
        if (callbacks_.on_no_output) callbacks_.on_no_output(i);
        break;
      case HttpVerdict::Kind::kReject:
      case HttpVerdict::Kind::kRetry:  // Not handed out; here for completeness.
        if (!callbacks_.on_reject) {
          Finish(std::move(v.status));
          return;
        }
        callbacks_.on_reject(i, std::move(v.status), std::move(v.detail));
        break;
    }
  }
  MaybeFinish();
}

void HttpCall::AskToReadOn() {
  if (!callbacks_.may_read || paused_) return;  // A paused call's answers in flight still count.
  const uint64_t ticket = ++pause_ticket_;
  // The resume may run on any thread; it comes back to the I/O thread, so it always finds the
  // pause marked below.
  paused_ = !callbacks_.may_read([self = shared_from_this(), ticket] {
    self->transport_.Post([self, ticket] { self->OnResume(ticket); });
  });
}

void HttpCall::OnResume(uint64_t ticket) {
  if (!paused_ || ticket != pause_ticket_) return;
  paused_ = false;
  if (done_) return;
  std::deque<std::unique_ptr<PendingRequest>> parked;
  parked.swap(parked_);
  transport_.Unpark(std::move(parked));
}

}  // namespace

std::unique_ptr<FunctionTransport> NewHttpFunctionTransport(const HttpFunctionOptions& options,
                                                            const RetryOptions& retry,
                                                            MetricsRegistry& metrics) {
  return std::make_unique<HttpFunctionTransport>(options, retry, metrics);
}

}  // namespace runnel::sidecar
