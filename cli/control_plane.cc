#include "cli/control_plane.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/gateway_client.h"
#include "cli/processor_settings.h"
#include "common/logging.h"
#include "common/status_macros.h"

extern char** environ;

namespace runnel::cli {
namespace {

// Marks every process the control plane starts, so that a control plane restarted after a crash
// can find (and stop) the orphans of its predecessor before reusing their ports.
constexpr char kOwnerEnv[] = "RUNNEL_CONTROL_PLANE_HOME";

std::string GatewayAddress(const GatewaySpec& g) { return absl::StrCat("127.0.0.1:", g.grpc_port); }

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

absl::Status WriteSmallFile(const std::string& path, absl::string_view contents) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory for ", path, ": ", ec.message()));
  return WriteFileAtomically(path, contents);
}

// Connects to loopback `port`; with a non-empty `http_path`, also requires an HTTP 200 answer to
// GET `http_path` within a second (the control plane's loop is the only caller and may block).
bool PortReady(int port, const std::string& http_path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval timeout{.tv_sec = 1, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (ok && !http_path.empty()) {
    const std::string request =
        absl::StrCat("GET ", http_path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    char buf[64] = {};
    ok = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
             static_cast<ssize_t>(request.size()) &&
         ::recv(fd, buf, sizeof buf - 1, 0) > 12 &&
         absl::StartsWith(absl::string_view(buf).substr(8), " 200");
  }
  ::close(fd);
  return ok;
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exited with code ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wait_status), " (",
                        strsignal(WTERMSIG(wait_status)), ")");
  }
  return "stopped";
}

// One supervised process and what we know about it.
struct Supervised {
  ProcessSpec spec;
  std::string fingerprint;
  pid_t pid = 0;
  bool ready = false;
  bool stopping = false;  // SIGTERM sent; removed or restarted once reaped
  bool remove_when_reaped = false;
  absl::Time kill_at;
  absl::Time started;
  absl::Time next_start = absl::InfinitePast();
  int consecutive_failures = 0;
  int64_t log_offset = 0;  // size of the log when this run started
  int64_t logged_size = -1;  // the size last written to the log's times index
  absl::Time logged_at = absl::InfinitePast();
  ProcessStatus status;
};

class ControlPlane {
 public:
  ControlPlane(Paths paths, BinaryResolver resolve)
      : paths_(std::move(paths)), resolve_(std::move(resolve)), store_(paths_) {}

