#pragma once
// The local control plane's files under the state directory ($RUNNEL_HOME, default ~/.runnel):
//
//   state.json                  desired resources (gateways, streams, processors), written by the CLI
//   status.json                 what the control plane observes, written by the control plane only
//   control-plane.pid / .log    the control plane process
//   gateways/<g>/data           a gateway's file log
//   logs/<process>.log          one log per supervised process, for `tail`
//   logs/<process>.log.times    "<unix ms> <log size>" lines: when the log grew (`tail --since`)
//   processors/<p>/bindings     riff CNB_BINDINGS directories for each processor's sidecar
//
// Both JSON files are replaced atomically (write to a temporary file, fsync, rename), so a reader
// never sees half a file. Writers of state.json hold an exclusive flock on state.lock for the
// whole read-modify-write, so two CLI invocations never lose each other's changes.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/references.h"

namespace runnel::cli {

struct GatewaySpec {
  std::string name;
  std::string store = "file";   // file | memory | kafka
  std::string bootstrap_servers;  // kafka only
  int grpc_port = 0;            // loopback ports, fixed at creation so addresses stay stable
  int http_port = 0;
  int64_t created_unix_ms = 0;
};

struct StreamSpec {
  std::string name;
  std::string gateway;
  std::string content_type = "application/octet-stream";
  int partitions = 1;
  int64_t created_unix_ms = 0;
};

struct ReplicaPorts {
  int function_grpc_port = 0;  // the function's riff-rpc port (0 with --function-address)
  int function_http_port = 0;
  int processor_http_port = 0;  // the sidecar's health and metrics port
};

struct ProcessorSpec {
  std::string name;
  std::string function_cmd;      // local mode: a shell command started beside the sidecar
  std::string function_address;  // or an already running function, HOST:PORT
  // An HTTP function (runnel-processor --function-url): "http://HOST:PORT/PATH" for one already
  // running, or just "/PATH" for the HTTP server that function_cmd (local mode) or image
  // (cluster mode) starts on the port it is given in PORT. Excludes function_address.
  std::string function_url;
  std::string image;             // cluster mode only
  std::vector<InputRef> inputs;
  std::vector<OutputRef> outputs;
  // Stream for records whose window failed for good (runnel-processor --dead-letter); "" = none.
  // On the inputs' gateway, of content type "*/*" (dead letters keep their input's type).
  std::string dead_letter;
  std::string window;  // runnel-processor --window, as given; "" = its default
  // Keys, event time and retries: runnel-processor's flags of the same names, as given (checked
  // by ValidateProcessorSettings, cli/processor_settings.h); "" = the processor's default.
  std::string key_by;
  std::string event_time;
  std::string max_out_of_orderness;
  std::string allowed_lateness;
  std::string idle_timeout;
  // "drop", "refire" or "side-output:STREAM" (STREAM on the inputs' gateway, which --late gets
  // as side-output:HOST:PORT/STREAM); "" = drop.
  std::string late;
  int max_attempts = -1;  // --max-attempts; -1 = the processor's default, 0 = retry forever
  std::string invoke_timeout;
  std::string input_content_type;   // what the function accepts ("" = anything)
  std::string output_content_type;  // what the function produces ("" = anything)
  std::map<std::string, std::string> env;
  // Where `processor create` ran: the function command runs there, so relative paths in it keep
  // their meaning whichever directory the control plane was started from.
  std::string working_dir;
  int replicas = 1;
  std::vector<ReplicaPorts> ports;  // one per replica
  int64_t created_unix_ms = 0;
};

struct State {
  std::map<std::string, GatewaySpec> gateways;
  std::map<std::string, StreamSpec> streams;
  std::map<std::string, ProcessorSpec> processors;
};

// One supervised process as the control plane sees it.
struct ProcessStatus {
  std::string name;   // "gateway/g", "processor/p/function-0", "processor/p/processor-0"
  std::string phase;  // Waiting | Starting | Ready | BackOff | Stopped
  int pid = 0;
  int restarts = 0;
  std::string last_exit;  // "exited with code 1", "killed by signal 9"; empty if never exited
  int64_t started_unix_ms = 0;
  int64_t next_start_unix_ms = 0;  // BackOff: when the next attempt is due
  std::string log_path;
  std::string message;  // why it waits, or the last line of a failed run
};

struct ControlPlaneStatus {
  int pid = 0;
  int64_t updated_unix_ms = 0;
  std::string processor_binary;  // "" when runnel-processor cannot be found
  std::vector<ProcessStatus> processes;
  // Streams the control plane has created on their gateway; name → error message ("" = ready).
  std::map<std::string, std::string> streams;

  const ProcessStatus* Find(absl::string_view name) const;
};

std::string SerializeState(const State& state);
// Errors: kDataLoss naming the file when the JSON is malformed.
absl::StatusOr<State> ParseState(absl::string_view json, absl::string_view origin);
std::string SerializeStatus(const ControlPlaneStatus& status);
absl::StatusOr<ControlPlaneStatus> ParseStatus(absl::string_view json, absl::string_view origin);

// Paths under the state directory.
class Paths {
 public:
  explicit Paths(std::string home) : home_(std::move(home)) {}
  const std::string& home() const { return home_; }
  std::string state_file() const { return home_ + "/state.json"; }
  std::string lock_file() const { return home_ + "/state.lock"; }
  std::string status_file() const { return home_ + "/status.json"; }
  std::string pid_file() const { return home_ + "/control-plane.pid"; }
  std::string control_plane_log() const { return home_ + "/control-plane.log"; }
  std::string gateway_data_dir(absl::string_view g) const;
  std::string bindings_dir(absl::string_view processor) const;
  // "gateway/g" → logs/gateway-g.log
  std::string log_file(absl::string_view process_name) const;

 private:
  std::string home_;
};

// Reads and updates state.json. Thread-compatible; safe across processes (flock).
class StateStore {
 public:
  explicit StateStore(Paths paths) : paths_(std::move(paths)) {}

  // The current state; an empty state when the file does not exist yet.
  absl::StatusOr<State> Load() const;
  // Locks, loads, applies `change`, and saves unless `change` fails (its error is returned).
  absl::Status Update(const std::function<absl::Status(State&)>& change);

 private:
  Paths paths_;
};

// Writes `contents` to `path` atomically (temporary file, fsync, rename).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);
// The whole file; kNotFound if it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);
// The last `lines` lines of a file ("" if it cannot be read).
std::string TailFile(const std::string& path, int lines);

// The index beside a process log that records when it grew: the control plane appends
// "<unix ms> <size>\n" when a process starts and then at most once a second while its log grows.
std::string LogTimesPath(absl::string_view log_path);
// Where to start reading a log for the lines written since `since` (a time), given its index
// text: the size recorded last at or before `since` (0 if none). Lines written up to a second
// before `since` may be included; none written after it are left out. Pure.
int64_t LogOffsetSince(absl::string_view times_text, absl::Time since);

}  // namespace runnel::cli
