#include "cli/commands.h"

#include <arpa/inet.h>
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
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/args.h"
#include "cli/gateway_client.h"
#include "cli/manifests.h"
#include "cli/processor_settings.h"
#include "cli/processor_status.h"
#include "cli/references.h"
#include "cli/state.h"
#include "common/header_names.h"
#include "common/media_type.h"
#include "common/status_macros.h"

namespace runnel::cli {
namespace {

using json = nlohmann::json;
using Kind = FlagSpec::Kind;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr char kVersion[] = "0.1.0";

// A failed command: the message for stderr and the exit code.
struct Failure {
  int code;
  std::string message;
};

Failure Usage(absl::string_view message) { return {kExitUsage, std::string(message)}; }
Failure Fail(absl::string_view message) { return {kExitFailure, std::string(message)}; }
Failure FromStatus(const absl::Status& s) {
  return {absl::IsInvalidArgument(s) ? kExitUsage : kExitFailure, std::string(s.message())};
}

bool Exists(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::string Age(int64_t created_unix_ms) {
  return created_unix_ms == 0 ? "<unknown>"
                              : FormatAge(absl::Now() - absl::FromUnixMillis(created_unix_ms));
}

// A loopback port free right now. Ports already promised to other resources are skipped.
absl::StatusOr<int> PickFreePort(std::set<int>& taken) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port > 0 && taken.insert(port).second) return port;
  }
  return absl::ResourceExhaustedError("no free loopback port found");
}

bool PortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::set<int> PortsInUse(const State& state) {
  std::set<int> ports;
  for (const auto& [n, g] : state.gateways) ports.insert({g.grpc_port, g.http_port});
  for (const auto& [n, p] : state.processors) {
    for (const ReplicaPorts& r : p.ports) {
      ports.insert({r.function_grpc_port, r.function_http_port, r.processor_http_port});
    }
  }
  ports.erase(0);
  return ports;
}

std::string Indent(absl::string_view text, absl::string_view prefix) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, prefix, line, "\n");
  }
  return out;
}

std::string RandomId() {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist;
  char buf[40];
  uint32_t a = dist(rd), b = dist(rd), c = dist(rd), d = dist(rd);
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%04x%08x", a, b >> 16, b & 0xfff,
                (c & 0x3fff) | 0x8000, c >> 16, d);
  return buf;
}

// An HTTP function's URL: "/PATH", or "http://HOST:PORT[/PATH]". Errors: kInvalidArgument.
absl::Status ValidateFunctionUrl(const std::string& url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --function-url \"", url, "\": ", why,
        "; want http://HOST:PORT/PATH (a function already running) or /PATH"));
  };
  if (url[0] == '/') {
    return url.find_first_of(" \t\r\n") == std::string::npos ? absl::OkStatus()
                                                            : bad("blanks in the path");
  }
  absl::string_view rest(url);
  if (!absl::ConsumePrefix(&rest, "http://")) return bad("only http:// is supported");
  absl::string_view authority = rest.substr(0, rest.find('/'));
  if (!ParseHostPort(std::string(authority)).ok()) return bad("HOST:PORT is malformed");
  return absl::OkStatus();
}

class Cli {
 public:
  explicit Cli(const CliEnv& env) : env_(env), paths_(env.home), store_(paths_) {}

