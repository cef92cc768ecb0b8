#pragma once
// A Runnel function: what the SDK hosts. Two programming models:
//
// Request-reply: a plain callable from one typed value to one typed value (see codec.h for the
// types). The SDK promotes it to a streaming function of one input and one output: one output
// per input, in order. It is also served over HTTP (POST /). Each output carries the key of the
// input it answers (header "x-runnel-key") unless the function sets a key itself ("x-runnel-key"
// or "key", any case); other input headers are not copied.
//
//   auto square = Function::RequestReply([](double x) { return x * x; });
//
// Streaming: a body over N named inputs and M named outputs (riff-rpc `inputNames` and
// `outputNames`, in StartFrame order), called once per invocation (one Invoke RPC) on a worker
// thread owned by the SDK. It pulls messages from inputs and emits on outputs, any number of
// times; it returns when done (OK completes the invocation after every emitted message is sent).
//
//   auto avg = Function::Streaming({.inputs = 1, .outputs = 1}, [](Invocation& inv) {
//     double sum = 0; int n = 0;
//     while (true) {
//       absl::StatusOr<std::optional<double>> x = inv.input(0).Next<double>();
//       if (!x.ok()) return x.status();
//       if (!x->has_value()) break;
//       sum += **x; ++n;
//     }
//     return n ? inv.output(0).Emit(sum / n) : absl::OkStatus();
//   });
//
// Backpressure: inputs are bounded buffers. When the function does not keep up, the SDK stops
// reading from the caller (gRPC flow control then slows the sender); Emit blocks while the
// output buffer is full, so a slow reader slows the function.

#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runnel/sdk/codec.h"
#include "runnel/sdk/errors.h"
#include "runnel/sdk/media_type.h"
#include "runnel/sdk/message.h"

namespace runnel::sdk {

// One input of an invocation. Owned by the SDK; valid for the duration of the call to the
// streaming body. Thread-compatible: use from the body's thread (or synchronise yourself).
class InputStream {
 public:
  virtual ~InputStream() = default;
  // The caller's name for this input (StartFrame `inputNames[index]`).
  virtual const std::string& name() const = 0;
  virtual int index() const = 0;

  // Blocks until the next message on this input. nullopt when the input is complete (the caller
  // half-closed). An error when the invocation failed or was cancelled: return it.
  virtual absl::StatusOr<std::optional<Message>> NextMessage() = 0;

  // NextMessage, decoded as T (codec.h). A decode error is returned as is; returning it from the
  // body fails the invocation with riff's error prefix.
  template <typename T>
  absl::StatusOr<std::optional<T>> Next() {
    absl::StatusOr<std::optional<Message>> m = NextMessage();
    if (!m.ok()) {
      return m.status();
    }
    if (!m->has_value()) {
      return std::optional<T>();
    }
    absl::StatusOr<T> v = DecodeAs<T>(**std::move(m));
    if (!v.ok()) {
      return v.status();
    }
    return std::optional<T>(*std::move(v));
  }
};

// One output of an invocation. Same lifetime and threading as InputStream.
class OutputStream {
 public:
  virtual ~OutputStream() = default;
  // The caller's name for this output (StartFrame `outputNames[index]`).
  virtual const std::string& name() const = 0;
  virtual int index() const = 0;
  // What the caller accepts on this output (StartFrame `expectedContentTypes[index]`).
  virtual std::span<const MediaType> accept() const = 0;

  // Sends `message` as is; its content type must be acceptable (NotAcceptableError otherwise).
  // Blocks while the output buffer is full. Errors when the invocation was cancelled.
  virtual absl::Status EmitMessage(Message message) = 0;

  // Encodes `value` in the first acceptable type (codec.h) and sends it.
  template <typename T>
  absl::Status Emit(T value) {
    absl::StatusOr<Message> m = EncodeAs(std::move(value), accept());
    if (!m.ok()) {
      return m.status();
    }
    return EmitMessage(*std::move(m));
  }
};

// A message from some input, as returned by Invocation::NextAny.
struct InputMessage {
  int input = 0;
  Message message;
};

// The context of one streaming invocation.
class Invocation {
 public:
  virtual ~Invocation() = default;
  virtual int input_count() const = 0;
  virtual int output_count() const = 0;
  // REQUIRES: 0 <= i < input_count() (resp. output_count()).
  virtual InputStream& input(int i) = 0;
  virtual OutputStream& output(int i) = 0;
  // By the caller's name; nullptr when no input/output has that name.
  InputStream* FindInput(std::string_view name);
  OutputStream* FindOutput(std::string_view name);