  absl::Status Run() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGCHLD, SIGHUP}) sigaddset(&mask, s);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    // So that sigtimedwait sees SIGCHLD at all (its default disposition is "ignore").
    signal(SIGCHLD, [](int) {});
    signal(SIGPIPE, SIG_IGN);

    StopOrphans();
    RUNNEL_LOG(INFO) << "control plane running" << Kv("home", paths_.home())
                     << Kv("pid", ::getpid());
    bool terminate = false;
    while (!terminate) {
      timespec timeout{.tv_sec = 0, .tv_nsec = 100'000'000};
      int sig = sigtimedwait(&mask, nullptr, &timeout);
      if (sig == SIGTERM || sig == SIGINT) terminate = true;
      Reap();
      if (terminate) break;
      Reconcile();
      WriteStatus(false);
      RecordLogGrowth();
    }
    RUNNEL_LOG(INFO) << "control plane stopping";
    StopAll();
    WriteStatus(true);
    return absl::OkStatus();
  }

 private:
  // Stops processes left behind by a control plane that died without stopping them (killed -9,
  // OOM): every process whose environment carries our marker for this home. They get SIGTERM
  // (their whole process group, as a normal stop), up to 10s, then SIGKILL; this returns once
  // all are gone, so that their ports are free before anything is started again. Orphans are
  // not our children (init adopted them), so "gone" includes a zombie init has not reaped yet.
  void StopOrphans() {
    const std::string marker = absl::StrCat(kOwnerEnv, "=", paths_.home());
    std::vector<int> orphans;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return;
    while (dirent* entry = ::readdir(proc)) {
      int pid = std::atoi(entry->d_name);
      if (pid <= 0 || pid == ::getpid()) continue;
      absl::StatusOr<std::string> environ_text =
          ReadFile(absl::StrCat("/proc/", pid, "/environ"));
      if (!environ_text.ok()) continue;
      for (absl::string_view var : absl::StrSplit(*environ_text, '\0')) {
        if (var == marker) {
          orphans.push_back(pid);
          break;
        }
      }
    }
    ::closedir(proc);
    if (orphans.empty()) return;
    RUNNEL_LOG(WARNING) << "stopping processes left by an earlier control plane"
                        << Kv("pids", absl::StrJoin(orphans, ","));
    auto signal_all = [&](int sig) {
      for (int pid : orphans) {
        // A supervised process leads its own group; its children (a shell's) go with it.
        if (::getpgid(pid) == pid) ::kill(-pid, sig);
        ::kill(pid, sig);
      }
    };
    auto wait_gone = [&](absl::Duration timeout) {
      const absl::Time deadline = absl::Now() + timeout;
      while (true) {
        bool any = false;
        for (int pid : orphans) any |= ProcessAlive(pid);
        if (!any) return true;
        if (absl::Now() >= deadline) return false;
        ::usleep(50'000);
      }
    };
    signal_all(SIGTERM);
    if (!wait_gone(absl::Seconds(10))) {
      signal_all(SIGKILL);
      wait_gone(absl::Seconds(5));
    }
    for (int pid : orphans) {
      if (ProcessAlive(pid)) {
        RUNNEL_LOG(ERROR) << "a process left by an earlier control plane survived SIGKILL"
                          << Kv("pid", pid);
      }
    }
    RUNNEL_LOG(INFO) << "stopped processes left by an earlier control plane"
                     << Kv("count", orphans.size());
  }

  // Running, as opposed to gone or a zombie.
  static bool ProcessAlive(int pid) {
    absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    if (!stat.ok()) return false;
    // "pid (comm) S ...": the state follows the last ')', since comm may hold parentheses.
    size_t close = stat->rfind(')');
    return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] != 'Z' &&
           (*stat)[close + 2] != 'X';
  }

  void Reap() {
    for (int i = 0; i < 1000; ++i) {
      int wait_status = 0;
      pid_t pid = ::waitpid(-1, &wait_status, WNOHANG);
      if (pid <= 0) return;
      for (auto it = processes_.begin(); it != processes_.end(); ++it) {
        Supervised& p = it->second;
        if (p.pid != pid) continue;
        // Whatever the shell left running in the group goes with it.
        ::kill(-pid, SIGKILL);
        p.pid = 0;
        p.ready = false;
        p.status.pid = 0;
        p.status.last_exit = DescribeExit(wait_status);
        if (p.stopping) {
          p.stopping = false;
          p.status.phase = "Stopped";
          if (p.remove_when_reaped) processes_.erase(it);
          break;
        }
        const absl::Time now = absl::Now();
        p.consecutive_failures = now - p.started >= kStableRun ? 1 : p.consecutive_failures + 1;
        p.status.restarts++;
        p.next_start = now + RestartDelay(p.consecutive_failures);
        p.status.phase = "BackOff";
        p.status.next_start_unix_ms = absl::ToUnixMillis(p.next_start);
        std::string last = TailFile(p.spec.log_path, 1);
        while (!last.empty() && last.back() == '\n') last.pop_back();
        p.status.message = absl::StrCat(p.status.last_exit, last.empty() ? "" : ": ", last);
        RUNNEL_LOG(WARNING) << "process exited" << Kv("process", p.spec.name)
                            << Kv("how", p.status.last_exit)
                            << Kv("restart_in", RestartDelay(p.consecutive_failures));
        break;
      }
    }
  }

  void Reconcile() {
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) {
      // Keep running what we have; the CLI reports the broken file to whoever edits it.
      if (state.status().ToString() != last_state_error_) {
        last_state_error_ = state.status().ToString();
        RUNNEL_LOG(ERROR) << "cannot read state" << Kv("error", last_state_error_);
      }
      return;
    }
    last_state_error_.clear();
    state_ = *std::move(state);

    std::vector<ProcessSpec> desired = DesiredProcesses(state_, paths_, resolve_);
    std::set<std::string> wanted;
    order_.clear();
    for (ProcessSpec& spec : desired) {
      wanted.insert(spec.name);
      order_.push_back(spec.name);
      std::string fingerprint = spec.Fingerprint();
      auto it = processes_.find(spec.name);
      if (it == processes_.end()) {
        Supervised s;
        s.fingerprint = fingerprint;
        s.status.name = spec.name;
        s.status.phase = "Waiting";
        s.status.log_path = spec.log_path;
        s.spec = std::move(spec);
        processes_.emplace(s.spec.name, std::move(s));
      } else if (it->second.fingerprint != fingerprint) {
        // Changed: stop the old run; the next pass starts the new one without back-off.
        Stop(it->second);
        it->second.remove_when_reaped = false;
        it->second.fingerprint = fingerprint;
        it->second.spec = std::move(spec);
        it->second.consecutive_failures = 0;
        it->second.next_start = absl::InfinitePast();
      } else {
        it->second.spec.blocked = spec.blocked;
      }
    }
    for (auto it = processes_.begin(); it != processes_.end();) {
      if (wanted.count(it->first) == 0) {
        if (it->second.pid == 0) {
          it = processes_.erase(it);
          continue;
        }
        it->second.remove_when_reaped = true;
        Stop(it->second);
      }
      ++it;
    }

    const absl::Time now = absl::Now();
    for (auto& [name, p] : processes_) {
      if (p.stopping && now >= p.kill_at && p.pid > 0) ::kill(-p.pid, SIGKILL);
    }
    for (const std::string& name : order_) {
      Supervised& p = processes_.at(name);
      if (p.stopping) continue;
      if (p.pid > 0) {
        if (!p.ready && IsReady(p)) {
          p.ready = true;
          p.status.phase = "Ready";
          p.status.message.clear();
          RUNNEL_LOG(INFO) << "process ready" << Kv("process", name) << Kv("pid", p.pid);
        }
        continue;
      }
      if (!p.spec.blocked.empty()) {
        p.status.phase = "Waiting";
        p.status.message = p.spec.blocked;
        continue;
      }
      if (now < p.next_start) continue;
      std::vector<std::string> waiting;
      for (const std::string& dep : p.spec.after) {
        auto d = processes_.find(dep);
        if (d == processes_.end() || !d->second.ready) waiting.push_back(dep);
      }
      if (!waiting.empty()) {
        if (p.status.phase != "BackOff") p.status.phase = "Waiting";
        if (p.status.phase == "Waiting") {
          p.status.message = absl::StrCat("waiting for ", absl::StrJoin(waiting, ", "));
        }
        continue;
      }
      if (absl::StartsWith(name, "processor/")) {
        std::vector<std::string> parts = absl::StrSplit(name, '/');
        auto proc = state_.processors.find(parts[1]);
        if (proc != state_.processors.end()) {
          if (absl::Status s = WriteBindings(proc->second, state_, paths_); !s.ok()) {
            p.status.phase = "Waiting";
            p.status.message = std::string(s.message());
            continue;
          }
        }
      }
      Start(p);
    }
    ReconcileStreams();
  }

  // Appends "<unix ms> <size>" to a log's times index (`tail --since`), at most once a second
  // per log, and only when the log grew.
  void RecordLogSize(Supervised& p, int64_t size, absl::Time now) {
    if (size == p.logged_size) return;
    const std::string line = absl::StrCat(absl::ToUnixMillis(now), " ", size, "\n");
    int fd = ::open(LogTimesPath(p.spec.log_path).c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;  // tail --since then reads the whole log: a courtesy lost, not data
    if (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
      p.logged_size = size;
      p.logged_at = now;
    }
    ::close(fd);
  }

  void RecordLogGrowth() {
    const absl::Time now = absl::Now();
    for (auto& [name, p] : processes_) {
      if (now - p.logged_at < absl::Seconds(1)) continue;
      struct stat st {};
      if (::stat(p.spec.log_path.c_str(), &st) == 0) RecordLogSize(p, st.st_size, now);
    }
  }

  bool IsReady(Supervised& p) {
    if (!p.spec.ready_log_line.empty()) {
      absl::StatusOr<std::string> log = ReadFile(p.spec.log_path);
      return log.ok() && static_cast<int64_t>(log->size()) > p.log_offset &&
             absl::StrContains(absl::string_view(*log).substr(p.log_offset), p.spec.ready_log_line);
    }
    if (p.spec.ready_port > 0) return PortReady(p.spec.ready_port, p.spec.ready_http_path);
    return true;
  }

  void Start(Supervised& p) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(p.spec.log_path).parent_path(), ec);
    int log_fd = ::open(p.spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      p.status.phase = "Waiting";
      p.status.message = absl::StrCat("cannot open log ", p.spec.log_path, ": ", strerror(errno));
      return;
    }
    struct stat st {};
    ::fstat(log_fd, &st);
    // The run starts here: everything after this size was written by it.
    RecordLogSize(p, st.st_size, absl::Now());
    std::string banner = absl::StrCat("==> runnel: starting ", p.spec.name, " (",
                                      absl::StrJoin(p.spec.argv, " "), ")\n");
    if (::write(log_fd, banner.data(), banner.size()) < 0) {
      // The banner is a courtesy; the process still logs after it.
    }
    p.log_offset = st.st_size + static_cast<int64_t>(banner.size());

    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<std::string> env_strings;
    std::set<std::string> overridden;
    for (const auto& [k, v] : p.spec.env) overridden.insert(k);
    overridden.insert(kOwnerEnv);
    for (char** e = environ; *e != nullptr; ++e) {
      absl::string_view var(*e);
      if (overridden.count(std::string(var.substr(0, var.find('=')))) == 0) {
        env_strings.emplace_back(var);
      }
    }
    for (const auto& [k, v] : p.spec.env) env_strings.push_back(absl::StrCat(k, "=", v));
    env_strings.push_back(absl::StrCat(kOwnerEnv, "=", paths_.home()));
    std::vector<char*> envp, argv;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (const std::string& s : p.spec.argv) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const char* working_dir = p.spec.working_dir.empty() ? nullptr : p.spec.working_dir.c_str();

    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      signal(SIGCHLD, SIG_DFL);
      signal(SIGPIPE, SIG_DFL);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      if (working_dir != nullptr && ::chdir(working_dir) != 0) {
        const char msg[] = "runnel: cannot enter the processor's working directory\n";
        if (::write(2, msg, sizeof msg - 1) < 0) {
        }
        ::_exit(126);
      }
      ::execve(argv[0], argv.data(), envp.data());
      const char msg[] = "runnel: exec failed\n";
      if (::write(2, msg, sizeof msg - 1) < 0) {
      }
      ::_exit(127);
    }
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    if (pid < 0) {
      p.status.phase = "BackOff";
      p.status.message = absl::StrCat("fork: ", strerror(errno));
      p.next_start = absl::Now() + absl::Seconds(1);
      return;
    }
    ::setpgid(pid, pid);  // also here, so that kill(-pid) works before the child gets to it
    p.pid = pid;
    p.ready = false;
    p.started = absl::Now();
    p.status.pid = pid;
    p.status.phase = "Starting";
    p.status.message.clear();
    p.status.started_unix_ms = absl::ToUnixMillis(p.started);
    p.status.next_start_unix_ms = 0;
    RUNNEL_LOG(INFO) << "started" << Kv("process", p.spec.name) << Kv("pid", pid);
  }

  void Stop(Supervised& p) {
    if (p.pid <= 0 || p.stopping) return;
    ::kill(-p.pid, SIGTERM);
    p.stopping = true;
    p.kill_at = absl::Now() + absl::Seconds(10);
  }

  // Creates every stream of state.json on its gateway once per gateway run (if_not_exists), so
  // that memory gateways get their streams back after a restart.
  void ReconcileStreams() {
    for (const auto& [name, stream] : state_.streams) {
      auto gw = state_.gateways.find(stream.gateway);
      auto proc = processes_.find(absl::StrCat("gateway/", stream.gateway));
      if (gw == state_.gateways.end() || proc == processes_.end() || !proc->second.ready) {
        status_.streams.erase(name);
        continue;
      }
      const std::string key = absl::StrCat(name, "@", proc->second.pid);
      if (created_.count(key) != 0) continue;
      GatewayClient client(GatewayAddress(gw->second), absl::Seconds(2));
      v1::Stream spec;
      spec.set_name(name);
      spec.set_partitions(stream.partitions);
      spec.set_content_type(stream.content_type);
      absl::StatusOr<v1::Stream> created = client.CreateStream(spec, /*if_not_exists=*/true);
      if (created.ok()) {
        created_.insert(key);
        status_.streams[name] = "";
      } else if (!absl::IsUnavailable(created.status())) {
        created_.insert(key);  // a settled answer: do not ask again this run
        status_.streams[name] = std::string(created.status().message());
      }
    }
    for (auto it = status_.streams.begin(); it != status_.streams.end();) {
      it = state_.streams.count(it->first) == 0 ? status_.streams.erase(it) : std::next(it);
    }
  }

  void StopAll() {
    // Processors before gateways, so that sidecars can finish their acknowledgements.
    for (bool gateways : {false, true}) {
      for (auto& [name, p] : processes_) {
        if (absl::StartsWith(name, "gateway/") == gateways) Stop(p);
      }
      const absl::Time deadline = absl::Now() + absl::Seconds(12);
      while (absl::Now() < deadline) {
        bool any = false;
        for (auto& [name, p] : processes_) {
          if (p.pid > 0 && absl::StartsWith(name, "gateway/") == gateways) any = true;
        }
        if (!any) break;
        Reap();
        for (auto& [name, p] : processes_) {
          if (p.pid > 0 && p.stopping && absl::Now() >= p.kill_at) ::kill(-p.pid, SIGKILL);
        }
        ::usleep(50'000);
      }
    }
    for (auto& [name, p] : processes_) {
      p.status.phase = "Stopped";
      p.status.pid = 0;
    }
  }

  void WriteStatus(bool final_status) {
    status_.pid = final_status ? 0 : ::getpid();
    std::string resolved = resolve_("runnel-processor");
    status_.processor_binary = resolved;
    status_.processes.clear();
    for (const std::string& name : order_) {
      if (auto it = processes_.find(name); it != processes_.end()) {
        status_.processes.push_back(it->second.status);
      }
    }
    status_.updated_unix_ms = 0;
    std::string text = SerializeStatus(status_);
    if (text == last_status_) return;
    last_status_ = text;
    status_.updated_unix_ms = NowMs();
    if (absl::Status s = WriteFileAtomically(paths_.status_file(), SerializeStatus(status_));
        !s.ok()) {
      RUNNEL_LOG(ERROR) << "cannot write status" << Kv("error", s);
    }
  }

  Paths paths_;
  BinaryResolver resolve_;
  StateStore store_;
  State state_;
  std::map<std::string, Supervised> processes_;
  std::vector<std::string> order_;
  std::set<std::string> created_;  // "stream@gateway-pid"
  ControlPlaneStatus status_;
  std::string last_status_;
  std::string last_state_error_;
};

}  // namespace

