#include "gateway/tcp_listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel::gateway {
namespace {

constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = std::chrono::seconds(1);
constexpr auto kLogEvery = std::chrono::seconds(10);

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

absl::StatusOr<std::unique_ptr<TcpListener>> TcpListener::Start(const std::string& what,
                                                                const std::string& host, int port,
                                                                OnAccept on_accept) {
  const std::string address = absl::StrCat(host, ":", port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (int rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen for ", what, " on ", address, ": ", ::gai_strerror(rc)));
  }
  int fd = -1;
  int err = 0;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for ", what, " on ", address, ": ",
                                               ErrnoText(err), " (is the port taken?)"));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    err = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot listen for ", what, ": eventfd: ", ErrnoText(err)));
  }
  std::unique_ptr<TcpListener> listener(
      new TcpListener(what, fd, wake, bound_port, std::move(on_accept)));
  listener->thread_ = std::thread([l = listener.get()] { l->Run(); });
  return listener;
}

TcpListener::TcpListener(std::string what, int listen_fd, int wake_fd, int port, OnAccept on_accept)
    : what_(std::move(what)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      on_accept_(std::move(on_accept)) {}

TcpListener::~TcpListener() {
  Stop();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

absl::Status TcpListener::accept_status() const {
  absl::MutexLock lock(&mu_);
  return accept_status_;
}

void TcpListener::Stop() {
  if (stopped_.exchange(true)) return;
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void TcpListener::Run() {
  std::chrono::milliseconds backoff(0);
  std::chrono::steady_clock::time_point next_log{};
  int64_t failures = 0;  // Since the last log line.
  while (!stopped_.load()) {
    pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                     {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
    // While backing off, only the wake-up is watched: the listening socket stays readable
    // while connections wait, and watching it would spin.
    const int waited = ::poll(backoff.count() > 0 ? fds + 1 : fds, backoff.count() > 0 ? 1 : 2,
                              backoff.count() > 0 ? static_cast<int>(backoff.count()) : -1);
    if (stopped_.load()) break;
    if (waited < 0 && errno != EINTR) {
      RUNNEL_LOG(ERROR) << "poll failed" << Kv("listener", what_) << Kv("error", ErrnoText(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    // Accept what is waiting.
    while (!stopped_.load()) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (backoff.count() > 0) {
          RUNNEL_LOG(INFO) << "accepting connections again" << Kv("listener", what_);
          absl::MutexLock lock(&mu_);
          accept_status_ = absl::OkStatus();
        }
        backoff = std::chrono::milliseconds(0);
        failures = 0;
        on_accept_(fd);
        continue;
      }
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      // Out of descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM): retrying at once
      // would fail again and spin. Back off; the waiting connections stay in the backlog.
      backoff = std::clamp<std::chrono::milliseconds>(backoff * 2, kFirstBackoff, kMaxBackoff);
      ++failures;
      {
        absl::MutexLock lock(&mu_);
        accept_status_ = absl::UnavailableError(
            absl::StrCat("the ", what_, " port cannot accept connections: ", ErrnoText(err)));
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_log) {
        RUNNEL_LOG(WARNING) << "accept failed; retrying with backoff" << Kv("listener", what_)
                            << Kv("error", ErrnoText(err)) << Kv("failures", failures)
                            << Kv("retry_ms", backoff.count());
        failures = 0;
        next_log = now + kLogEvery;
      }
      break;
    }
  }
}

}  // namespace runnel::gateway
