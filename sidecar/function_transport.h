#pragma once
// The seam between the processor and the user function: one FunctionCall per window. riff-rpc
// over gRPC is the implementation here; HTTP comes as a second one.

#include <functional>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "riff/riff-rpc.pb.h"

namespace runnel::sidecar {

// Events of one call. Both run on a transport thread (a gRPC reaction), must not block, and must
// not call back into the FunctionCall synchronously. `on_output` runs for each output frame, in
// order; `on_done` runs exactly once, last.
struct FunctionCallCallbacks {
  std::function<void(streaming::OutputFrame)> on_output;
  absl::AnyInvocable<void(absl::Status) &&> on_done;
};

// One invocation. Thread-safe; methods never block. Calls after completion are ignored.
class FunctionCall {
 public:
  virtual ~FunctionCall() = default;
  // Queues one input frame.
  virtual void Send(streaming::InputFrame frame) = 0;
  // Half-closes the request stream once the queued frames are written.
  virtual void Close() = 0;
  // Abandons the call; on_done follows with CANCELLED (unless it already ran).
  virtual void Cancel() = 0;
};

class FunctionTransport {
 public:
  virtual ~FunctionTransport() = default;
  // Starts one invocation with `start`; `deadline` InfiniteFuture() for none.
  virtual std::shared_ptr<FunctionCall> Start(streaming::StartFrame start, absl::Time deadline,
                                              FunctionCallCallbacks callbacks) = 0;
  // Waits until the function is reachable or `deadline` passes; true when reachable.
  virtual bool WaitReady(absl::Time deadline) = 0;
};

// riff-rpc: streaming.Riff/Invoke on `address` (host:port), plaintext.
std::unique_ptr<FunctionTransport> NewGrpcFunctionTransport(const std::string& address);

}  // namespace runnel::sidecar
