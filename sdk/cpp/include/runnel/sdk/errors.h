#pragma once
// The riff invoker error vocabulary. riff's invokers and its streaming-http-adapter give meaning
// to these message prefixes (the adapter maps them to HTTP 415/406/400), so the SDK uses them
// verbatim. Every helper returns kInvalidArgument with "<prefix>: <detail>".

#include <string_view>

#include "absl/status/status.h"

namespace runnel::sdk {

inline constexpr std::string_view kUnsupportedMediaTypePrefix = "Invoker: Unsupported Media Type";
inline constexpr std::string_view kNotAcceptablePrefix = "Invoker: Not Acceptable";
inline constexpr std::string_view kBadInputPrefix = "Invoker: Bad Input Signal";
inline constexpr std::string_view kProtocolViolationPrefix = "Invoker: Protocol Violation";
// kUnknown, for exceptions escaping a function.
inline constexpr std::string_view kInvocationErrorPrefix = "Invoker: Unexpected Invocation Error";

// An input's content type cannot be decoded into the type the function takes.
absl::Status UnsupportedMediaTypeError(std::string_view detail);
// No type the SDK can produce for an output is acceptable to the caller.
absl::Status NotAcceptableError(std::string_view detail);
// The payload does not parse as its content type says (bad JSON, bad number, bad UTF-8).
absl::Status BadInputError(std::string_view detail);
// The caller broke riff-rpc's grammar (no StartFrame first, a second one, bad indexes, arity).
absl::Status ProtocolViolationError(std::string_view detail);
// kUnknown "Invoker: Unexpected Invocation Error: <detail>".
absl::Status InvocationError(std::string_view detail);

}  // namespace runnel::sdk
