#include "runnel/sdk/function.h"

#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "common/header_names.h"

namespace runnel::sdk {
namespace {

// Whether `headers` give the message a key: the key header, or riff-rpc's legacy output header
// "key" (both of which runnel-processor reads on outputs). Any case: HTTP names are not
// case-sensitive, and the function may spell them as it likes.
bool HasKey(const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(name, kKeyHeader) || absl::EqualsIgnoreCase(name, "key")) {
      return true;
    }
  }
  return false;
}

// A request-reply output answers exactly one input, so it inherits that input's key (per-key
// order then holds through a chain of processors), unless the function keyed it itself. Done
// here, once, for both transports. Streaming functions are left alone: what an output of theirs
// answers is theirs to say (runnel-processor gives window outputs the window's key).
Function::RequestReplyBody InheritKey(Function::RequestReplyBody body) {
  return [body = std::move(body)](Message in,
                                  std::span<const MediaType> accept) -> absl::StatusOr<Message> {
    std::optional<std::string> key;
    for (const auto& [name, value] : in.headers) {
      if (absl::EqualsIgnoreCase(name, kKeyHeader)) {
        key = value;
        break;
      }
    }
    absl::StatusOr<Message> out = body(std::move(in), accept);
    if (out.ok() && key.has_value() && !HasKey(out->headers)) {
      out->headers.emplace(kKeyHeader, *std::move(key));
    }
    return out;
  };
}

}  // namespace

InputStream* Invocation::FindInput(std::string_view name) {
  for (int i = 0; i < input_count(); ++i) {
    if (input(i).name() == name) {
      return &input(i);
    }
  }
  return nullptr;
}

OutputStream* Invocation::FindOutput(std::string_view name) {
  for (int i = 0; i < output_count(); ++i) {
    if (output(i).name() == name) {
      return &output(i);
    }
  }
  return nullptr;
}

Function::Function(RequestReplyBody body, FunctionOptions options)
    : arity_{.inputs = 1, .outputs = 1},
      options_(options),
      request_reply_(InheritKey(std::move(body))) {}

Function::Function(Arity arity, StreamingBody body)
    : arity_(arity), streaming_(std::move(body)) {}

Function Function::Streaming(Arity arity, StreamingBody body) {
  return Function(arity, std::move(body));
}

Function& Function::OnInit(std::function<absl::Status()> init) {
  init_ = std::move(init);
  return *this;
}

Function& Function::OnDestroy(std::function<void()> destroy) {
  destroy_ = std::move(destroy);
  return *this;
}

}  // namespace runnel::sdk