  // The next message of any input, in arrival order; nullopt once every input is complete.
  // Use it to consume several inputs without deadlock (a join): waiting on one input while
  // the other's buffer is full would otherwise stall the caller.
  virtual absl::StatusOr<std::optional<InputMessage>> NextAny() = 0;
};

// Arity of a streaming function, checked against each StartFrame.
struct Arity {
  int inputs = 1;
  int outputs = 1;
};

struct FunctionOptions {
  // False promises that the function never blocks (no I/O, no locks held for long): the HTTP
  // transport then calls it on its I/O thread instead of handing it to a worker, which saves
  // two thread switches per request. gRPC invocations always run on SDK worker threads.
  bool may_block = true;
};

// Translates exceptions escaping user code into kUnknown statuses ("Invoker: Unexpected
// Invocation Error: what()"), so no exception crosses into the transport.
template <typename F>
absl::Status CallGuarded(F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    return InvocationError(e.what());
  } catch (...) {
    return InvocationError("non-standard exception");
  }
}

namespace internal {
template <typename F>
struct CallableTraits : CallableTraits<decltype(&std::remove_cvref_t<F>::operator())> {};
template <typename R, typename A>
struct CallableTraits<R (*)(A)> {
  using Result = R;
  using Arg = A;
};
template <typename C, typename R, typename A>
struct CallableTraits<R (C::*)(A) const> : CallableTraits<R (*)(A)> {};
template <typename C, typename R, typename A>
struct CallableTraits<R (C::*)(A)> : CallableTraits<R (*)(A)> {};

// The type an argument is decoded into: string_view arguments are backed by a std::string.
template <typename A>
using DecodedArg =
    std::conditional_t<std::is_same_v<std::remove_cvref_t<A>, std::string_view>, std::string,
                       std::remove_cvref_t<A>>;

template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};
}  // namespace internal

// A function the SDK can host. Cheap to copy (the callables are shared).
class Function {
 public:
  using StreamingBody = std::function<absl::Status(Invocation&)>;
  // The request-reply core, typed away: decode, call, encode for `accept`.
  using RequestReplyBody =
      std::function<absl::StatusOr<Message>(Message in, std::span<const MediaType> accept)>;

  // A request-reply function from any callable `R(A)`; A and R are codec types (codec.h),
  // Message, WithHeaders<T>, or std::string_view (A only). R may be absl::StatusOr<T>: an error
  // fails the invocation with that status.
  template <typename F>
  static Function RequestReply(F fn, FunctionOptions options = {}) {
    using Traits = internal::CallableTraits<F>;
    using Arg = internal::DecodedArg<typename Traits::Arg>;
    using Result = typename Traits::Result;
    RequestReplyBody body = [fn = std::move(fn)](
                                Message in,
                                std::span<const MediaType> accept) -> absl::StatusOr<Message> {
      absl::StatusOr<Arg> arg = DecodeAs<Arg>(std::move(in));
      if (!arg.ok()) {
        return arg.status();
      }
      absl::StatusOr<Message> out;
      absl::Status called = CallGuarded([&]() -> absl::Status {
        if constexpr (internal::IsStatusOr<Result>::value) {
          Result r = fn(*std::move(arg));
          if (!r.ok()) {
            return r.status();
          }
          out = EncodeAs(*std::move(r), accept);
        } else {
          out = EncodeAs(fn(*std::move(arg)), accept);
        }
        return absl::OkStatus();
      });
      if (!called.ok()) {
        return called;
      }
      return out;
    };
    return Function(std::move(body), options);
  }

  // A streaming function of the given arity.
  static Function Streaming(Arity arity, StreamingBody body);

  // Hooks run once per process: `init` before serving (an error aborts startup and Run returns
  // 1), `destroy` after the last invocation on shutdown.
  Function& OnInit(std::function<absl::Status()> init);
  Function& OnDestroy(std::function<void()> destroy);

  bool is_request_reply() const { return static_cast<bool>(request_reply_); }
  const Arity& arity() const { return arity_; }
  const FunctionOptions& options() const { return options_; }
  // REQUIRES: is_request_reply().
  const RequestReplyBody& request_reply() const { return request_reply_; }
  // REQUIRES: !is_request_reply().
  const StreamingBody& streaming() const { return streaming_; }
  const std::function<absl::Status()>& init() const { return init_; }
  const std::function<void()>& destroy() const { return destroy_; }

 private:
  Function(RequestReplyBody body, FunctionOptions options);
  Function(Arity arity, StreamingBody body);

  Arity arity_;
  FunctionOptions options_;
  RequestReplyBody request_reply_;
  StreamingBody streaming_;
  std::function<absl::Status()> init_;
  std::function<void()> destroy_;
};

}  // namespace runnel::sdk
