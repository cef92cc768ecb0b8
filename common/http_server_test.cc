// common/http_server over real loopback sockets, driven by a raw-socket client so that framing,
// keep-alive, pipelining and connection closes are observed as a client sees them.

#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace runnel {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // Names lower-cased.
  std::string body;
};

// A blocking client on one connection; every read waits at most 5 s.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }

  void Send(const std::string& bytes) {
    ASSERT_EQ(write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }

  // Reads one response; `head` true when it answers a HEAD request (no body follows).
  std::optional<Reply> Read(bool head = false) {
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    Reply reply;
    std::vector<std::string> lines = absl::StrSplit(in_.substr(0, end), "\r\n");
    std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
    if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &reply.status)) {
      return std::nullopt;
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      std::vector<std::string> kv = absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
      if (kv.size() == 2) {
        reply.headers[absl::AsciiStrToLower(kv[0])] =
            std::string(absl::StripAsciiWhitespace(kv[1]));
      }
    }
    size_t length = 0;
    if (!head && !absl::SimpleAtoi(reply.headers["content-length"], &length)) {
      return std::nullopt;
    }
    while (in_.size() < end + 4 + length) {
      if (!Fill()) return std::nullopt;
    }
    reply.body = in_.substr(end + 4, length);
    in_.erase(0, end + 4 + length);
    return reply;
  }

  std::optional<Reply> Request(const std::string& method, const std::string& target,
                               const std::string& body = "", const std::string& extra = "") {
    Send(method + " " + target + " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body);
    return Read(method == "HEAD");
  }

  // True when the server closes the connection within `within`, with nothing more to read.
  bool ClosedByServer(std::chrono::milliseconds within = std::chrono::milliseconds(5000)) {
    const auto deadline = Clock::now() + within;
    while (Clock::now() < deadline) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 50) == 1) {
        char c;
        return read(fd_, &c, 1) == 0;
      }
    }
    return false;
  }

 private:
  bool Fill() {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 5000) != 1) return false;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string in_;
};

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options, HttpHandler handler) {
  options.address = "127.0.0.1";
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(HttpServer, HandlerSeesTheRequestAndTheServerOwnsTheFraming) {
  HttpRequest seen;
  auto server = StartServer({}, [&](HttpRequest request, HttpRespond respond) {
    seen = request;
    std::move(respond)(HttpResponse{
        .status = 201,
        .content_type = "application/json",
        .body = "{}",
        .headers = {{"x-one", "1"},
                    {"Content-Length", "999"},
                    {"content-type", "text/html"},
                    {"Transfer-Encoding", "chunked"},
                    {"x-split", "a\r\nInjected: yes"}}});
  });
  Client c(server->port());
  std::optional<Reply> r = c.Request("POST", "/a%20b?x=1&y=%2F", "hello",
                                     "X-Custom: Val\r\nContent-Type: text/plain\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/a b");
  EXPECT_EQ(seen.query, (std::map<std::string, std::string>{{"x", "1"}, {"y", "/"}}));
  EXPECT_EQ(seen.Header("x-custom"), "Val");
  EXPECT_EQ(seen.Header("content-type"), "text/plain");
  EXPECT_EQ(seen.body, "hello");
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{}");
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->headers["content-length"], "2");
  EXPECT_EQ(r->headers["x-one"], "1");
  EXPECT_EQ(r->headers.count("transfer-encoding"), 0u);
  EXPECT_EQ(r->headers.count("x-split"), 0u);
  EXPECT_EQ(r->headers.count("injected"), 0u);
}

TEST(HttpServer, KeepAliveAndPipelinedRequestsAnswerInOrder) {
  auto server = StartServer({}, [](HttpRequest request, HttpRespond respond) {
    std::move(respond)(HttpResponse{.body = request.body});
  });
  Client c(server->port());
  for (int i = 0; i < 20; ++i) {
    std::optional<Reply> r = c.Request("POST", "/", std::to_string(i));
    ASSERT_TRUE(r.has_value()) << i;
    ASSERT_EQ(r->body, std::to_string(i));
  }
  c.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nA"
         "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nB");
  std::optional<Reply> a = c.Read();
  std::optional<Reply> b = c.Read();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->body, "A");
  EXPECT_EQ(b->body, "B");
  // Connection: close is honoured.
  std::optional<Reply> last = c.Request("POST", "/", "z", "Connection: close\r\n");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->headers["connection"], "close");
  EXPECT_TRUE(c.ClosedByServer());
}

TEST(HttpServer, BodyLimitAnswers413AndMalformedRequests400ThenClose) {
  std::atomic<int> calls{0};
  auto server = StartServer({.max_body_bytes = 8}, [&](HttpRequest, HttpRespond respond) {
    ++calls;
    std::move(respond)(HttpResponse{});
  });
  Client big(server->port());
  std::optional<Reply> r = big.Request("POST", "/", std::string(9, 'x'));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_THAT(r->body, HasSubstr("limit of 8 bytes"));
  EXPECT_TRUE(big.ClosedByServer());

  Client fits(server->port());
  ASSERT_TRUE(fits.Request("POST", "/", std::string(8, 'x')).has_value());
  EXPECT_EQ(calls.load(), 1);

  Client bad(server->port());
  bad.Send("NOT AN HTTP REQUEST\r\n\r\n");
  std::optional<Reply> m = bad.Read();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, 400);
  EXPECT_THAT(m->body, HasSubstr("malformed HTTP request"));
  EXPECT_TRUE(bad.ClosedByServer());
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, HeadGetsTheHeadersWithoutTheBody) {
  auto server = StartServer({}, [](HttpRequest request, HttpRespond respond) {
    std::move(respond)(HttpResponse{.body = "body of " + request.method});
  });
  Client c(server->port());
  std::optional<Reply> head = c.Request("HEAD", "/");
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], "12");  // As the GET answer would be.
  // No body bytes followed: the next answer on the connection parses from its first byte.
  std::optional<Reply> get = c.Request("GET", "/");
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "body of GET");
}

