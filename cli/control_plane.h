#pragma once
// The local control plane: runs what state.json describes as supervised child processes and
// reports what it sees in status.json (see cli/state.h for the files).
//
//   gateway g       runnel-gateway on its loopback ports, data under gateways/g/data
//   processor p     per replica i: "function-i" (the --function-cmd, through /bin/sh, with
//                   GRPC_PORT/HTTP_PORT set, and PORT = HTTP_PORT for an HTTP function) and
//                   "processor-i" (runnel-processor with riff's environment: FUNCTION — or
//                   RUNNEL_FUNCTION_URL for an HTTP function —, GROUP, INPUT_NAMES, OUTPUT_NAMES,
//                   INPUT_START_OFFSETS, CNB_BINDINGS), started once its gateways and its
//                   function are Ready (the function's riff-rpc port, or its HTTP port, accepts
//                   connections).
//
// A process that exits is restarted after a back-off (1s, 2s, 4s … capped at 30s; reset once a
// run lasted 10s). Each process gets its own process group, so a function started through the
// shell is stopped with all its children. Stopping (SIGTERM/SIGINT to the control plane) stops
// processors first, then gateways, each with SIGTERM and, after 10s, SIGKILL.
//
// Orphans: every process it starts carries RUNNEL_CONTROL_PLANE_HOME=<home> in its environment.
// A control plane that dies without stopping its processes (kill -9) leaves them running under
// init; the next control plane for the same home (`runnel up`, or any command that starts it)
// finds them in /proc before it starts anything, stops them (SIGTERM, 10s, SIGKILL) and waits
// until they are gone, then starts fresh ones from state.json.
//
// Threading: everything runs on the thread that calls Run(); the functions here are pure.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/state.h"

namespace runnel::cli {

struct ProcessSpec {
  std::string name;  // "gateway/g", "processor/p/function-0", "processor/p/processor-0"
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  // added to the control plane's own
  std::string log_path;
  std::string working_dir;  // "" = the control plane's
  // Ready once the log written since the start contains `ready_log_line`, or else once loopback
  // `ready_port` accepts connections (and answers 200 to GET `ready_http_path` if set); with
  // neither, Ready as soon as it runs.
  std::string ready_log_line;
  int ready_port = 0;
  std::string ready_http_path;
  // Processes that must be Ready before this one starts.
  std::vector<std::string> after;
  // Why it cannot start at all ("" if it can), e.g. a binary that is not built.
  std::string blocked;

  // Two specs with equal fingerprints run the same program the same way.
  std::string Fingerprint() const;
};

// Finds a program by name ("runnel-gateway"); "" if it is nowhere to be found.
using BinaryResolver = std::function<std::string(const std::string& name)>;

// The processes `state` stands for, in start order. Pure.
std::vector<ProcessSpec> DesiredProcesses(const State& state, const Paths& paths,
                                          const BinaryResolver& resolve);

// Restart delay after `consecutive_failures` (≥1) failed runs in a row.
absl::Duration RestartDelay(int consecutive_failures);
// A run that lasted this long resets the failure count.
inline constexpr absl::Duration kStableRun = absl::Seconds(10);

// riff's CNB_BINDINGS layout for `processor` (input_000/{metadata,secret}/…, output_000/…),
// written under paths.bindings_dir(). Errors: kFailedPrecondition for a stream or gateway missing
// from `state`; kInternal on I/O failure.
absl::Status WriteBindings(const ProcessorSpec& processor, const State& state, const Paths& paths);

// Runs the control plane until SIGTERM or SIGINT. Returns kAlreadyExists when another control
// plane owns `paths.home()`.
absl::Status RunControlPlane(const Paths& paths, const BinaryResolver& resolve);

}  // namespace runnel::cli
