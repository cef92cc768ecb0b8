#include "cli/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace runnel::cli {
namespace {

using json = nlohmann::json;

absl::Status ErrnoError(absl::string_view op, const std::string& path) {
  return absl::InternalError(absl::StrCat(op, " ", path, ": ", std::strerror(errno)));
}

// Reads field `key` of `j` into `out` when present; nlohmann's get<> throws on a type mismatch,
// which ParseState turns into kDataLoss (the control plane is not a data path: B.4.3).
template <typename T>
void Field(const json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<T>();
}

json ToJson(const InputRef& r) {
  return {{"alias", r.alias}, {"stream", r.stream}, {"start_offset", r.start_offset}};
}
json ToJson(const OutputRef& r) { return {{"alias", r.alias}, {"stream", r.stream}}; }

}  // namespace

const ProcessStatus* ControlPlaneStatus::Find(absl::string_view name) const {
  for (const ProcessStatus& p : processes) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string SerializeState(const State& state) {
  json j = {{"gateways", json::object()}, {"streams", json::object()},
            {"processors", json::object()}};
  for (const auto& [name, g] : state.gateways) {
    j["gateways"][name] = {{"store", g.store},         {"bootstrap_servers", g.bootstrap_servers},
                           {"grpc_port", g.grpc_port}, {"http_port", g.http_port},
                           {"created_unix_ms", g.created_unix_ms}};
  }
  for (const auto& [name, s] : state.streams) {
    j["streams"][name] = {{"gateway", s.gateway},
                          {"content_type", s.content_type},
                          {"partitions", s.partitions},
                          {"created_unix_ms", s.created_unix_ms}};
  }
  for (const auto& [name, p] : state.processors) {
    json inputs = json::array(), outputs = json::array(), ports = json::array();
    for (const InputRef& r : p.inputs) inputs.push_back(ToJson(r));
    for (const OutputRef& r : p.outputs) outputs.push_back(ToJson(r));
    for (const ReplicaPorts& r : p.ports) {
      ports.push_back({{"function_grpc_port", r.function_grpc_port},
                       {"function_http_port", r.function_http_port},
                       {"processor_http_port", r.processor_http_port}});
    }
    j["processors"][name] = {{"function_cmd", p.function_cmd},
                             {"function_address", p.function_address},
                             {"function_url", p.function_url},
                             {"image", p.image},
                             {"inputs", inputs},
                             {"outputs", outputs},
                             {"dead_letter", p.dead_letter},
                             {"window", p.window},
                             {"key_by", p.key_by},
                             {"event_time", p.event_time},
                             {"max_out_of_orderness", p.max_out_of_orderness},
                             {"allowed_lateness", p.allowed_lateness},
                             {"idle_timeout", p.idle_timeout},
                             {"late", p.late},
                             {"max_attempts", p.max_attempts},
                             {"invoke_timeout", p.invoke_timeout},
                             {"input_content_type", p.input_content_type},
                             {"output_content_type", p.output_content_type},
                             {"env", p.env},
                             {"working_dir", p.working_dir},
                             {"replicas", p.replicas},
                             {"ports", ports},
                             {"created_unix_ms", p.created_unix_ms}};
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<State> ParseState(absl::string_view text, absl::string_view origin) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(origin, " is not a JSON object; fix or remove it"));
  }
  State state;
  try {
    const json gateways = j.value("gateways", json::object());
    for (const auto& [name, g] : gateways.items()) {
      GatewaySpec spec{.name = name};
      Field(g, "store", spec.store);
      Field(g, "bootstrap_servers", spec.bootstrap_servers);
      Field(g, "grpc_port", spec.grpc_port);
      Field(g, "http_port", spec.http_port);
      Field(g, "created_unix_ms", spec.created_unix_ms);
      state.gateways[name] = spec;
    }
    const json streams = j.value("streams", json::object());
    for (const auto& [name, s] : streams.items()) {
      StreamSpec spec{.name = name};
      Field(s, "gateway", spec.gateway);
      Field(s, "content_type", spec.content_type);
      Field(s, "partitions", spec.partitions);
      Field(s, "created_unix_ms", spec.created_unix_ms);
      state.streams[name] = spec;
    }
    const json processors = j.value("processors", json::object());
    for (const auto& [name, p] : processors.items()) {
      ProcessorSpec spec{.name = name};
      Field(p, "function_cmd", spec.function_cmd);
      Field(p, "function_address", spec.function_address);
      Field(p, "function_url", spec.function_url);
      Field(p, "image", spec.image);
      Field(p, "dead_letter", spec.dead_letter);
      Field(p, "window", spec.window);
      Field(p, "key_by", spec.key_by);
      Field(p, "event_time", spec.event_time);
      Field(p, "max_out_of_orderness", spec.max_out_of_orderness);
      Field(p, "allowed_lateness", spec.allowed_lateness);
      Field(p, "idle_timeout", spec.idle_timeout);
      Field(p, "late", spec.late);
      Field(p, "max_attempts", spec.max_attempts);
      Field(p, "invoke_timeout", spec.invoke_timeout);
      Field(p, "input_content_type", spec.input_content_type);
      Field(p, "output_content_type", spec.output_content_type);
      Field(p, "env", spec.env);
      Field(p, "working_dir", spec.working_dir);
      Field(p, "replicas", spec.replicas);
      Field(p, "created_unix_ms", spec.created_unix_ms);
      const json inputs = p.value("inputs", json::array());
      for (const json& r : inputs) {
        InputRef ref;
        Field(r, "alias", ref.alias);
        Field(r, "stream", ref.stream);
        Field(r, "start_offset", ref.start_offset);
        spec.inputs.push_back(ref);
      }
      const json outputs = p.value("outputs", json::array());
      for (const json& r : outputs) {
        OutputRef ref;
        Field(r, "alias", ref.alias);
        Field(r, "stream", ref.stream);
        spec.outputs.push_back(ref);
      }
      const json ports = p.value("ports", json::array());
      for (const json& r : ports) {
        ReplicaPorts ports;
        Field(r, "function_grpc_port", ports.function_grpc_port);
        Field(r, "function_http_port", ports.function_http_port);
        Field(r, "processor_http_port", ports.processor_http_port);
        spec.ports.push_back(ports);
      }
      state.processors[name] = spec;
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(origin, " has a malformed field: ", e.what()));
  }
  return state;
}