  int Run(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
      out() << kHelp;
      return args.empty() ? kExitUsage : 0;
    }
    if (args[0] == "version" || args[0] == "--version") {
      out() << "runnel " << kVersion << "\n";
      return 0;
    }
    const std::string& group = args[0];
    std::string verb = args.size() > 1 ? args[1] : "";
    std::vector<std::string> rest(args.begin() + std::min<size_t>(2, args.size()), args.end());
    Failure f{0, ""};
    if (group == "publish" || group == "subscribe" || group == "up" || group == "down") {
      rest.assign(args.begin() + 1, args.end());
      verb = group;
    }
    auto it = commands().find(absl::StrCat(group, " ", verb));
    if (group == verb) it = commands().find(group);
    if (it == commands().end()) {
      if (group == "gateway" || group == "stream" || group == "processor" ||
          group == "control-plane") {
        err() << "Error: unknown command \"" << group << " " << verb << "\"; try: runnel "
              << group << " create|list|delete|status" << (group == "processor" ? "|tail" : "")
              << "\n";
      } else {
        err() << "Error: unknown command \"" << group << "\"; run: runnel help\n";
      }
      return kExitUsage;
    }
    const Command& command = it->second;
    const std::string name = absl::StrCat("runnel ", it->first);
    if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {
      out() << "Usage: " << name << " " << command.usage << "\n\n" << FlagUsage(command.flags);
      if (command.help != nullptr) out() << "\n" << command.help();
      return 0;
    }
    absl::StatusOr<ParsedArgs> parsed = ParseArgs(rest, command.flags, name);
    if (!parsed.ok()) {
      err() << "Error: " << parsed.status().message() << "\n";
      return kExitUsage;
    }
    f = (this->*command.run)(*parsed);
    if (f.code != 0) err() << "Error: " << f.message << "\n";
    return f.code;
  }

 private:
  using Handler = Failure (Cli::*)(const ParsedArgs&);
  struct Command {
    std::string usage;
    std::vector<FlagSpec> flags;
    Handler run;
    std::string (*help)() = nullptr;  // Printed after the flags by --help.
  };

  static constexpr char kHelp[] =
      "runnel: run streaming functions locally, or render them for Kubernetes.\n"
      "\n"
      "Local mode keeps resources in $RUNNEL_HOME (default ~/.runnel) and runs them under a\n"
      "local control plane (started on first use; `runnel down` stops it, `runnel up` restarts\n"
      "it with every resource).\n"
      "\n"
      "  runnel up | down\n"
      "  runnel gateway create NAME [--store file|memory|kafka] [--bootstrap-servers H:P]\n"
      "  runnel gateway list | delete NAME... | status NAME\n"
      "  runnel stream create NAME --gateway G [--content-type T] [--partitions N]\n"
      "  runnel stream list | delete NAME... | status NAME\n"
      "  runnel publish STREAM (--payload P... | --file F [--lines]) [--content-type T] [--key K]\n"
      "  runnel subscribe STREAM [--from-beginning] [--group G] [--max N] [--timeout D]\n"
      "        (one JSON object a line: payload, key, partition, offset, time, headers, ...)\n"
      "  runnel processor create NAME (--function-cmd CMD [--function-url /PATH] |\n"
      "        --function-address H:P | --function-url http://H:P/PATH)\n"
      "        --input [ALIAS:]STREAM[@earliest|latest]... [--output [ALIAS:]STREAM...]\n"
      "        [--window SPEC] [--replicas N] [--dead-letter S] [--max-attempts N]\n"
      "        [--invoke-timeout D] [--key-by SPEC] [--event-time SOURCE [--late MODE]\n"
      "        [--max-out-of-orderness D] [--allowed-lateness D] [--idle-timeout D]]\n"
      "  runnel processor list | delete NAME... | status NAME | tail NAME [--since D]\n"
      "\n"
      "Every create accepts --dry-run [-o yaml|json] to print the Kubernetes manifests it stands\n"
      "for instead (cluster mode). `runnel COMMAND --help` lists a command's flags (and for\n"
      "processor create, the window grammar).\n";

  static const std::map<std::string, Command>& commands() {
    static const auto* kCommands = new std::map<std::string, Command>{
        {"up", {"", {}, &Cli::Up}},
        {"down", {"", {}, &Cli::Down}},
        {"control-plane run", {"", {}, &Cli::ControlPlaneRun}},
        {"gateway create",
         {"NAME [flags]",
          {{"store", Kind::kValue, "file (default), memory or kafka"},
           {"bootstrap-servers", Kind::kValue, "Kafka brokers HOST:PORT[,...] (--store kafka)"},
           {"port", Kind::kValue, "gRPC port on 127.0.0.1 (default: a free one)"},
           {"http-port", Kind::kValue, "HTTP port on 127.0.0.1 (default: a free one)"},
           {"wait-timeout", Kind::kValue, "how long to wait for it to be ready (default 30s)"},
           {"dry-run", Kind::kBool, "print the Kubernetes manifests instead"},
           {"output", Kind::kValue, "manifest format with --dry-run: yaml (default) or json", 'o'},
           {"namespace", Kind::kValue, "namespace of the manifests (default \"default\")", 'n'}},
          &Cli::GatewayCreate}},
        {"gateway list", {"", {}, &Cli::GatewayList}},
        {"gateway delete", {"NAME...", {}, &Cli::GatewayDelete}},
        {"gateway status", {"NAME", {}, &Cli::GatewayStatus}},
        {"stream create",
         {"NAME --gateway G [flags]",
          {{"gateway", Kind::kValue, "the gateway keeping the stream (required)"},
           {"content-type", Kind::kValue, "media type of its records (default application/octet-stream)"},
           {"partitions", Kind::kValue, "number of partitions, 1..1024 (default 1)"},
           {"dry-run", Kind::kBool, "print the Kubernetes manifests instead"},
           {"output", Kind::kValue, "manifest format with --dry-run: yaml (default) or json", 'o'},
           {"namespace", Kind::kValue, "namespace of the manifests (default \"default\")", 'n'}},
          &Cli::StreamCreate}},
        {"stream list", {"", {}, &Cli::StreamList}},
        {"stream delete", {"NAME...", {}, &Cli::StreamDelete}},
        {"stream status", {"NAME", {}, &Cli::StreamStatus}},
        {"publish",
         {"STREAM (--payload P... | --file F) [flags]",
          {{"payload", Kind::kRepeated, "a record's payload; one record per --payload", 'p'},
           {"file", Kind::kValue, "publish the contents of file F (- for stdin) as one record"},
           {"lines", Kind::kBool,
            "with --file: one record per non-empty line, each published as it is read"},
           {"content-type", Kind::kValue, "media type of the payload (default: the stream's)", 'c'},
           {"key", Kind::kValue, "record key (records with one key keep their order)"},
           {"header", Kind::kRepeated, "a header \"Name: value\""}},
          &Cli::Publish}},
        {"subscribe",
         {"STREAM [flags]   (prints one JSON object per record: id, payload, source, type, "
          "time, contentType, headers, key, partition, offset, timestamp)",
          {{"from-beginning", Kind::kBool, "start at the first record, not the next one", 'b'},
           {"group", Kind::kValue, "consumer group (default: a fresh one)"},
           {"max", Kind::kValue, "stop after N records"},
           {"timeout", Kind::kValue, "stop after this long (with --max: fail if fewer came)"},
           {"payload-encoding", Kind::kValue, "raw (default) or base64"}},
          &Cli::Subscribe}},
        {"processor create",
         {"NAME (--function-cmd CMD [--function-url /PATH] | --function-address HOST:PORT | "
          "--function-url URL) --input S... [flags]",
          {{"function-cmd", Kind::kValue, "shell command running the function (local mode)"},
           {"function-address", Kind::kValue, "HOST:PORT of a function already running"},
           {"function-url", Kind::kValue,
            "an HTTP function: http://HOST:PORT/PATH already running, or /PATH served by "
            "--function-cmd (or --image) on $PORT"},
           {"image", Kind::kValue, "function image (cluster mode, with --dry-run)"},
           {"input", Kind::kRepeated, "[ALIAS:]STREAM[@earliest|latest]", 'i'},
           {"output", Kind::kRepeated, "[ALIAS:]STREAM"},
           {"window", Kind::kValue, "window spec (grammar below), checked now"},
           {"dead-letter", Kind::kValue,
            "STREAM (content type */*, on the inputs' gateway) for records whose window failed "
            "after its retries"},
           {"max-attempts", Kind::kValue,
            "invocations of a window before its records are dead-lettered, 0 = retry forever "
            "(default 5)"},
           {"invoke-timeout", Kind::kValue, "deadline of one invocation, e.g. 30s (default none)"},
           {"key-by", Kind::kValue,
            "windows per key: key (as published), /json/pointer, .json.path or ce:ATTRIBUTE"},
           {"event-time", Kind::kValue,
            "window on event time: cloudevent, broker or /json/pointer (default arrival)"},
           {"max-out-of-orderness", Kind::kValue,
            "event time: watermark = highest event time minus D (default 0)"},
           {"allowed-lateness", Kind::kValue,
            "event time: a window fires once the watermark passes its end plus D (default 0)"},
           {"idle-timeout", Kind::kValue,
            "event time: a partition silent this long stops holding the watermark back, 0 = "
            "never (default 10s)"},
           {"late", Kind::kValue,
            "event time: late records are drop (default), refire or side-output:STREAM (on the "
            "inputs' gateway)"},
           {"replicas", Kind::kValue, "number of replicas (default 1)"},
           {"input-content-type", Kind::kValue, "media type the function accepts"},
           {"output-content-type", Kind::kValue, "media type the function produces"},
           {"env", Kind::kRepeated, "KEY=VALUE for the function"},
           {"gateway", Kind::kValue, "with --dry-run: gateway of streams not created locally"},
           {"wait-timeout", Kind::kValue, "how long to wait for it to be ready (default 60s)"},
           {"dry-run", Kind::kBool, "print the Kubernetes manifests instead"},
           {"output-format", Kind::kValue, "manifest format with --dry-run: yaml or json", 'o'},
           {"namespace", Kind::kValue, "namespace of the manifests (default \"default\")", 'n'}},
          &Cli::ProcessorCreate, &ProcessorSettingsHelp}},
        {"processor list", {"", {}, &Cli::ProcessorList}},
        {"processor delete", {"NAME...", {}, &Cli::ProcessorDelete}},
        {"processor status", {"NAME", {}, &Cli::ProcessorStatus}},
        {"processor tail",
         {"NAME [flags]",
          {{"lines", Kind::kValue,
            "lines of history per process (default 20, or all with --since)"},
           {"since", Kind::kValue, "history written in the last D only (e.g. 5m, 1h30m)"},
           {"timeout", Kind::kValue, "stop following after this long (default: until Ctrl-C)"},
           {"no-follow", Kind::kBool, "print the history and exit"}},
          &Cli::ProcessorTail}},
    };
    return *kCommands;
  }

  std::ostream& out() { return *env_.out; }
  std::ostream& err() { return *env_.err; }
  bool Interrupted() const { return env_.interrupted != nullptr && env_.interrupted->load(); }

  // ---- control plane ----------------------------------------------------------------------

  // The control plane's pid, or 0 when none runs (its pid file is not locked).
  int ControlPlanePid() {
    int fd = ::open(paths_.pid_file().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int pid = 0;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      if (n > 0 && !absl::SimpleAtoi(absl::StripAsciiWhitespace(buf), &pid)) pid = 0;
      if (pid == 0) pid = -1;  // running, pid not written yet
    }
    ::close(fd);
    return pid;
  }

  absl::StatusOr<ControlPlaneStatus> LoadStatus() {
    absl::StatusOr<std::string> text = ReadFile(paths_.status_file());
    if (!text.ok()) return text.status();
    return ParseStatus(*text, paths_.status_file());
  }

  // Starts the control plane unless it runs; waits for its first status report.
  absl::Status EnsureControlPlane(bool announce) {
    if (ControlPlanePid() != 0) return absl::OkStatus();
    std::error_code ec;
    std::filesystem::create_directories(paths_.home(), ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("create ", paths_.home(), ": ", ec.message()));
    }
    if (announce) err() << "Starting the local control plane (state in " << paths_.home() << ")\n";
    int log_fd = ::open(paths_.control_plane_log().c_str(),
                        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return absl::InternalError(
          absl::StrCat("open ", paths_.control_plane_log(), ": ", std::strerror(errno)));
    }
    std::vector<std::string> argv_strings{env_.self_exe, "control-plane", "run"};
    std::vector<char*> argv;
    for (std::string& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::string home_var = absl::StrCat("RUNNEL_HOME=", paths_.home());
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setsid();  // its own session: Ctrl-C in this terminal must not stop it
      int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::putenv(const_cast<char*>(home_var.c_str()));
      // Double fork: the control plane is reparented to init and never becomes our zombie.
      if (::fork() != 0) ::_exit(0);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
    int ignored = 0;
    ::waitpid(pid, &ignored, 0);
    for (int i = 0; i < 100; ++i) {
      int running = ControlPlanePid();
      if (running > 0) {
        absl::StatusOr<ControlPlaneStatus> status = LoadStatus();
        if (status.ok() && status->pid == running) return absl::OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return absl::UnavailableError(absl::StrCat(
        "the local control plane did not start; its log (", paths_.control_plane_log(),
        ") ends with:\n", Indent(TailFile(paths_.control_plane_log(), 10), "  ")));
  }

  // Status of the process `name` once `done` says so, polling every 100 ms until `timeout`.
  // Returns nullopt-equivalent kDeadlineExceeded on timeout.
  absl::StatusOr<ControlPlaneStatus> WaitForStatus(
      absl::Duration timeout, const std::function<bool(const ControlPlaneStatus&)>& done) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      absl::StatusOr<ControlPlaneStatus> status = LoadStatus();
      if (status.ok() && done(*status)) return status;
      if (ControlPlanePid() == 0) {
        return absl::UnavailableError(absl::StrCat(
            "the local control plane stopped; see ", paths_.control_plane_log()));
      }
      if (absl::Now() >= deadline || Interrupted()) {
        return absl::DeadlineExceededError("timeout");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  static bool IsBlocked(const ProcessStatus& p) {
    return p.phase == "Waiting" && absl::StrContains(p.message, "not found");
  }

  static std::string LastLines(const ProcessStatus& p, int lines) {
    return Indent(TailFile(p.log_path, lines), "  ");
  }

  // Waits for every process named by `prefix` to be Ready. A process that exits first fails the
  // wait with its last log lines.
  Failure WaitForProcesses(const std::string& kind, const std::string& name,
                           const std::string& prefix, absl::Duration timeout, size_t expected) {
    absl::StatusOr<ControlPlaneStatus> status =
        WaitForStatus(timeout, [&](const ControlPlaneStatus& s) {
          size_t settled = 0, seen = 0;
          for (const ProcessStatus& p : s.processes) {
            if (!absl::StartsWith(p.name, prefix)) continue;
            ++seen;
            if (p.restarts > 0) return true;
            if (p.phase == "Ready" || IsBlocked(p)) ++settled;
          }
          return seen == expected && settled == expected;
        });
    if (absl::IsDeadlineExceeded(status.status())) {
      return Fail(absl::StrCat("Timeout after \"", absl::FormatDuration(timeout),
                               "\" waiting for \"", name, "\" to become ready\nTo view status run: runnel ",
                               kind, " status ", name));
    }
    if (!status.ok()) return FromStatus(status.status());
    for (const ProcessStatus& p : status->processes) {
      if (!absl::StartsWith(p.name, prefix) || p.restarts == 0) continue;
      std::string role = p.name.substr(p.name.rfind('/') + 1);
      return Fail(absl::StrCat(
          kind == "gateway" ? "gateway" : absl::StrCat(role, " of processor"), " \"", name,
          "\" ", p.last_exit, " before it was ready. Last lines of its log (", p.log_path,
          "):\n", LastLines(p, 15),
          "It is restarted with back-off; fix it, or remove it with: runnel ", kind, " delete ",
          name));
    }
    for (const ProcessStatus& p : status->processes) {
      if (!absl::StartsWith(p.name, prefix) || !IsBlocked(p)) continue;
      return Fail(absl::StrCat(kind, " \"", name, "\" cannot start: ", p.message,
                               "\nIt starts as soon as that is fixed; to remove it run: runnel ",
                               kind, " delete ", name));
    }
    return {0, ""};
  }

  // Address of `gateway` for clients: fails with a hint when it is unknown.
  absl::StatusOr<std::string> GatewayAddressOf(const State& state, const std::string& gateway) {
    auto it = state.gateways.find(gateway);
    if (it == state.gateways.end()) {
      return absl::NotFoundError(absl::StrCat("gateway \"", gateway,
                                              "\" not found; create it with: runnel gateway create ",
                                              gateway));
    }
    return absl::StrCat("127.0.0.1:", it->second.grpc_port);
  }

  absl::StatusOr<StreamSpec> FindStream(const State& state, const std::string& stream) {
    auto it = state.streams.find(stream);
    if (it == state.streams.end()) {
      return absl::NotFoundError(absl::StrCat(
          "stream \"", stream, "\" not found; create it with: runnel stream create ", stream,
          " --gateway GATEWAY"));
    }
    return it->second;
  }

  absl::Status GatewayRunning(const std::string& gateway) {
    if (ControlPlanePid() == 0) {
      return absl::UnavailableError(
          "the local control plane is not running; start it with: runnel up");
    }
    return absl::OkStatus();
  }

  std::string ProcessPhase(const ControlPlaneStatus* status, const std::string& name) {
    if (status == nullptr) return "ControlPlaneDown";
    const ProcessStatus* p = status->Find(name);
    if (p == nullptr) return "<unknown>";
    if (p->phase == "BackOff" || (p->restarts > 0 && p->phase != "Ready")) return "CrashLoopBackOff";
    return p->phase;
  }

  std::optional<ControlPlaneStatus> CurrentStatus() {
    if (ControlPlanePid() == 0) return std::nullopt;
    absl::StatusOr<ControlPlaneStatus> s = LoadStatus();
    if (!s.ok()) return std::nullopt;
    return *s;
  }

  Failure PrintManifests(const absl::StatusOr<std::vector<Manifest>>& manifests,
                         const std::string& format) {
    if (!manifests.ok()) return FromStatus(manifests.status());
    absl::StatusOr<std::string> text = FormatManifests(*manifests, format);
    if (!text.ok()) return FromStatus(text.status());
    out() << *text;
    return {0, ""};
  }

  ManifestOptions ManifestOptionsFrom(const ParsedArgs& args) {
    ManifestOptions options;
    options.name_space = args.Get("namespace", "default");
    return options;
  }

  // ---- up / down ------------------------------------------------------------------------------

  Failure Up(const ParsedArgs& args) {
    if (!args.positionals.empty()) return Usage("runnel up takes no arguments");
    int pid = ControlPlanePid();
    if (pid != 0) {
      out() << "The local control plane is already running (pid " << pid << "); state in "
            << paths_.home() << "\n";
      return {0, ""};
    }
    if (absl::Status s = EnsureControlPlane(false); !s.ok()) return FromStatus(s);
    absl::StatusOr<State> state = store_.Load();
    out() << "The local control plane is up (pid " << ControlPlanePid() << "); state in "
          << paths_.home() << "\n";
    if (state.ok()) {
      out() << "  " << state->gateways.size() << " gateway(s), " << state->streams.size()
            << " stream(s), " << state->processors.size() << " processor(s)\n";
    }
    return {0, ""};
  }

  Failure Down(const ParsedArgs& args) {
    if (!args.positionals.empty()) return Usage("runnel down takes no arguments");
    int pid = ControlPlanePid();
    if (pid == 0) {
      out() << "The local control plane is not running.\n";
      return {0, ""};
    }
    if (pid > 0) ::kill(pid, SIGTERM);
    // Processors, then gateways, each get up to 12s; a little more for the control plane itself.
    for (int i = 0; i < 300 && ControlPlanePid() != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (ControlPlanePid() != 0) {
      return Fail(absl::StrCat("the control plane (pid ", pid, ") did not stop within 30s; see ",
                               paths_.control_plane_log()));
    }
    out() << "Stopped the local control plane (pid " << pid << "). Resources are kept in "
          << paths_.home() << "; `runnel up` starts them again.\n";
    return {0, ""};
  }

  Failure ControlPlaneRun(const ParsedArgs& args) {
    absl::Status s = RunControlPlane(paths_, MakeBinaryResolver(env_));
    if (!s.ok()) return FromStatus(s);
    return {0, ""};
  }

  // ---- gateways ---------------------------------------------------------------------------------

  Failure GatewayCreate(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel gateway create takes one NAME");
    GatewaySpec g{.name = args.positionals[0], .store = args.Get("store", "file"),
                  .bootstrap_servers = args.Get("bootstrap-servers"), .created_unix_ms = NowMs()};
    if (absl::Status s = ValidateName("gateway", g.name); !s.ok()) return FromStatus(s);
    if (g.store != "file" && g.store != "memory" && g.store != "kafka") {
      return Usage(absl::StrCat("invalid --store \"", g.store, "\": use file, memory or kafka"));
    }
    if (g.store == "kafka" && g.bootstrap_servers.empty()) {
      return Usage("--store kafka needs --bootstrap-servers HOST:PORT[,HOST:PORT...]");
    }
    if (g.store != "kafka" && !g.bootstrap_servers.empty()) {
      return Usage("--bootstrap-servers applies to --store kafka only");
    }
    if (args.Has("dry-run")) {
      return PrintManifests(RenderGateway(g, ManifestOptionsFrom(args)), args.Get("output", "yaml"));
    }
    if (args.Has("output")) return Usage("-o/--output applies to --dry-run only");
    absl::StatusOr<int> port = args.GetInt("port", 0, 1, 65535);
    absl::StatusOr<int> http_port = args.GetInt("http-port", 0, 1, 65535);
    absl::StatusOr<absl::Duration> timeout = args.GetDuration("wait-timeout", absl::Seconds(30));
    if (!port.ok()) return FromStatus(port.status());
    if (!http_port.ok()) return FromStatus(http_port.status());
    if (!timeout.ok()) return FromStatus(timeout.status());

    absl::Status updated = store_.Update([&](State& state) -> absl::Status {
      if (state.gateways.count(g.name) != 0) {
        return absl::AlreadyExistsError(absl::StrCat("gateway \"", g.name, "\" already exists"));
      }
      std::set<int> taken = PortsInUse(state);
      for (auto [flag, chosen, field] :
           {std::tuple{"--port", *port, &g.grpc_port}, {"--http-port", *http_port, &g.http_port}}) {
        if (chosen != 0) {
          if (taken.count(chosen) != 0 || !PortFree(chosen)) {
            return absl::FailedPreconditionError(absl::StrCat(
                "port ", chosen, " on 127.0.0.1 is already in use (", flag,
                "); pick another, or leave ", flag, " out to use a free one"));
          }
          taken.insert(chosen);
          *field = chosen;
        } else {
          absl::StatusOr<int> free = PickFreePort(taken);
          if (!free.ok()) return free.status();
          *field = *free;
        }
      }
      state.gateways[g.name] = g;
      return absl::OkStatus();
    });
    if (!updated.ok()) return FromStatus(updated);
    out() << "Created gateway \"" << g.name << "\"\n";
    if (absl::Status s = EnsureControlPlane(true); !s.ok()) return FromStatus(s);
    err() << "Waiting for gateway \"" << g.name << "\" to become ready...\n";
    Failure f = WaitForProcesses("gateway", g.name, "gateway/" + g.name, *timeout, 1);
    if (f.code != 0) return f;
    out() << "Gateway \"" << g.name << "\" is ready (gRPC 127.0.0.1:" << g.grpc_port
          << ", HTTP 127.0.0.1:" << g.http_port << ")\n";
    return {0, ""};
  }

  Failure GatewayList(const ParsedArgs& args) {
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    if (state->gateways.empty()) {
      out() << "No gateways found.\n";
      return {0, ""};
    }
    std::optional<ControlPlaneStatus> status = CurrentStatus();
    std::vector<std::vector<std::string>> rows{{"NAME", "TYPE", "ADDRESS", "STATUS", "AGE"}};
    for (const auto& [name, g] : state->gateways) {
      rows.push_back({name, g.store, absl::StrCat("127.0.0.1:", g.grpc_port),
                      ProcessPhase(status ? &*status : nullptr, "gateway/" + name),
                      Age(g.created_unix_ms)});
    }
    out() << FormatTable(rows);
    if (!status) err() << "The local control plane is not running; start it with: runnel up\n";
    return {0, ""};
  }

  Failure GatewayDelete(const ParsedArgs& args) {
    if (args.positionals.empty()) return Usage("runnel gateway delete needs NAME...");
    for (const std::string& name : args.positionals) {
      absl::Status s = store_.Update([&](State& state) -> absl::Status {
        if (state.gateways.count(name) == 0) {
          return absl::NotFoundError(absl::StrCat("gateway \"", name, "\" not found"));
        }
        std::vector<std::string> streams;
        for (const auto& [sn, st] : state.streams) {
          if (st.gateway == name) streams.push_back(sn);
        }
        if (!streams.empty()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "gateway \"", name, "\" keeps stream(s) ", absl::StrJoin(streams, ", "),
              "; delete them first: runnel stream delete ", absl::StrJoin(streams, " ")));
        }
        state.gateways.erase(name);
        return absl::OkStatus();
      });
      if (!s.ok()) return FromStatus(s);
      WaitGone("gateway/" + name);
      std::error_code ec;
      std::filesystem::remove_all(absl::StrCat(paths_.home(), "/gateways/", name), ec);
      out() << "Deleted gateway \"" << name << "\"\n";
    }
    return {0, ""};
  }

  // Waits (up to 15s) until the control plane no longer runs processes under `prefix`.
  void WaitGone(const std::string& prefix) {
    if (ControlPlanePid() == 0) return;
    (void)WaitForStatus(absl::Seconds(15), [&](const ControlPlaneStatus& s) {
      for (const ProcessStatus& p : s.processes) {
        if (absl::StartsWith(p.name, prefix) && p.pid != 0) return false;
        if (absl::StartsWith(p.name, prefix)) return false;
      }
      return true;
    });
  }

  void PrintProcess(const ProcessStatus& p) {
    out() << "  - name: " << p.name.substr(p.name.find('/') + 1) << "\n"
          << "    phase: " << p.phase << "\n"
          << "    pid: " << p.pid << "\n"
          << "    restarts: " << p.restarts << "\n";
    if (!p.last_exit.empty()) out() << "    lastExit: " << json(p.last_exit).dump() << "\n";
    if (!p.message.empty()) out() << "    message: " << json(p.message).dump() << "\n";
    out() << "    log: " << p.log_path << "\n";
  }

  Failure GatewayStatus(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel gateway status takes one NAME");
    const std::string& name = args.positionals[0];
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    auto it = state->gateways.find(name);
    if (it == state->gateways.end()) return Fail(absl::StrCat("gateway \"", name, "\" not found"));
    std::optional<ControlPlaneStatus> status = CurrentStatus();
    const std::string process = "gateway/" + name;
    out() << "# " << name << ": " << ProcessPhase(status ? &*status : nullptr, process) << "\n---\n"
          << "store: " << it->second.store << "\n"
          << "address: 127.0.0.1:" << it->second.grpc_port << "\n"
          << "http: 127.0.0.1:" << it->second.http_port << "\n";
    if (it->second.store == "file") out() << "dataDir: " << paths_.gateway_data_dir(name) << "\n";
    if (it->second.store == "kafka") {
      out() << "bootstrapServers: " << it->second.bootstrap_servers << "\n";
    }
    out() << "processes:\n";
    if (status) {
      if (const ProcessStatus* p = status->Find(process)) PrintProcess(*p);
    } else {
      out() << "  [] # the local control plane is not running; start it with: runnel up\n";
    }
    return {0, ""};
  }

  // ---- streams ----------------------------------------------------------------------------------

  Failure StreamCreate(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel stream create takes one NAME");
    StreamSpec s{.name = args.positionals[0], .gateway = args.Get("gateway"),
                 .content_type = args.Get("content-type", "application/octet-stream"),
                 .created_unix_ms = NowMs()};
    if (absl::Status v = ValidateName("stream", s.name); !v.ok()) return FromStatus(v);
    if (s.gateway.empty()) return Usage("runnel stream create needs --gateway G");
    absl::StatusOr<MediaType> media = ParseMediaType(s.content_type);
    if (!media.ok()) {
      return Usage(absl::StrCat("invalid --content-type \"", s.content_type,
                                "\": want a media type like application/json"));
    }
    absl::StatusOr<int> partitions = args.GetInt("partitions", 1, 1, 1024);
    if (!partitions.ok()) return FromStatus(partitions.status());
    s.partitions = *partitions;
    if (args.Has("dry-run")) {
      return PrintManifests(RenderStream(s, ManifestOptionsFrom(args)), args.Get("output", "yaml"));
    }
    if (args.Has("output")) return Usage("-o/--output applies to --dry-run only");
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    if (state->streams.count(s.name) != 0) {
      return Fail(absl::StrCat("stream \"", s.name, "\" already exists"));
    }
    absl::StatusOr<std::string> address = GatewayAddressOf(*state, s.gateway);
    if (!address.ok()) return FromStatus(address.status());
    if (absl::Status e = EnsureControlPlane(true); !e.ok()) return FromStatus(e);
    Failure ready = WaitForProcesses("gateway", s.gateway, "gateway/" + s.gateway,
                                     absl::Seconds(30), 1);
    if (ready.code != 0) return ready;
    GatewayClient client(*address);
    v1::Stream request;
    request.set_name(s.name);
    request.set_partitions(s.partitions);
    request.set_content_type(s.content_type);
    // if_not_exists: a file gateway may still hold the stream from before a `stream delete`
    // whose gateway was down; the same settings are then simply adopted.
    absl::StatusOr<v1::Stream> created = client.CreateStream(request, /*if_not_exists=*/true);
    if (!created.ok()) return FromStatus(created.status());
    absl::Status saved = store_.Update([&](State& st) -> absl::Status {
      if (st.streams.count(s.name) != 0) {
        return absl::AlreadyExistsError(absl::StrCat("stream \"", s.name, "\" already exists"));
      }
      st.streams[s.name] = s;
      return absl::OkStatus();
    });
    if (!saved.ok()) return FromStatus(saved);
    out() << "Created stream \"" << s.name << "\"\n";
    // The control plane adopts it on its next pass (and re-creates it whenever the gateway
    // restarts); wait for that so that `stream list` right after says Ready.
    absl::StatusOr<ControlPlaneStatus> adopted =
        WaitForStatus(absl::Seconds(10), [&](const ControlPlaneStatus& st) {
          return st.streams.count(s.name) != 0;
        });
    if (adopted.ok() && !adopted->streams.at(s.name).empty()) {
      return Fail(absl::StrCat("stream \"", s.name, "\": ", adopted->streams.at(s.name)));
    }
    return {0, ""};
  }

  Failure StreamList(const ParsedArgs& args) {
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    if (state->streams.empty()) {
      out() << "No streams found.\n";
      return {0, ""};
    }
    std::optional<ControlPlaneStatus> status = CurrentStatus();
    std::vector<std::vector<std::string>> rows{
        {"NAME", "GATEWAY", "CONTENT-TYPE", "PARTITIONS", "STATUS", "AGE"}};
    for (const auto& [name, s] : state->streams) {
      rows.push_back({name, s.gateway, s.content_type, std::to_string(s.partitions),
                      StreamPhase(status ? &*status : nullptr, name), Age(s.created_unix_ms)});
    }
    out() << FormatTable(rows);
    if (!status) err() << "The local control plane is not running; start it with: runnel up\n";
    return {0, ""};
  }

  std::string StreamPhase(const ControlPlaneStatus* status, const std::string& name) {
    if (status == nullptr) return "ControlPlaneDown";
    auto it = status->streams.find(name);
    if (it == status->streams.end()) return "GatewayNotReady";
    return it->second.empty() ? "Ready" : "ProvisionFailed";
  }

  Failure StreamDelete(const ParsedArgs& args) {
    if (args.positionals.empty()) return Usage("runnel stream delete needs NAME...");
    for (const std::string& name : args.positionals) {
      StreamSpec removed;
      std::string address;
      absl::Status s = store_.Update([&](State& state) -> absl::Status {
        auto it = state.streams.find(name);
        if (it == state.streams.end()) {
          return absl::NotFoundError(absl::StrCat("stream \"", name, "\" not found"));
        }
        std::vector<std::string> users;
        for (const auto& [pn, p] : state.processors) {
          bool uses = false;
          for (const InputRef& in : p.inputs) uses |= in.stream == name;
          for (const OutputRef& o : p.outputs) uses |= o.stream == name;
          uses |= p.dead_letter == name;
          if (uses) users.push_back(pn);
        }
        if (!users.empty()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "stream \"", name, "\" is used by processor(s) ", absl::StrJoin(users, ", "),
              "; delete them first: runnel processor delete ", absl::StrJoin(users, " ")));
        }
        removed = it->second;
        if (auto g = state.gateways.find(it->second.gateway); g != state.gateways.end()) {
          address = absl::StrCat("127.0.0.1:", g->second.grpc_port);
        }
        state.streams.erase(it);
        return absl::OkStatus();
      });
      if (!s.ok()) return FromStatus(s);
      if (!address.empty() && ControlPlanePid() != 0) {
        GatewayClient client(address, absl::Seconds(3));
        absl::Status d = client.DeleteStream(name);
        if (!d.ok() && !absl::IsNotFound(d)) {
          err() << "Warning: stream \"" << name << "\" stays on gateway \"" << removed.gateway
                << "\": " << d.message() << "\n";
        }
      }
      out() << "Deleted stream \"" << name << "\"\n";
    }
    return {0, ""};
  }

  Failure StreamStatus(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel stream status takes one NAME");
    const std::string& name = args.positionals[0];
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    auto it = state->streams.find(name);
    if (it == state->streams.end()) return Fail(absl::StrCat("stream \"", name, "\" not found"));
    std::optional<ControlPlaneStatus> status = CurrentStatus();
    out() << "# " << name << ": " << StreamPhase(status ? &*status : nullptr, name) << "\n---\n"
          << "gateway: " << it->second.gateway << "\n"
          << "contentType: " << it->second.content_type << "\n"
          << "partitions: " << it->second.partitions << "\n";
    if (status) {
      if (auto e = status->streams.find(name); e != status->streams.end() && !e->second.empty()) {
        out() << "message: " << json(e->second).dump() << "\n";
      }
    }
    absl::StatusOr<std::string> address = GatewayAddressOf(*state, it->second.gateway);
    if (status && address.ok()) {
      GatewayClient client(*address, absl::Seconds(3));
      absl::StatusOr<v1::Stream> live = client.GetStream(name);
      if (live.ok()) {
        out() << "offsets:\n";
        for (const v1::PartitionInfo& p : live->partition_info()) {
          out() << "  - partition: " << p.partition() << "\n    start: " << p.start_offset()
                << "\n    end: " << p.end_offset() << "\n";
        }
      } else {
        out() << "offsets: [] # " << live.status().message() << "\n";
      }
    }
    return {0, ""};
  }

  // ---- publish / subscribe ----------------------------------------------------------------------

  absl::StatusOr<std::pair<StreamSpec, std::string>> ResolveStream(const std::string& name) {
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return state.status();
    absl::StatusOr<StreamSpec> stream = FindStream(*state, name);
    if (!stream.ok()) return stream.status();
    absl::StatusOr<std::string> address = GatewayAddressOf(*state, stream->gateway);
    if (!address.ok()) return address.status();
    if (absl::Status s = GatewayRunning(stream->gateway); !s.ok()) return s;
    return std::pair{*stream, *address};
  }

  Failure Publish(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel publish takes one STREAM");
    std::vector<std::string> payloads = args.GetAll("payload");
    const bool by_line = args.Has("lines");
    if (by_line && !args.Has("file")) return Usage("--lines applies to --file only");
    if (args.Has("file") && by_line) {
      if (!payloads.empty()) return Usage("give --payload or --file, not both");
    } else if (args.Has("file")) {
      if (!payloads.empty()) return Usage("give --payload or --file, not both");
      std::string path = args.Get("file");
      if (path == "-") {
        std::ostringstream buf;
        buf << std::cin.rdbuf();
        payloads.push_back(buf.str());
      } else {
        absl::StatusOr<std::string> text = ReadFile(path);
        if (!text.ok()) return Fail(absl::StrCat("read --file: ", text.status().message()));
        payloads.push_back(*text);
      }
    }
    if (payloads.empty() && !by_line) return Usage("runnel publish needs --payload P or --file F");
    absl::StatusOr<std::pair<StreamSpec, std::string>> target = ResolveStream(args.positionals[0]);
    if (!target.ok()) return FromStatus(target.status());
    const auto& [stream, address] = *target;
    absl::StatusOr<MediaType> declared = ParseMediaType(stream.content_type);
    std::string content_type = args.Get(
        "content-type", declared.ok() && !declared->IsWildcard() ? stream.content_type
                                                                 : "application/octet-stream");
    absl::StatusOr<MediaType> given = ParseMediaType(content_type);
    if (!given.ok()) {
      return Usage(absl::StrCat("invalid --content-type \"", content_type, "\""));
    }
    if (declared.ok() && !MediaTypeAccepts(*declared, *given)) {
      return Fail(absl::StrCat("content type \"", content_type,
                               "\" is not compatible with stream \"", stream.name,
                               "\", which carries \"", stream.content_type, "\""));
    }
    std::map<std::string, std::string> headers;
    for (const std::string& h : args.GetAll("header")) {
      size_t colon = h.find(':');
      if (colon == std::string::npos || colon == 0) {
        return Usage(absl::StrCat("malformed --header \"", h, "\": want \"Name: value\""));
      }
      // Stored under the extension name the header-name rule gives it (x-salutation ->
      // h0x0salutation), as runnel-processor stores a function's output headers.
      headers[ExtensionName(std::string(absl::StripAsciiWhitespace(h.substr(0, colon))))] =
          std::string(absl::StripAsciiWhitespace(h.substr(colon + 1)));
    }
    GatewayClient client(address);
    auto publish_one = [&](const std::string& payload) -> absl::StatusOr<liiklus::PublishReply> {
      liiklus::PublishRequest request;
      request.set_topic(stream.name);
      if (args.Has("key")) request.set_key(args.Get("key"));
      liiklus::LiiklusEvent* event = request.mutable_liiklusevent();
      event->set_id(RandomId());
      event->set_type("runnel.publish");
      event->set_source("runnel-cli");
      event->set_time(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
      event->set_data_content_type(content_type);
      event->set_data(payload);
      for (const auto& [k, v] : headers) (*event->mutable_extensions())[k] = v;
      return client.Publish(request);
    };
    if (by_line) {
      // One record per line, published as the line is read, so that a generator piped into
      // `publish --file - --lines` streams live.
      const std::string path = args.Get("file");
      std::ifstream file;
      if (path != "-") {
        file.open(path);
        if (!file) return Fail(absl::StrCat("read --file: cannot open ", path));
      }
      std::istream& in = path == "-" ? std::cin : file;
      int64_t published = 0;
      std::string line;
      while (!Interrupted() && std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        absl::StatusOr<liiklus::PublishReply> reply = publish_one(line);
        if (!reply.ok()) {
          return Fail(absl::StrCat("after ", published, " record(s): ", reply.status().message()));
        }
        ++published;
      }
      out() << "Published " << published << " record(s) to stream \"" << stream.name << "\"\n";
      return {0, ""};
    }
    for (const std::string& payload : payloads) {
      absl::StatusOr<liiklus::PublishReply> reply = publish_one(payload);
      if (!reply.ok()) return FromStatus(reply.status());
      out() << "Published to stream \"" << stream.name << "\" (partition " << reply->partition()
            << ", offset " << reply->offset() << ")\n";
    }
    return {0, ""};
  }

  Failure Subscribe(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel subscribe takes one STREAM");
    absl::StatusOr<int> max = args.GetInt("max", 0, 1, std::numeric_limits<int>::max());
    absl::StatusOr<absl::Duration> timeout =
        args.GetDuration("timeout", absl::InfiniteDuration());
    if (!max.ok()) return FromStatus(max.status());
    if (!timeout.ok()) return FromStatus(timeout.status());
    const std::string encoding = args.Get("payload-encoding", "raw");
    if (encoding != "raw" && encoding != "base64") {
      return Usage("--payload-encoding is raw or base64");
    }
    absl::StatusOr<std::pair<StreamSpec, std::string>> target = ResolveStream(args.positionals[0]);
    if (!target.ok()) return FromStatus(target.status());
    const auto& [stream, address] = *target;
    SubscribeOptions options{
        .topic = stream.name,
        .group = args.Get("group", absl::StrCat("g", absl::ToUnixNanos(absl::Now()))),
        .from_beginning = args.Has("from-beginning")};
    GatewayClient client(address);
    int received = 0;
    std::atomic<bool> stop{false};
    const absl::Time deadline = absl::Now() + *timeout;
    // Stops the subscription on Ctrl-C or at the deadline; polls like Subscribe does.
    std::jthread watchdog([&](std::stop_token token) {
      while (!token.stop_requested() && !Interrupted() && absl::Now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      stop = true;
    });
    absl::Status s = client.Subscribe(
        options,
        [&](uint32_t partition, const liiklus::ReceiveReply::LiiklusEventRecord& record) {
          const liiklus::LiiklusEvent& e = record.event();
          json headers = json::object();
          // By the names functions see them by (common/header_names.h).
          for (const auto& [k, v] : e.extensions()) headers[HeaderName(k)] = v;
          nlohmann::ordered_json line = {{"id", e.id()},
                       {"payload", encoding == "base64" ? absl::Base64Escape(e.data()) : e.data()},
                       {"source", e.source()},
                       {"type", e.type()},
                       {"time", e.time()},
                       {"contentType", e.data_content_type()},
                       {"headers", headers}};
          // Where the record sits and what it is keyed by (issue 12): the key in text (empty:
          // null), the partition and offset, and the time the gateway's store stamped on it.
          line["key"] = record.key().empty() ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(record.key());
          line["partition"] = partition;
          line["offset"] = record.offset();
          if (record.has_timestamp()) {
            line["timestamp"] =
                absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ",
                                 absl::FromUnixSeconds(record.timestamp().seconds()) +
                                     absl::Nanoseconds(record.timestamp().nanos()),
                                 absl::UTCTimeZone());
          }
          out() << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
          ++received;
          return *max == 0 || received < *max;
        },
        stop);
    watchdog.request_stop();
    if (!s.ok()) return FromStatus(s);
    if (*max > 0 && received < *max && !Interrupted()) {
      return Fail(absl::StrCat("Timeout after \"", absl::FormatDuration(*timeout),
                               "\": received ", received, " of ", *max, " records"));
    }
    return {0, ""};
  }

  // ---- processors -------------------------------------------------------------------------------

  Failure ProcessorCreate(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel processor create takes one NAME");
    ProcessorSpec p{.name = args.positionals[0],
                    .function_cmd = args.Get("function-cmd"),
                    .function_address = args.Get("function-address"),
                    .function_url = args.Get("function-url"),
                    .image = args.Get("image"),
                    .window = args.Get("window"),
                    .key_by = args.Get("key-by"),
                    .event_time = args.Get("event-time"),
                    .max_out_of_orderness = args.Get("max-out-of-orderness"),
                    .allowed_lateness = args.Get("allowed-lateness"),
                    .idle_timeout = args.Get("idle-timeout"),
                    .late = args.Get("late"),
                    .invoke_timeout = args.Get("invoke-timeout"),
                    .input_content_type = args.Get("input-content-type"),
                    .output_content_type = args.Get("output-content-type"),
                    .created_unix_ms = NowMs()};
    if (absl::Status v = ValidateName("processor", p.name); !v.ok()) return FromStatus(v);
    const bool dry_run = args.Has("dry-run");
    if (args.Has("function-url") && p.function_url.empty()) {
      return Usage("--function-url needs a value: http://HOST:PORT/PATH or /PATH");
    }
    const bool url_runs_elsewhere = !p.function_url.empty() && p.function_url[0] != '/';
    if (!p.function_url.empty()) {
      if (absl::Status s = ValidateFunctionUrl(p.function_url); !s.ok()) return FromStatus(s);
      if (!p.function_address.empty()) {
        return Usage("--function-url and --function-address both name the function: give one "
                     "(--function-url for an HTTP function, --function-address for riff-rpc)");
      }
      if (url_runs_elsewhere && (!p.function_cmd.empty() || !p.image.empty())) {
        return Usage(absl::StrCat(
            "--function-url ", p.function_url, " names a function already running; with ",
            p.function_cmd.empty() ? "--image" : "--function-cmd",
            " give only its path (e.g. --function-url /), served on the port in $PORT"));
      }
      if (!url_runs_elsewhere && p.function_cmd.empty() && p.image.empty()) {
        return Usage(absl::StrCat("--function-url ", p.function_url,
                                  " is a path: add --function-cmd CMD (or --image IMAGE with "
                                  "--dry-run) to run the HTTP server it belongs to, or give a "
                                  "full URL http://HOST:PORT", p.function_url));
      }
    }
    int sources = !p.function_cmd.empty() + !p.function_address.empty() + !p.image.empty() +
                  url_runs_elsewhere;
    if (sources != 1) {
      return Usage("give exactly one of --function-cmd CMD, --function-address HOST:PORT, "
                   "--function-url http://HOST:PORT/PATH, or (with --dry-run) --image IMAGE");
    }
    if (!p.image.empty() && !dry_run) {
      return Usage("--image runs the function in a cluster: add --dry-run -o yaml to render its "
                   "manifests, or run it locally with --function-cmd CMD");
    }
    if (!p.function_address.empty()) {
      if (absl::StatusOr<HostPort> hp = ParseHostPort(p.function_address); !hp.ok()) {
        return FromStatus(hp.status());
      }
    }
    for (const std::string& text : args.GetAll("input")) {
      absl::StatusOr<InputRef> ref = ParseInputRef(text);
      if (!ref.ok()) return FromStatus(ref.status());
      p.inputs.push_back(*ref);
    }
    for (const std::string& text : args.GetAll("output")) {
      absl::StatusOr<OutputRef> ref = ParseOutputRef(text);
      if (!ref.ok()) return FromStatus(ref.status());
      p.outputs.push_back(*ref);
    }
    if (p.inputs.empty()) return Usage("runnel processor create needs at least one --input");
    p.dead_letter = args.Get("dead-letter", "");
    for (const std::string& kv : args.GetAll("env")) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Usage(absl::StrCat("malformed --env \"", kv, "\": want KEY=VALUE"));
      }
      p.env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const std::string* t : {&p.input_content_type, &p.output_content_type}) {
      if (!t->empty() && !ParseMediaType(*t).ok()) {
        return Usage(absl::StrCat("invalid content type \"", *t, "\""));
      }
    }
    for (const char* flag : {"window", "key-by", "event-time", "max-out-of-orderness",
                             "allowed-lateness", "idle-timeout", "late", "invoke-timeout"}) {
      if (args.Has(flag) && args.Get(flag).empty()) {
        return Usage(absl::StrCat("--", flag, " needs a value"));
      }
    }
    absl::StatusOr<int> max_attempts = args.GetInt("max-attempts", -1, 0, 1000);
    if (!max_attempts.ok()) return FromStatus(max_attempts.status());
    p.max_attempts = *max_attempts;
    // What runnel-processor would refuse at start is refused now, not crash-looped on.
    if (absl::Status s = ValidateProcessorSettings(p); !s.ok()) return FromStatus(s);
    absl::StatusOr<int> replicas = args.GetInt("replicas", 1, 1, 64);
    absl::StatusOr<absl::Duration> timeout = args.GetDuration("wait-timeout", absl::Seconds(60));
    if (!replicas.ok()) return FromStatus(replicas.status());
    if (!timeout.ok()) return FromStatus(timeout.status());
    p.replicas = *replicas;
    if (p.replicas > 1 && !p.key_by.empty() && p.key_by != "key") {
      return FromStatus(absl::InvalidArgumentError(absl::StrCat(
          "--key-by ", p.key_by, " gathers records of one key from every partition in one "
          "replica, so --replicas ", p.replicas, " would give each key's windows in parts. Run one "
          "replica, or re-key upstream (a processor with --key-by ", p.key_by,
          " and a map function writes outputs keyed by it) and window that stream with "
          "--key-by key")));
    }
    std::error_code cwd_error;
    p.working_dir = std::filesystem::current_path(cwd_error).string();

    absl::StatusOr<State> loaded = store_.Load();
    if (!loaded.ok()) return FromStatus(loaded.status());
    if (dry_run) {
      std::map<std::string, std::string> gateway_of;
      std::vector<std::string> known{p.dead_letter, LateSideOutputStream(p)};
      for (const InputRef& in : p.inputs) known.push_back(in.stream);
      for (const std::string& stream : known) {
        if (stream.empty()) continue;
        if (auto s = loaded->streams.find(stream); s != loaded->streams.end()) {
          gateway_of[stream] = s->second.gateway;
        } else if (args.Has("gateway")) {
          gateway_of[stream] = args.Get("gateway");
        }
      }
      // A dead-letter stream known here is checked as in local mode; one that is not is the
      // cluster's business (runnel-processor refuses a narrow one at start).
      if (auto s = loaded->streams.find(p.dead_letter);
          !p.dead_letter.empty() && s != loaded->streams.end() && s->second.content_type != "*/*") {
        return FromStatus(absl::FailedPreconditionError(absl::StrCat(
            "dead-letter stream \"", p.dead_letter, "\" carries \"", s->second.content_type,
            "\" but dead letters keep their input records' content types, so it must carry "
            "\"*/*\"")));
      }
      return PrintManifests(RenderProcessor(p, gateway_of, ManifestOptionsFrom(args)),
                            args.Get("output-format", "yaml"));
    }
    if (args.Has("output-format")) return Usage("-o applies to --dry-run only");
    if (absl::Status s = CheckStreams(*loaded, p); !s.ok()) return FromStatus(s);

    absl::Status updated = store_.Update([&](State& state) -> absl::Status {
      if (state.processors.count(p.name) != 0) {
        return absl::AlreadyExistsError(absl::StrCat("processor \"", p.name, "\" already exists"));
      }
      RUNNEL_RETURN_IF_ERROR(CheckStreams(state, p));
      std::set<int> taken = PortsInUse(state);
      for (int i = 0; i < p.replicas; ++i) {
        ReplicaPorts ports;
        if (!p.function_cmd.empty()) {
          RUNNEL_ASSIGN_OR_RETURN(ports.function_grpc_port, PickFreePort(taken));
          RUNNEL_ASSIGN_OR_RETURN(ports.function_http_port, PickFreePort(taken));
        }
        RUNNEL_ASSIGN_OR_RETURN(ports.processor_http_port, PickFreePort(taken));
        p.ports.push_back(ports);
      }
      state.processors[p.name] = p;
      return absl::OkStatus();
    });
    if (!updated.ok()) return FromStatus(updated);
    out() << "Created processor \"" << p.name << "\"\n";
    if (absl::Status s = EnsureControlPlane(true); !s.ok()) return FromStatus(s);
    err() << "Waiting for processor \"" << p.name << "\" to become ready...\n";
    const size_t expected = static_cast<size_t>(p.replicas) * (p.function_cmd.empty() ? 1 : 2);
    Failure f = WaitForProcesses("processor", p.name, "processor/" + p.name + "/", *timeout,
                                 expected);
    if (f.code != 0) return f;
    out() << "Processor \"" << p.name << "\" is ready\n";
    return {0, ""};
  }

  // What runs the function, for tables: the command, else the address or URL.
  static std::string FunctionOf(const ProcessorSpec& p) {
    if (!p.function_cmd.empty()) return p.function_cmd;
    return p.function_address.empty() ? p.function_url : p.function_address;
  }

  // Every stream exists; the function's declared types fit the streams' types; the dead-letter
  // stream takes any content type and lives on the inputs' gateway.
  absl::Status CheckStreams(const State& state, const ProcessorSpec& p) {
    if (!p.dead_letter.empty()) {
      RUNNEL_ASSIGN_OR_RETURN(StreamSpec dl, FindStream(state, p.dead_letter));
      if (dl.content_type != "*/*") {
        return absl::FailedPreconditionError(absl::StrCat(
            "dead-letter stream \"", p.dead_letter, "\" carries \"", dl.content_type,
            "\" but dead letters keep their input records' content types, so it must carry "
            "\"*/*\"; create one with: runnel stream create ", p.dead_letter, "-any --gateway ",
            dl.gateway, " --content-type '*/*', and pass --dead-letter ", p.dead_letter,
            "-any"));
      }
      for (const InputRef& in : p.inputs) {
        RUNNEL_ASSIGN_OR_RETURN(StreamSpec s, FindStream(state, in.stream));
        if (s.gateway != dl.gateway) {
          return absl::FailedPreconditionError(absl::StrCat(
              "dead-letter stream \"", p.dead_letter, "\" is on gateway \"", dl.gateway,
              "\" but input stream \"", in.stream, "\" is on \"", s.gateway,
              "\"; create the dead-letter stream on \"", s.gateway, "\""));
        }
      }
    }
    if (const std::string late = LateSideOutputStream(p); !late.empty()) {
      // Late records are published as they are: the stream must take every input's records.
      RUNNEL_ASSIGN_OR_RETURN(StreamSpec side, FindStream(state, late));
      absl::StatusOr<MediaType> side_type = ParseMediaType(side.content_type);
      for (const InputRef& in : p.inputs) {
        RUNNEL_ASSIGN_OR_RETURN(StreamSpec s, FindStream(state, in.stream));
        if (s.gateway != side.gateway) {
          return absl::FailedPreconditionError(
              absl::StrCat("late side-output stream \"", late, "\" is on gateway \"", side.gateway,
                           "\" but input stream \"", in.stream, "\" is on \"", s.gateway,
                           "\"; create the side-output stream on \"", s.gateway, "\""));
        }
        absl::StatusOr<MediaType> input_type = ParseMediaType(s.content_type);
        if (!side_type.ok() || !input_type.ok() || !MediaTypeAccepts(*side_type, *input_type)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "late side-output stream \"", late, "\" carries \"", side.content_type,
              "\" but input stream \"", in.stream, "\" carries \"", s.content_type,
              "\"; late records keep their content type: use a stream of content type \"",
              s.content_type, "\" or \"*/*\""));
        }
      }
    }
    absl::StatusOr<MediaType> accepts, produces;
    if (!p.input_content_type.empty()) accepts = ParseMediaType(p.input_content_type);
    if (!p.output_content_type.empty()) produces = ParseMediaType(p.output_content_type);
    for (const InputRef& in : p.inputs) {
      RUNNEL_ASSIGN_OR_RETURN(StreamSpec s, FindStream(state, in.stream));
      absl::StatusOr<MediaType> carried = ParseMediaType(s.content_type);
      if (!p.input_content_type.empty() && accepts.ok() && carried.ok() &&
          !MediaTypeAccepts(*accepts, *carried) && !carried->IsWildcard()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "content type mismatch: input stream \"", in.stream, "\" carries \"", s.content_type,
            "\" but processor \"", p.name, "\" accepts \"", p.input_content_type, "\""));
      }
    }
    for (const OutputRef& o : p.outputs) {
      RUNNEL_ASSIGN_OR_RETURN(StreamSpec s, FindStream(state, o.stream));
      absl::StatusOr<MediaType> carried = ParseMediaType(s.content_type);
      if (!p.output_content_type.empty() && produces.ok() && carried.ok() &&
          !MediaTypeAccepts(*carried, *produces)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "content type mismatch: output stream \"", o.stream, "\" carries \"", s.content_type,
            "\" but processor \"", p.name, "\" produces \"", p.output_content_type, "\""));
      }
    }
    return absl::OkStatus();
  }

  std::string ProcessorPhase(const ControlPlaneStatus* status, const ProcessorSpec& p) {
    if (status == nullptr) return "ControlPlaneDown";
    std::string worst = "Ready";
    int seen = 0;
    for (const ProcessStatus& ps : status->processes) {
      if (!absl::StartsWith(ps.name, "processor/" + p.name + "/")) continue;
      ++seen;
      std::string phase = ProcessPhase(status, ps.name);
      if (phase == "CrashLoopBackOff") return phase;
      if (phase != "Ready") worst = phase;
    }
    return seen == 0 ? "<unknown>" : worst;
  }

  // The records, failures and watermark lag of `p`'s replicas (GET /status on each one's HTTP
  // port), combined; nullopt when no replica answered. `problems` gets one line per replica
  // that did not.
  std::optional<cli::ReplicaStatus> FetchRecordStatus(const ProcessorSpec& p,
                                                      absl::Duration timeout,
                                                      std::vector<std::string>* problems) {
    std::vector<cli::ReplicaStatus> answered;
    for (size_t i = 0; i < p.ports.size(); ++i) {
      absl::StatusOr<cli::ReplicaStatus> r =
          FetchReplicaStatus(p.ports[i].processor_http_port, timeout);
      if (r.ok()) {
        answered.push_back(*r);
      } else if (problems != nullptr) {
        problems->push_back(absl::StrCat("replica ", i, ": ", r.status().message()));
      }
    }
    if (answered.empty()) return std::nullopt;
    return CombineReplicaStatuses(answered);
  }

  Failure ProcessorList(const ParsedArgs& args) {
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    if (state->processors.empty()) {
      out() << "No processors found.\n";
      return {0, ""};
    }
    std::optional<ControlPlaneStatus> status = CurrentStatus();
    std::vector<std::vector<std::string>> rows{
        {"NAME", "FUNCTION", "INPUTS", "OUTPUTS", "REPLICAS", "STATUS"}};
    rows[0].insert(rows[0].end(), std::begin(kStatusColumns), std::end(kStatusColumns));
    rows[0].push_back("AGE");
    for (const auto& [name, p] : state->processors) {
      std::vector<std::string> inputs, outputs;
      for (const InputRef& in : p.inputs) inputs.push_back(FormatRef(in.alias, in.stream));
      for (const OutputRef& o : p.outputs) outputs.push_back(FormatRef(o.alias, o.stream));
      std::string function = FunctionOf(p);
      if (function.size() > 40) function = function.substr(0, 37) + "...";
      std::vector<std::string> row{name, function, absl::StrJoin(inputs, ", "),
                                   outputs.empty() ? "<empty>" : absl::StrJoin(outputs, ", "),
                                   std::to_string(p.replicas),
                                   ProcessorPhase(status ? &*status : nullptr, p)};
      std::optional<cli::ReplicaStatus> records;
      if (status) records = FetchRecordStatus(p, absl::Seconds(1), nullptr);
      for (std::string& column : StatusColumns(records)) row.push_back(std::move(column));
      row.push_back(Age(p.created_unix_ms));
      rows.push_back(std::move(row));
    }
    out() << FormatTable(rows);
    if (!status) err() << "The local control plane is not running; start it with: runnel up\n";
    return {0, ""};
  }

  Failure ProcessorDelete(const ParsedArgs& args) {
    if (args.positionals.empty()) return Usage("runnel processor delete needs NAME...");
    for (const std::string& name : args.positionals) {
      absl::Status s = store_.Update([&](State& state) -> absl::Status {
        if (state.processors.erase(name) == 0) {
          return absl::NotFoundError(absl::StrCat("processor \"", name, "\" not found"));
        }
        return absl::OkStatus();
      });
      if (!s.ok()) return FromStatus(s);
      WaitGone("processor/" + name + "/");
      std::error_code ec;
      std::filesystem::remove_all(absl::StrCat(paths_.home(), "/processors/", name), ec);
      out() << "Deleted processor \"" << name << "\"\n";
    }
    return {0, ""};
  }

  Failure ProcessorStatus(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel processor status takes one NAME");
    const std::string& name = args.positionals[0];
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    auto it = state->processors.find(name);
    if (it == state->processors.end()) {
      return Fail(absl::StrCat("processor \"", name, "\" not found"));
    }
    const ProcessorSpec& p = it->second;
    std::optional<ControlPlaneStatus> status = CurrentStatus();
    out() << "# " << name << ": " << ProcessorPhase(status ? &*status : nullptr, p) << "\n---\n";
    out() << "function: " << json(FunctionOf(p)).dump() << "\n";
    if (!p.function_url.empty()) out() << "functionUrl: " << json(p.function_url).dump() << "\n";
    if (!p.window.empty()) out() << "window: " << json(p.window).dump() << "\n";
    for (const auto& [key, value] : std::vector<std::pair<const char*, std::string>>{
             {"keyBy", p.key_by},
             {"eventTime", p.event_time},
             {"maxOutOfOrderness", p.max_out_of_orderness},
             {"allowedLateness", p.allowed_lateness},
             {"idleTimeout", p.idle_timeout},
             {"late", p.late},
             {"invokeTimeout", p.invoke_timeout}}) {
      if (!value.empty()) out() << key << ": " << json(value).dump() << "\n";
    }
    if (p.max_attempts >= 0) out() << "maxAttempts: " << p.max_attempts << "\n";
    out() << "replicas: " << p.replicas << "\ninputs:\n";
    for (const InputRef& in : p.inputs) {
      out() << "  - stream: " << in.stream << "\n    alias: " << in.alias
            << "\n    startOffset: " << in.start_offset << "\n";
      absl::StatusOr<StreamSpec> stream = FindStream(*state, in.stream);
      if (status && stream.ok()) {
        absl::StatusOr<std::string> address = GatewayAddressOf(*state, stream->gateway);
        if (address.ok()) {
          GatewayClient client(*address, absl::Seconds(3));
          absl::StatusOr<int64_t> lag = client.Lag(in.stream, name);
          if (lag.ok()) {
            out() << "    lag: " << *lag << "\n";
          } else {
            out() << "    lag: null # " << lag.status().message() << "\n";
          }
        }
      }
    }
    out() << "outputs:" << (p.outputs.empty() ? " []" : "") << "\n";
    for (const OutputRef& o : p.outputs) {
      out() << "  - stream: " << o.stream << "\n    alias: " << o.alias << "\n";
    }
    if (status) {
      std::vector<std::string> problems;
      std::optional<cli::ReplicaStatus> records = FetchRecordStatus(p, absl::Seconds(3), &problems);
      if (records) {
        out() << RenderStatusYaml(*records);
      } else {
        out() << "records: null\n";
      }
      for (const std::string& problem : problems) out() << "# " << problem << "\n";
    }
    out() << "processes:\n";
    if (!status) {
      out() << "  [] # the local control plane is not running; start it with: runnel up\n";
      return {0, ""};
    }
    for (const ProcessStatus& ps : status->processes) {
      if (absl::StartsWith(ps.name, "processor/" + name + "/")) PrintProcess(ps);
    }
    return {0, ""};
  }

  Failure ProcessorTail(const ParsedArgs& args) {
    if (args.positionals.size() != 1) return Usage("runnel processor tail takes one NAME");
    const std::string& name = args.positionals[0];
    absl::StatusOr<State> state = store_.Load();
    if (!state.ok()) return FromStatus(state.status());
    auto it = state->processors.find(name);
    if (it == state->processors.end()) {
      return Fail(absl::StrCat("processor \"", name, "\" not found"));
    }
    const bool since_given = args.Has("since");
    absl::StatusOr<int> lines = args.GetInt("lines", since_given ? 0 : 20, 0, 100000);
    absl::StatusOr<absl::Duration> timeout = args.GetDuration("timeout", absl::InfiniteDuration());
    absl::StatusOr<absl::Duration> since = args.GetDuration("since", absl::ZeroDuration());
    if (!lines.ok()) return FromStatus(lines.status());
    if (!timeout.ok()) return FromStatus(timeout.status());
    if (!since.ok()) return FromStatus(since.status());
    const absl::Time cutoff = absl::Now() - *since;
    std::vector<ProcessSpec> specs =
        DesiredProcesses(*state, paths_, [](const std::string& n) { return n; });
    struct Followed {
      std::string label;
      std::string path;
      std::streamoff offset = 0;
      std::string partial;
    };
    std::vector<Followed> logs;
    for (const ProcessSpec& spec : specs) {
      if (!absl::StartsWith(spec.name, "processor/" + name + "/")) continue;
      Followed f{.label = spec.name.substr(spec.name.rfind('/') + 1), .path = spec.log_path};
      std::string history;
      if (since_given) {
        absl::StatusOr<std::string> times = ReadFile(LogTimesPath(f.path));
        absl::StatusOr<std::string> log = ReadFile(f.path);
        if (log.ok()) {
          const size_t from = static_cast<size_t>(
              std::min<int64_t>(LogOffsetSince(times.ok() ? *times : "", cutoff), log->size()));
          history = log->substr(from);
          if (*lines > 0) {
            std::vector<absl::string_view> all = absl::StrSplit(history, '\n', absl::SkipEmpty());
            size_t first = all.size() > static_cast<size_t>(*lines) ? all.size() - *lines : 0;
            history = absl::StrJoin(all.begin() + first, all.end(), "\n");
          }
        }
      } else {
        history = TailFile(f.path, *lines);
      }
      for (absl::string_view line : absl::StrSplit(history, '\n', absl::SkipEmpty())) {
        out() << "[" << f.label << "] " << line << "\n";
      }
      struct stat st {};
      if (::stat(f.path.c_str(), &st) == 0) f.offset = st.st_size;
      logs.push_back(std::move(f));
    }
    out().flush();
    if (args.Has("no-follow")) return {0, ""};
    const absl::Time deadline = absl::Now() + *timeout;
    while (!Interrupted() && absl::Now() < deadline) {
      for (Followed& f : logs) {
        std::ifstream in(f.path, std::ios::binary);
        if (!in) continue;
        in.seekg(0, std::ios::end);
        std::streamoff size = in.tellg();
        if (size < f.offset) f.offset = 0;  // truncated or replaced
        if (size == f.offset) continue;
        in.seekg(f.offset);
        std::string chunk(static_cast<size_t>(size - f.offset), '\0');
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        f.offset = size;
        f.partial += chunk;
        size_t nl;
        while ((nl = f.partial.find('\n')) != std::string::npos) {
          out() << "[" << f.label << "] " << f.partial.substr(0, nl) << "\n";
          f.partial.erase(0, nl + 1);
        }
      }
      out().flush();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return {0, ""};
  }

  const CliEnv& env_;
  Paths paths_;
  StateStore store_;
};

}  // namespace

std::string FormatAge(absl::Duration age) {
  int64_t s = absl::ToInt64Seconds(age);
  if (s < 0) s = 0;
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 120 * 60) return absl::StrCat(s / 60, "m");
  if (s < 48 * 3600) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 3, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

BinaryResolver MakeBinaryResolver(const CliEnv& env) {
  return [env_binaries = env.binaries, self = env.self_exe,
          path = env.path](const std::string& name) -> std::string {
    if (auto it = env_binaries.find(name); it != env_binaries.end() && !it->second.empty()) {
      return Exists(it->second) ? it->second : "";
    }
    const std::filesystem::path dir = std::filesystem::path(self).parent_path();
    const std::string component = name == "runnel-gateway" ? "gateway" : "sidecar";
    for (const std::filesystem::path& candidate :
         {dir / name, dir.parent_path() / component / name}) {
      if (Exists(candidate.string())) return candidate.string();
    }
    for (absl::string_view d : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      std::string candidate = absl::StrCat(d, "/", name);
      if (Exists(candidate)) return candidate;
    }
    return "";
  };
}

int RunCli(const std::vector<std::string>& args, const CliEnv& env) {
  Cli cli(env);
  return cli.Run(args);
}

}  // namespace runnel::cli
