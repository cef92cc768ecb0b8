#pragma once
// The seam between the processor and the user function: one FunctionCall per window. Two
// implementations: riff-rpc over gRPC (grpc_function_transport.cc) and plain HTTP request-reply
// (http_function_transport.h).

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "riff/riff-rpc.pb.h"

namespace runnel::sidecar {

// riff-rpc response initial metadata by which a function announces
// FunctionTraits::answers_after_half_close (the C++ SDK sends it when each call starts).
inline constexpr char kHalfCloseMetadata[] = "runnel-half-close";
inline constexpr char kHalfCloseAnswers[] = "answers";
// ... and FunctionTraits::answers_in_order (the C++ SDK's request-reply functions).
inline constexpr char kAnswersMetadata[] = "runnel-answers";
inline constexpr char kAnswersInOrder[] = "in-order";

// What a function says about itself when a call starts.
struct FunctionTraits {
  // The function keeps answering after its input half-closes, so the processor may half-close
  // as soon as a window's input ends. The C++ SDK announces it (riff-rpc: response initial
  // metadata "runnel-half-close: answers"); riff's invokers do not, and get the linger. HTTP
  // request-reply calls always report it: Close() only means no more records, and every request
  // already sent is answered.
  bool answers_after_half_close = false;
  // A request-reply function: it answers every input frame with exactly one output, a refusal
  // (on_reject) or an empty answer (on_no_output), in the order of the frames (the C++ SDK's
  // request-reply functions announce it with "runnel-answers: in-order"; the HTTP transport
  // reports it when the caller listens for on_no_output). The processor then
  // publishes each answer as it comes instead of when the call completes, and a call that fails
  // is retried with the frames not yet answered.
  bool answers_in_order = false;
};

// Events of one call. All run on a transport thread (a gRPC reaction, the HTTP I/O thread), must
// not block, and must not call back into the FunctionCall synchronously. `on_output` runs for
// each output frame, in order; `on_done` runs exactly once, last.
struct FunctionCallCallbacks {
  std::function<void(streaming::OutputFrame)> on_output;
  absl::AnyInvocable<void(absl::Status) &&> on_done;
  // Request-reply transports (HTTP) only: the function refused, for good, the `index`-th frame
  // Send() gave this call (0-based), e.g. HTTP 4xx or retries exhausted. No output follows for
  // that frame and the call goes on; `detail` are CloudEvent extensions (lower-case letters and
  // digits) for its dead letter. Runs in frame order relative to on_output. When null, the
  // transport fails the call with `status` instead.
  std::function<void(size_t index, absl::Status status, std::map<std::string, std::string> detail)>
      on_reject;
  // Flow control of the outputs (optional), asked after each on_output. True: read on. False:
  // the call is paused and reads nothing more from the function until `resume` runs: riff-rpc
  // issues no further read on its stream (HTTP/2 flow control then stops the function), HTTP
  // starts no further request of this call (those in flight complete and their outputs are
  // handed over). The callee keeps `resume` and runs it at
  // most once, from any thread, without locks held; it never blocks and is harmless once the
  // call is over. A paused call still ends: Cancel() resumes it (its reads then fail), and
  // on_done follows as usual.
  std::function<bool(absl::AnyInvocable<void() &&> resume)> may_read;
  // Request-reply transports (HTTP) only: the `index`-th frame was answered with no output (a
  // 204, or an answer with nowhere to go). Runs in frame order relative to on_output and
  // on_reject. Optional.
  std::function<void(size_t index)> on_no_output;
  // Runs at most once, before the first on_output, when the function's traits are known
  // (riff-rpc: its response headers arrived, which riff's invokers may send only with their
  // first output; HTTP: when the call starts). Optional. Not run when the call fails first, nor
  // when a riff-rpc function ends the call without response headers of its own.
  std::function<void(FunctionTraits)> on_traits;
};

// One invocation. Thread-safe; methods never block. Calls after completion are ignored.
class FunctionCall {
 public:
  virtual ~FunctionCall() = default;
  // Queues one input frame.
  virtual void Send(streaming::InputFrame frame) = 0;
  // Half-closes the request stream once the queued frames are written.
  virtual void Close() = 0;
  // Abandons the call, paused or not; on_done follows with CANCELLED (unless it already ran).
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