std::string SerializeStatus(const ControlPlaneStatus& status) {
  json processes = json::array();
  for (const ProcessStatus& p : status.processes) {
    processes.push_back({{"name", p.name},
                         {"phase", p.phase},
                         {"pid", p.pid},
                         {"restarts", p.restarts},
                         {"last_exit", p.last_exit},
                         {"started_unix_ms", p.started_unix_ms},
                         {"next_start_unix_ms", p.next_start_unix_ms},
                         {"log_path", p.log_path},
                         {"message", p.message}});
  }
  json j = {{"pid", status.pid},
            {"updated_unix_ms", status.updated_unix_ms},
            {"processor_binary", status.processor_binary},
            {"processes", processes},
            {"streams", status.streams}};
  return j.dump(2) + "\n";
}

absl::StatusOr<ControlPlaneStatus> ParseStatus(absl::string_view text, absl::string_view origin) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(origin, " is not a JSON object"));
  }
  ControlPlaneStatus status;
  try {
    Field(j, "pid", status.pid);
    Field(j, "updated_unix_ms", status.updated_unix_ms);
    Field(j, "processor_binary", status.processor_binary);
    Field(j, "streams", status.streams);
    const json processes = j.value("processes", json::array());
    for (const json& p : processes) {
      ProcessStatus ps;
      Field(p, "name", ps.name);
      Field(p, "phase", ps.phase);
      Field(p, "pid", ps.pid);
      Field(p, "restarts", ps.restarts);
      Field(p, "last_exit", ps.last_exit);
      Field(p, "started_unix_ms", ps.started_unix_ms);
      Field(p, "next_start_unix_ms", ps.next_start_unix_ms);
      Field(p, "log_path", ps.log_path);
      Field(p, "message", ps.message);
      status.processes.push_back(ps);
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(origin, " has a malformed field: ", e.what()));
  }
  return status;
}

std::string Paths::gateway_data_dir(absl::string_view g) const {
  return absl::StrCat(home_, "/gateways/", g, "/data");
}

std::string Paths::bindings_dir(absl::string_view processor) const {
  return absl::StrCat(home_, "/processors/", processor, "/bindings");
}

std::string Paths::log_file(absl::string_view process_name) const {
  return absl::StrCat(home_, "/logs/", absl::StrReplaceAll(process_name, {{"/", "-"}}), ".log");
}

absl::StatusOr<State> StateStore::Load() const {
  absl::StatusOr<std::string> text = ReadFile(paths_.state_file());
  if (absl::IsNotFound(text.status())) return State{};
  if (!text.ok()) return text.status();
  return ParseState(*text, paths_.state_file());
}

absl::Status StateStore::Update(const std::function<absl::Status(State&)>& change) {
  std::error_code ec;
  std::filesystem::create_directories(paths_.home(), ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("create state directory ", paths_.home(), ": ", ec.message()));
  }
  int fd = ::open(paths_.lock_file().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("open", paths_.lock_file());
  if (::flock(fd, LOCK_EX) != 0) {
    absl::Status s = ErrnoError("lock", paths_.lock_file());
    ::close(fd);
    return s;
  }
  absl::Status result = [&]() -> absl::Status {
    RUNNEL_ASSIGN_OR_RETURN(State state, Load());
    RUNNEL_RETURN_IF_ERROR(change(state));
    return WriteFileAtomically(paths_.state_file(), SerializeState(state));
  }();
  ::close(fd);  // releases the lock
  return result;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("create", tmp);
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = ErrnoError("write", tmp);
      ::close(fd);
      return s;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return ErrnoError("sync", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename to", path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return ErrnoError("open", path);
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string TailFile(const std::string& path, int lines) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return "";
  std::vector<absl::string_view> all = absl::StrSplit(*text, '\n');
  while (!all.empty() && all.back().empty()) all.pop_back();
  size_t first = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::string out;
  for (size_t i = first; i < all.size(); ++i) absl::StrAppend(&out, all[i], "\n");
  return out;
}

std::string LogTimesPath(absl::string_view log_path) { return absl::StrCat(log_path, ".times"); }

int64_t LogOffsetSince(absl::string_view times_text, absl::Time since) {
  const int64_t since_ms = absl::ToUnixMillis(since);
  int64_t offset = 0;
  for (absl::string_view line : absl::StrSplit(times_text, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> fields = absl::StrSplit(line, ' ');
    int64_t ms = 0, size = 0;
    if (!absl::SimpleAtoi(fields.first, &ms) || !absl::SimpleAtoi(fields.second, &size)) continue;
    if (ms > since_ms) break;
    offset = size;
  }
  return offset;
}

}  // namespace runnel::cli
