#include "runnel/sdk/function.h"

#include <utility>

namespace runnel::sdk {

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
    : arity_{.inputs = 1, .outputs = 1}, options_(options), request_reply_(std::move(body)) {}

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
