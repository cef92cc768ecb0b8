#pragma once
// runnel-processor's configuration, riff-compatible where riff defined it. The only place the
// processor reads the environment or the bindings directory.
//
// Sources, later wins per setting: defaults, environment, flags.
//   riff:  FUNCTION, GROUP, INPUT_NAMES, OUTPUT_NAMES, INPUT_START_OFFSETS, CNB_BINDINGS
//          ($CNB_BINDINGS/input_000/secret/{gateway,topic}, output_000/secret/{gateway,topic},
//          output_000/metadata/contentType)
//   ours:  --input [alias:]host:port/stream[@earliest|latest]   (repeatable)
//          --output [alias:]host:port/stream                     (repeatable)
//          --window SPEC, --dead-letter host:port/stream, --http-port, ... (see ProcessorUsage()).

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/options.h"

namespace runnel::sidecar {

struct ProcessorCommandLine {
  ProcessorOptions options;
  std::string http_host = "0.0.0.0";
  int http_port = 8090;  // 0 picks a free port.
  std::string log_level = "info";
  bool help = false;
};

// Reads a whole file; NOT_FOUND when it does not exist. Injected so tests can use temp dirs or
// plain maps.
using FileReader = std::function<absl::StatusOr<std::string>(const std::string& path)>;
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// Parses `args` (argv without the program name) and `env`. Every error is INVALID_ARGUMENT and
// names the setting, where it came from and its value.
absl::StatusOr<ProcessorCommandLine> ParseProcessorCommandLine(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
    const FileReader& read_file = ReadWholeFile);

// Parses "[alias:]host:port/stream[@earliest|latest]". `allow_offset` is false for outputs.
absl::StatusOr<StreamBinding> ParseStreamBinding(const std::string& text, bool allow_offset);

std::string ProcessorUsage();

// Whether a dead-letter stream of content type `dead_letter_type` takes every record the inputs
// can hold. Dead letters keep their input record's content type, and an input stream's records
// fit its own type, so it must accept each input stream's type (in `input_types`, by stream
// name): "*/*" always does, "application/json" does for inputs of exactly that type. A stream
// that does not would refuse some dead letters for good. FAILED_PRECONDITION naming the streams
// and the fix otherwise; INVALID_ARGUMENT for an unparsable type.
absl::Status CheckDeadLetterContentType(const std::string& dead_letter_stream,
                                        const std::string& dead_letter_type,
                                        const std::map<std::string, std::string>& input_types);

}  // namespace runnel::sidecar
