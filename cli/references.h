#pragma once
// Names and references as riff's CLI accepts them.
//
//   input   [<alias>:]<stream>[@<earliest|latest>]   riff: ^(?:([^:]+):)?([^:@]+)(?:@(earliest|latest))?$
//   output  [<alias>:]<stream>                       riff: ^(?:([^:]+):)?([^:]+)$
//
// Resource names (gateways, streams, processors) are Kubernetes object names (DNS-1123 labels),
// because cluster mode turns each into Deployments, Services and ConfigMaps of that name.
// Pure functions; thread-compatible.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace runnel::cli {

struct InputRef {
  std::string alias;                    // defaults to the stream's name
  std::string stream;
  std::string start_offset = "latest";  // "earliest" or "latest"
  bool operator==(const InputRef&) const = default;
};

struct OutputRef {
  std::string alias;
  std::string stream;
  bool operator==(const OutputRef&) const = default;
};

// Errors: kInvalidArgument with riff's message, e.g.
// `malformed input stream reference "a:b:c", should be of the form [<alias>:]<stream>[@<offset>]`.
absl::StatusOr<InputRef> ParseInputRef(absl::string_view text);
absl::StatusOr<OutputRef> ParseOutputRef(absl::string_view text);

// riff's list format: `alias:stream` when the alias differs from the stream, else `stream`.
std::string FormatRef(absl::string_view alias, absl::string_view stream);

// A lower-case DNS-1123 label of at most 63 characters. `kind` names the resource in the error:
// `invalid stream name "Foo": use lower-case letters, digits and '-' (at most 63), starting and
// ending with a letter or digit`.
absl::Status ValidateName(absl::string_view kind, absl::string_view name);

struct HostPort {
  std::string host;
  int port = 0;
};
// "host:port" with a port in 1..65535.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

}  // namespace runnel::cli
