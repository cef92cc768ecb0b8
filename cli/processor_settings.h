#pragma once
// A processor's window, key, event-time and retry settings as `runnel processor create` takes
// them (--window, --key-by, --event-time, --max-out-of-orderness, --allowed-lateness,
// --idle-timeout, --late, --max-attempts, --invoke-timeout). They are checked with the parsers
// runnel-processor itself uses (common/window_spec.h, common/record_selector.h), so a setting the
// processor would refuse is refused when the processor is created instead of crash-looping its
// sidecar, and become runnel-processor flags of the same names in local mode and in the
// Kubernetes manifests (charts/runnel renders the same flags from its values).
//
// Pure functions; thread-compatible.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/state.h"

namespace runnel::cli {

// Checks the settings of `p`. Errors: kInvalidArgument naming the flag, its value and the fix;
// a bad --window also gets the grammar (WindowSpecHelp()).
absl::Status ValidateProcessorSettings(const ProcessorSpec& p);

// The stream of `p.late` when it is "side-output:STREAM", else "".
std::string LateSideOutputStream(const ProcessorSpec& p);

// runnel-processor's flags for the settings of `p` that are set, in this order: --window,
// --key-by, --event-time, --max-out-of-orderness, --allowed-lateness, --idle-timeout, --late,
// --max-attempts, --invoke-timeout. `late_stream_address` is "HOST:PORT/STREAM" of the late
// side-output stream, used when `p.late` is "side-output:STREAM".
std::vector<std::string> ProcessorSettingArgs(const ProcessorSpec& p,
                                              const std::string& late_stream_address);

// What `processor create --help` adds after its flags: the window grammar and the event-time
// sources.
std::string ProcessorSettingsHelp();

}  // namespace runnel::cli
