#include "cli/processor_status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace runnel::cli {
namespace {

using json = nlohmann::json;

template <typename T>
void Field(const json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<T>();
}

// The body of GET `path` on loopback `port`, with its HTTP status. Blocks up to about `timeout`.
absl::StatusOr<std::pair<int, std::string>> HttpGet(int port, const std::string& path,
                                                    absl::Duration timeout) {
  const std::string where = absl::StrCat("GET http://127.0.0.1:", port, path);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const absl::Time deadline = absl::Now() + timeout;
  timeval tv = absl::ToTimeval(std::max(timeout, absl::Milliseconds(1)));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(where, ": ", why));
  }
  const std::string request = absl::StrCat("GET ", path,
                                           " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                           "Accept: application/json\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return absl::UnavailableError(absl::StrCat(where, ": ", why));
  }
  std::string response;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      response.append(buf, static_cast<size_t>(n));
      if (response.size() > (1 << 20)) break;  // A status is a few hundred bytes.
      if (absl::Now() < deadline) continue;
    }
    if (n < 0 && errno == EINTR && absl::Now() < deadline) continue;
    if (n < 0) {
      std::string why = errno == EAGAIN || errno == EWOULDBLOCK
                            ? absl::StrCat("no answer within ", absl::FormatDuration(timeout))
                            : std::strerror(errno);
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(where, ": ", why));
    }
    break;  // EOF (the server closes after its answer), or out of time.
  }
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  int status = 0;
  size_t header_end = response.find("\r\n\r\n");
  if (!absl::StartsWith(response, "HTTP/") || response.size() < 12 ||
      header_end == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(response).substr(9, 3), &status)) {
    return absl::DataLossError(absl::StrCat(where, ": not an HTTP answer"));
  }
  return std::pair(status, response.substr(header_end + 4));
}

// "1.5s", "250ms": to the millisecond.
std::string FormatLag(double seconds) {
  return absl::FormatDuration(absl::Floor(absl::Seconds(seconds), absl::Milliseconds(1)));
}

}  // namespace

absl::StatusOr<ReplicaStatus> ParseReplicaStatus(absl::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError("GET /status: the answer is not a JSON object");
  }
  ReplicaStatus s;
  try {  // get<> throws on a type mismatch; this is the control plane, not a data path (B.4.3).
    Field(j, "ready", s.ready);
    Field(j, "state", s.state);
    Field(j, "records_in", s.records_in);
    Field(j, "records_out", s.records_out);
    Field(j, "dead_lettered", s.dead_lettered);
    Field(j, "retries", s.retries);
    Field(j, "invocation_errors", s.invocation_errors);
    Field(j, "late_records", s.late_records);
    Field(j, "last_error", s.last_error);
    Field(j, "last_error_time", s.last_error_time);
    Field(j, "open_windows", s.open_windows);
    Field(j, "watermark_lag_seconds", s.watermark_lag_seconds);
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat("GET /status: a field has the wrong type: ", e.what()));
  }
  return s;
}

absl::StatusOr<ReplicaStatus> FetchReplicaStatus(int port, absl::Duration timeout) {
  absl::StatusOr<std::pair<int, std::string>> answer = HttpGet(port, "/status", timeout);
  if (!answer.ok()) return answer.status();
  if (answer->first == 404) {
    return absl::UnimplementedError(
        "this runnel-processor does not serve GET /status (HTTP 404); rebuild it");
  }
  if (answer->first != 200) {
    return absl::DataLossError(absl::StrCat("GET /status answered HTTP ", answer->first));
  }
  return ParseReplicaStatus(answer->second);
}

ReplicaStatus CombineReplicaStatuses(const std::vector<ReplicaStatus>& replicas) {
  ReplicaStatus all;
  if (replicas.empty()) return all;
  all.ready = true;
  for (const ReplicaStatus& r : replicas) {
    all.ready = all.ready && r.ready;
    if (all.state.empty() || all.state == "ok") all.state = r.state;
    all.records_in += r.records_in;
    all.records_out += r.records_out;
    all.dead_lettered += r.dead_lettered;
    all.retries += r.retries;
    all.invocation_errors += r.invocation_errors;
    all.late_records += r.late_records;
    all.open_windows += r.open_windows;
    all.watermark_lag_seconds = std::max(all.watermark_lag_seconds, r.watermark_lag_seconds);
    if (!r.last_error.empty() && r.last_error_time >= all.last_error_time) {
      all.last_error = r.last_error;
      all.last_error_time = r.last_error_time;
    }
  }
  return all;
}

std::string RenderStatusYaml(const ReplicaStatus& s) {
  std::string out =
      absl::StrCat("records:\n  in: ", s.records_in, "\n  out: ", s.records_out,
                   "\n  deadLettered: ", s.dead_lettered, "\n  retries: ", s.retries,
                   "\n  invocationErrors: ", s.invocation_errors, "\n  late: ", s.late_records,
                   "\n  openWindows: ", s.open_windows, "\n");
  if (s.watermark_lag_seconds < 0) {
    absl::StrAppend(&out, "watermarkLag: null # arrival time, or no record yet\n");
  } else {
    absl::StrAppend(&out, "watermarkLag: ", FormatLag(s.watermark_lag_seconds), "\n");
  }
  auto quoted = [](const std::string& v) {
    return json(v).dump(-1, ' ', false, json::error_handler_t::replace);
  };
  if (s.last_error.empty()) {
    absl::StrAppend(&out, "lastError: null\n");
  } else {
    absl::StrAppend(&out, "lastError: ", quoted(s.last_error), "\n");
    if (!s.last_error_time.empty()) {
      absl::StrAppend(&out, "lastErrorTime: ", quoted(s.last_error_time), "\n");
    }
  }
  return out;
}

std::vector<std::string> StatusColumns(const std::optional<ReplicaStatus>& status) {
  if (!status) return {"-", "-", "-", "-", "-"};
  std::string lag =
      status->watermark_lag_seconds < 0 ? "-" : FormatLag(status->watermark_lag_seconds);
  std::string error = absl::StrReplaceAll(status->last_error, {{"\n", " "}, {"\t", " "}});
  if (error.empty()) error = "<none>";
  if (error.size() > 40) error = error.substr(0, 37) + "...";
  return {std::to_string(status->dead_lettered), std::to_string(status->retries),
          std::to_string(status->late_records), lag, error};
}

}  // namespace runnel::cli