std::string ProcessSpec::Fingerprint() const {
  std::string out = absl::StrCat(working_dir, "\x1d", absl::StrJoin(argv, "\x1f"));
  for (const auto& [k, v] : env) absl::StrAppend(&out, "\x1e", k, "=", v);
  return out;
}

absl::Duration RestartDelay(int consecutive_failures) {
  absl::Duration d = absl::Seconds(1);
  for (int i = 1; i < consecutive_failures && d < absl::Seconds(30); ++i) d *= 2;
  return std::min(d, absl::Seconds(30));
}

std::vector<ProcessSpec> DesiredProcesses(const State& state, const Paths& paths,
                                          const BinaryResolver& resolve) {
  std::vector<ProcessSpec> out;
  const std::string gateway_bin = resolve("runnel-gateway");
  for (const auto& [name, g] : state.gateways) {
    ProcessSpec spec{.name = absl::StrCat("gateway/", name)};
    spec.argv = {gateway_bin.empty() ? "runnel-gateway" : gateway_bin,
                 "--host", "127.0.0.1", "--port", std::to_string(g.grpc_port),
                 "--http-host", "127.0.0.1", "--http-port", std::to_string(g.http_port),
                 "--advertised-address", GatewayAddress(g), "--store", g.store};
    if (g.store == "file") {
      spec.argv.insert(spec.argv.end(), {"--data-dir", paths.gateway_data_dir(name)});
    } else if (g.store == "kafka") {
      spec.argv.insert(spec.argv.end(), {"--bootstrap-servers", g.bootstrap_servers});
    }
    spec.log_path = paths.log_file(spec.name);
    spec.ready_log_line = "runnel-gateway serving";
    if (gateway_bin.empty()) {
      spec.blocked = "runnel-gateway not found (build it, or set RUNNEL_GATEWAY_BIN)";
    }
    out.push_back(std::move(spec));
  }
  const std::string processor_bin = resolve("runnel-processor");
  for (const auto& [name, p] : state.processors) {
    std::set<std::string> gateways;
    std::vector<std::string> input_names, output_names, offsets;
    for (const InputRef& in : p.inputs) {
      input_names.push_back(in.alias);
      offsets.push_back(in.start_offset);
      if (auto s = state.streams.find(in.stream); s != state.streams.end()) {
        gateways.insert(s->second.gateway);
      }
    }
    for (const OutputRef& o : p.outputs) {
      output_names.push_back(o.alias);
      if (auto s = state.streams.find(o.stream); s != state.streams.end()) {
        gateways.insert(s->second.gateway);
      }
    }
    for (int i = 0; i < p.replicas && i < static_cast<int>(p.ports.size()); ++i) {
      const ReplicaPorts& ports = p.ports[i];
      std::string function_address = p.function_address;
      std::vector<std::string> after;
      for (const std::string& g : gateways) after.push_back(absl::StrCat("gateway/", g));
      // An HTTP function: a full URL names one already running; a path goes to the HTTP server
      // the function command starts on PORT.
      std::string function_url = p.function_url;
      if (!p.function_cmd.empty()) {
        ProcessSpec fn{.name = absl::StrCat("processor/", name, "/function-", i)};
        fn.argv = {"/bin/sh", "-c", p.function_cmd};
        fn.env = {{"GRPC_PORT", std::to_string(ports.function_grpc_port)},
                  {"HTTP_PORT", std::to_string(ports.function_http_port)}};
        if (!p.function_url.empty()) {
          fn.env.emplace_back("PORT", std::to_string(ports.function_http_port));
          function_url = absl::StrCat("http://127.0.0.1:", ports.function_http_port,
                                      p.function_url);
        }
        for (const auto& [k, v] : p.env) fn.env.emplace_back(k, v);
        fn.log_path = paths.log_file(fn.name);
        fn.working_dir = p.working_dir;
        fn.ready_port =
            p.function_url.empty() ? ports.function_grpc_port : ports.function_http_port;
        function_address = absl::StrCat("127.0.0.1:", ports.function_grpc_port);
        after.push_back(fn.name);
        out.push_back(std::move(fn));
      }
      ProcessSpec sidecar{.name = absl::StrCat("processor/", name, "/processor-", i)};
      sidecar.argv = {processor_bin.empty() ? "runnel-processor" : processor_bin, "--http-host",
                      "127.0.0.1", "--http-port", std::to_string(ports.processor_http_port)};
      std::string late_address;  // --late side-output:HOST:PORT/STREAM
      const std::string late = LateSideOutputStream(p);
      if (!late.empty()) {
        if (auto s = state.streams.find(late); s != state.streams.end()) {
          if (auto g = state.gateways.find(s->second.gateway); g != state.gateways.end()) {
            late_address = absl::StrCat(GatewayAddress(g->second), "/", late);
          }
        }
      }
      for (std::string& arg : ProcessorSettingArgs(p, late_address)) {
        sidecar.argv.push_back(std::move(arg));
      }
      if (function_url.empty()) {
        sidecar.env = {{"FUNCTION", function_address}};
      } else {
        sidecar.env = {{"RUNNEL_FUNCTION_URL", function_url}};
      }
      sidecar.env.insert(sidecar.env.end(),
                    {{"GROUP", name},
                     {"INPUT_NAMES", absl::StrJoin(input_names, ",")},
                     {"OUTPUT_NAMES", absl::StrJoin(output_names, ",")},
                     {"INPUT_START_OFFSETS", absl::StrJoin(offsets, ",")},
                     {"CNB_BINDINGS", paths.bindings_dir(name)}});
      if (!p.dead_letter.empty()) {
        if (auto s = state.streams.find(p.dead_letter); s != state.streams.end()) {
          if (auto g = state.gateways.find(s->second.gateway); g != state.gateways.end()) {
            sidecar.env.emplace_back("RUNNEL_DEAD_LETTER",
                                     absl::StrCat(GatewayAddress(g->second), "/", p.dead_letter));
          }
        }
      }
      sidecar.log_path = paths.log_file(sidecar.name);
      sidecar.ready_port = ports.processor_http_port;
      sidecar.ready_http_path = "/readyz";
      sidecar.after = std::move(after);
      if (processor_bin.empty()) {
        sidecar.blocked = "runnel-processor not found (build it, or set RUNNEL_PROCESSOR_BIN)";
      } else if (!late.empty() && late_address.empty()) {
        sidecar.blocked =
            absl::StrCat("late side-output stream \"", late, "\" (or its gateway) not found");
      }
      out.push_back(std::move(sidecar));
    }
  }
  return out;
}

