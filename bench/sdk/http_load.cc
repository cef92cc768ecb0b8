// HTTP/1.1 keep-alive load generator: C connections on one epoll thread, each with D requests
// outstanding (POST / with a JSON number; D = 1 unless pipelining is asked for), for a fixed
// duration. Counts complete 200 responses; each batch of responses read is answered with as many
// new requests in one write. Prints "reqs_per_s=<x> non_200=<n>".
//
// Usage: http_load <port> <connections> <seconds> [pipeline-depth]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Conn {
  int fd = -1;
  std::string in;
};

// Parses one complete response in `buf` starting at `from`; returns its length or 0 if incomplete.
size_t CompleteResponse(const std::string& buf, size_t from, int* status) {
  size_t end = buf.find("\r\n\r\n", from);
  if (end == std::string::npos) {
    return 0;
  }
  size_t length = 0;
  size_t pos = from;
  while ((pos = buf.find('\n', pos)) != std::string::npos && pos < end) {
    ++pos;
    if (strncasecmp(buf.c_str() + pos, "content-length:", 15) == 0) {
      length = std::strtoul(buf.c_str() + pos + 15, nullptr, 10);
    }
  }
  if (buf.size() < end + 4 + length) {
    return 0;
  }
  *status = std::atoi(buf.c_str() + from + 9);
  return end + 4 + length - from;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s <port> <connections> <seconds> [pipeline-depth]\n", argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]);
  int connections = std::atoi(argv[2]);
  double seconds = std::atof(argv[3]);
  const int depth = argc == 5 ? std::atoi(argv[4]) : 1;
  if (depth < 1) {
    std::fprintf(stderr, "http_load: pipeline depth must be at least 1\n");
    return 2;
  }
  const std::string body = "1.2345678901234567890123456789012345678901234567890123456789012";
  const std::string request =
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Accept: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string requests;  // `depth` requests back to back; a prefix of k of them is written.
  for (int i = 0; i < depth; ++i) {
    requests += request;
  }
  // Writes `k` requests on `fd` in one write; false on failure.
  auto send_requests = [&](int fd, int k) {
    const size_t size = request.size() * static_cast<size_t>(k);
    return write(fd, requests.data(), size) == static_cast<ssize_t>(size);
  };

  int ep = epoll_create1(0);
  std::vector<Conn> conns(connections);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  for (int i = 0; i < connections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::perror("connect");
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  long ok = 0;
  long bad = 0;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  for (Conn& c : conns) {
    if (!send_requests(c.fd, depth)) {
      std::perror("write");
      return 1;
    }
  }
  std::vector<epoll_event> events(connections);
  char buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    int n = epoll_wait(ep, events.data(), connections, 100);
    for (int e = 0; e < n; ++e) {
      Conn& c = conns[events[e].data.u32];
      ssize_t r = read(c.fd, buf, sizeof buf);
      if (r <= 0) {
        std::fprintf(stderr, "http_load: connection closed by server\n");
        return 1;
      }
      c.in.append(buf, static_cast<size_t>(r));
      int status = 0;
      int answered = 0;
      size_t consumed = 0;
      while (size_t len = CompleteResponse(c.in, consumed, &status)) {
        consumed += len;
        ++answered;
        (status == 200 ? ok : bad)++;
      }
      c.in.erase(0, consumed);
      if (answered > 0 && !send_requests(c.fd, answered)) {
        std::perror("write");
        return 1;
      }
    }
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("reqs_per_s=%.0f non_200=%ld\n", static_cast<double>(ok) / elapsed, bad);
  return bad == 0 ? 0 : 1;
}