TEST(HttpServer, MethodNotAllowedNamesTheAllowedMethods) {
  auto server = StartServer({}, [](HttpRequest, HttpRespond respond) {
    std::move(respond)(MethodNotAllowed("GET, HEAD", "use GET"));
  });
  Client c(server->port());
  std::optional<Reply> r = c.Request("DELETE", "/x");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers["allow"], "GET, HEAD");
  EXPECT_EQ(r->body, "{\"error\":\"use GET\"}\n");
}

TEST(HttpServer, AnswersLaterFromAnotherThreadAndSpreadsConnectionsOverIoThreads) {
  std::mutex mu;
  std::set<std::thread::id> io_threads;
  std::vector<std::thread> workers;
  auto server = StartServer({.threads = 2}, [&](HttpRequest request, HttpRespond respond) {
    std::lock_guard<std::mutex> lock(mu);
    io_threads.insert(std::this_thread::get_id());
    workers.emplace_back([respond = std::move(respond), body = request.body]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::move(respond)(HttpResponse{.body = "later " + body});
    });
  });
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<Client>(server->port()));
    std::optional<Reply> r = clients.back()->Request("POST", "/", std::to_string(i));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "later " + std::to_string(i));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(io_threads.size(), 2u);
  }
  server->Stop();
  for (std::thread& t : workers) t.join();
}

TEST(HttpServer, IdleConnectionsAreClosedAfterTheTimeout) {
  auto server = StartServer({.idle_timeout_seconds = 1}, [](HttpRequest, HttpRespond respond) {
    std::move(respond)(HttpResponse{});
  });
  Client c(server->port());
  ASSERT_TRUE(c.Request("GET", "/").has_value());
  const auto start = Clock::now();
  EXPECT_TRUE(c.ClosedByServer(std::chrono::milliseconds(5000)));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(800));
}

TEST(HttpServer, AnAnswerSlowerThanTheIdleTimeoutIsStillWritten) {
  std::vector<std::thread> workers;
  auto server =
      StartServer({.idle_timeout_seconds = 1}, [&](HttpRequest, HttpRespond respond) {
        workers.emplace_back([respond = std::move(respond)]() mutable {
          std::this_thread::sleep_for(std::chrono::milliseconds(1600));
          std::move(respond)(HttpResponse{.body = "slow"});
        });
      });
  Client c(server->port());
  std::optional<Reply> r = c.Request("GET", "/");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "slow");
  server->Stop();
  for (std::thread& t : workers) t.join();
}

TEST(HttpServer, ShutdownLetsAnAnswerInFlightFinishThenStopsAccepting) {
  std::mutex mu;
  std::optional<HttpRespond> pending;
  std::atomic<bool> got{false};
  auto server = StartServer({}, [&](HttpRequest, HttpRespond respond) {
    std::lock_guard<std::mutex> lock(mu);
    pending = std::move(respond);
    got = true;
  });
  const int port = server->port();
  Client c(port);
  c.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 500 && !got; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(got);
  std::thread answer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::lock_guard<std::mutex> lock(mu);
    std::move(*pending)(HttpResponse{.body = "done"});
  });
  const auto start = Clock::now();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const auto took = Clock::now() - start;
  answer.join();
  EXPECT_GE(took, std::chrono::milliseconds(150));
  EXPECT_LT(took, std::chrono::seconds(5));
  std::optional<Reply> r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->headers["connection"], "close");
  EXPECT_FALSE(Client(port).connected());
}

TEST(HttpServer, ShutdownGivesUpAtTheDeadlineAndADroppedAnswerClosesTheConnection) {
  std::mutex mu;
  std::vector<HttpRespond> kept;
  auto server = StartServer({}, [&](HttpRequest request, HttpRespond respond) {
    if (request.path == "/drop") return;  // `respond` destroyed unanswered.
    std::lock_guard<std::mutex> lock(mu);
    kept.push_back(std::move(respond));
  });
  Client dropped(server->port());
  dropped.Send("GET /drop HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(dropped.ClosedByServer());
  // The dropped request is not waited for; the kept one is, until the deadline.
  Client waiting(server->port());
  waiting.Send("GET /keep HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!kept.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto start = Clock::now();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_TRUE(waiting.ClosedByServer());
  // Answering after the stop is harmless (the answer is dropped).
  std::lock_guard<std::mutex> lock(mu);
  for (HttpRespond& respond : kept) std::move(respond)(HttpResponse{});
}

TEST(HttpServer, StartErrorsNameTheProblem) {
  auto bad = HttpServer::Start({.address = "not-an-ip"}, [](HttpRequest, HttpRespond) {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto first = StartServer({}, [](HttpRequest, HttpRespond) {});
  auto taken = HttpServer::Start({.address = "127.0.0.1", .port = first->port()},
                                 [](HttpRequest, HttpRespond) {});
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(taken.status().message()), HasSubstr(std::to_string(first->port())));
}

}  // namespace
}  // namespace runnel