absl::Status WriteBindings(const ProcessorSpec& processor, const State& state, const Paths& paths) {
  auto write_binding = [&](const std::string& dir, const std::string& stream_name,
                           const std::string& content_type_override) -> absl::Status {
    auto s = state.streams.find(stream_name);
    if (s == state.streams.end()) {
      return absl::FailedPreconditionError(absl::StrCat("stream \"", stream_name, "\" not found"));
    }
    auto g = state.gateways.find(s->second.gateway);
    if (g == state.gateways.end()) {
      return absl::FailedPreconditionError(absl::StrCat("gateway \"", s->second.gateway,
                                                        "\" of stream \"", stream_name,
                                                        "\" not found"));
    }
    std::string content_type = s->second.content_type;
    if (!content_type_override.empty() && absl::StrContains(content_type, '*')) {
      content_type = content_type_override;
    }
    RUNNEL_RETURN_IF_ERROR(WriteSmallFile(dir + "/secret/gateway", GatewayAddress(g->second)));
    RUNNEL_RETURN_IF_ERROR(WriteSmallFile(dir + "/secret/topic", stream_name));
    RUNNEL_RETURN_IF_ERROR(WriteSmallFile(dir + "/metadata/kind", "Stream.runnel.dev"));
    RUNNEL_RETURN_IF_ERROR(WriteSmallFile(dir + "/metadata/provider", "Runnel"));
    RUNNEL_RETURN_IF_ERROR(WriteSmallFile(dir + "/metadata/tags", ""));
    RUNNEL_RETURN_IF_ERROR(WriteSmallFile(dir + "/metadata/stream", stream_name));
    return WriteSmallFile(dir + "/metadata/contentType", content_type);
  };
  const std::string root = paths.bindings_dir(processor.name);
  for (size_t i = 0; i < processor.inputs.size(); ++i) {
    char index[24];
    std::snprintf(index, sizeof index, "%03zu", i);
    RUNNEL_RETURN_IF_ERROR(
        write_binding(absl::StrCat(root, "/input_", index), processor.inputs[i].stream, ""));
  }
  for (size_t i = 0; i < processor.outputs.size(); ++i) {
    char index[24];
    std::snprintf(index, sizeof index, "%03zu", i);
    RUNNEL_RETURN_IF_ERROR(write_binding(absl::StrCat(root, "/output_", index),
                                         processor.outputs[i].stream,
                                         processor.output_content_type));
  }
  return absl::OkStatus();
}

absl::Status RunControlPlane(const Paths& paths, const BinaryResolver& resolve) {
  std::error_code ec;
  std::filesystem::create_directories(paths.home(), ec);
  // The pid file's flock is the single-instance guard: held for the control plane's lifetime,
  // released by the kernel even when it dies, so a stale pid file never blocks a new start.
  int fd = ::open(paths.pid_file().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", paths.pid_file(), ": ", strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::AlreadyExistsError(
        absl::StrCat("a control plane already runs for ", paths.home()));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("write ", paths.pid_file(), ": ", strerror(errno)));
  }
  ControlPlane control_plane(paths, resolve);
  absl::Status result = control_plane.Run();
  ::close(fd);
  return result;
}

}  // namespace runnel::cli
