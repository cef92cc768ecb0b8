// The riff-rpc transport: one InvokeCall (a ServerBidiReactor) per Invoke RPC, and one worker
// task per invocation that runs the user's function against the call's buffers.
//
// Locking: each call has one mutex guarding all of its state, and the reactor's Start*/Finish
// methods are called with it held. That departs from house style B.5.5 on purpose: the worker
// thread also starts reads (when it drains the input buffer) and writes (when it emits), and
// holding the lock is what makes "never call into the reactor after Finish" a simple flag check.
// gRPC never runs a reaction inline inside StartRead/StartWrite/Finish for callback servers
// (they are scheduled on its callback executor), so this cannot self-deadlock; gRPC's own
// callback examples (route_guide Chatter) do the same.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "riff/riff-rpc.grpc.pb.h"
#include "sdk/cpp/src/input_buffer.h"
#include "sdk/cpp/src/transport.h"

namespace runnel::sdk::internal {
namespace {

constexpr int kSpinIterations = 4000;

// Response initial metadata announcing that this server keeps answering after the caller
// half-closes its input (RunFunction runs to completion and every emitted frame is written
// before Finish). runnel-processor then half-closes each window at once instead of lingering;
// see FunctionTraits in sidecar/function_transport.h.
constexpr char kHalfCloseMetadata[] = "runnel-half-close";
constexpr char kAnswersMetadata[] = "runnel-answers";
constexpr char kAnswersInOrder[] = "in-order";
constexpr char kHalfCloseAnswers[] = "answers";

using streaming::InputSignal;
using streaming::OutputSignal;

// State of one Invoke RPC. Owned by shared_ptr: `self_` (released in OnDone) and the worker task.
// Reactions run on gRPC threads; Invocation methods run on the worker thread. All state below is
// guarded by mu_.
class InvokeCall final : public grpc::ServerBidiReactor<InputSignal, OutputSignal>,
                         public Invocation,
                         public std::enable_shared_from_this<InvokeCall> {
 public:
  InvokeCall(const Function& function, const ServerOptions& options, WorkerPool& workers,
             grpc::CallbackServerContext* context)
      : function_(function), options_(options), workers_(workers), context_(context) {}

  // Starts the call: the response headers, then the first read. Called once, right after
  // construction. The headers go out now rather than with the first output, so that the caller
  // knows this function's traits before it decides how to end a window's input (a window may
  // close before the function emitted anything). Neither operation waits for the other.
  void Begin() {
    self_ = shared_from_this();
    context_->AddInitialMetadata(kHalfCloseMetadata, kHalfCloseAnswers);
    if (function_.is_request_reply()) {
      // RunRequestReply answers each frame with one output, in order, or fails the call there:
      // the processor may publish each answer at once and resend only what is unanswered.
      context_->AddInitialMetadata(kAnswersMetadata, kAnswersInOrder);
    }
    std::lock_guard<std::mutex> lock(mu_);
    StartSendInitialMetadata();
    read_in_flight_ = true;
    StartRead(&request_);
  }

  // grpc::ServerBidiReactor
  void OnReadDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    read_in_flight_ = false;
    if (finished_) {
      return;
    }
    if (!ok) {
      // Half-close by the caller (or a broken stream, which OnCancel reports separately).
      if (!started_) {
        FailLocked(ProtocolViolationError("stream completed before a start signal"));
        return;
      }
      inputs_closed_ = true;
      events_.fetch_add(1, std::memory_order_release);
      in_cv_.notify_all();
      return;
    }
    absl::Status s = request_.has_start() ? OnStartLocked(request_.start())
                     : request_.has_data() ? OnDataLocked(request_.mutable_data())
                                           : ProtocolViolationError(
                                                 "Input is neither a start nor a data signal");
    if (!s.ok()) {
      FailLocked(s);
      return;
    }
    MaybeReadLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    outbox_.pop_front();
    out_cv_.notify_all();
    if (finished_) {
      return;
    }
    if (!ok) {
      FailLocked(absl::CancelledError("write to caller failed: stream broken"));
      return;
    }
    if (!outbox_.empty()) {
      StartNextWriteLocked();
      return;
    }
    write_in_flight_ = false;
    if (function_done_) {
      FinishLocked(absl::OkStatus());
    }
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    FailLocked(absl::CancelledError("invocation cancelled by the caller"));
  }

  void OnDone() override { self_.reset(); }

  // Invocation
  int input_count() const override { return static_cast<int>(inputs_.size()); }
  int output_count() const override { return static_cast<int>(outputs_.size()); }
  InputStream& input(int i) override { return inputs_[i]; }
  OutputStream& output(int i) override { return outputs_[i]; }

  absl::StatusOr<std::optional<InputMessage>> NextAny() override {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (!failure_.ok()) {
        return failure_;
      }
      if (std::optional<InputMessage> m = buffer_->PopAny()) {
        MaybeReadLocked();
        return m;
      }
      if (inputs_closed_) {
        return std::nullopt;
      }
      WaitForInputLocked(lock);
    }
  }

 private:
  class Input final : public InputStream {
   public:
    Input(InvokeCall* call, int index, std::string name)
        : call_(call), index_(index), name_(std::move(name)) {}
    const std::string& name() const override { return name_; }
    int index() const override { return index_; }
    absl::StatusOr<std::optional<Message>> NextMessage() override {
      return call_->NextMessage(index_);
    }

   private:
    InvokeCall* call_;
    int index_;
    std::string name_;
  };

  class Output final : public OutputStream {
   public:
    Output(InvokeCall* call, int index, std::string name, std::vector<MediaType> accept)
        : call_(call), index_(index), name_(std::move(name)), accept_(std::move(accept)) {}
    const std::string& name() const override { return name_; }
    int index() const override { return index_; }
    std::span<const MediaType> accept() const override { return accept_; }
    absl::Status EmitMessage(Message message) override {
      absl::StatusOr<Message> checked = EncodeMessageAs(std::move(message), accept_);
      if (!checked.ok()) {
        return checked.status();
      }
      return call_->Emit(index_, *std::move(checked));
    }

   private:
    InvokeCall* call_;
    int index_;
    std::string name_;
    std::vector<MediaType> accept_;
  };

  absl::Status OnStartLocked(const streaming::StartFrame& start) {
    if (started_) {
      return ProtocolViolationError(
          "Start signal has already been received. Rejecting start signal");
    }
    started_ = true;
    const Arity& arity = function_.arity();
    if (start.inputnames_size() != arity.inputs) {
      return ProtocolViolationError("function has " + std::to_string(arity.inputs) +
                                    " input(s), start signal names " +
                                    std::to_string(start.inputnames_size()));
    }
    if (start.outputnames_size() != arity.outputs) {
      return ProtocolViolationError("function has " + std::to_string(arity.outputs) +
                                    " output(s), start signal names " +
                                    std::to_string(start.outputnames_size()));
    }
    if (start.expectedcontenttypes_size() != start.outputnames_size()) {
      return ProtocolViolationError(
          "start signal has " + std::to_string(start.expectedcontenttypes_size()) +
          " expected content types for " + std::to_string(start.outputnames_size()) + " outputs");
    }
    for (int i = 0; i < arity.inputs; ++i) {
      inputs_.emplace_back(this, i, start.inputnames(i));
    }
    for (int i = 0; i < arity.outputs; ++i) {
      absl::StatusOr<std::vector<MediaType>> accept =
          ParseAcceptList(start.expectedcontenttypes(i));
      if (!accept.ok()) {
        return NotAcceptableError("output '" + start.outputnames(i) +
                                  "': " + std::string(accept.status().message()));
      }
      outputs_.emplace_back(this, i, start.outputnames(i), *std::move(accept));
    }
    buffer_.emplace(arity.inputs, options_.input_buffer, options_.max_input_buffer);
    // The worker owns a reference, so the call outlives OnDone while the function runs.
    workers_.Submit([call = shared_from_this()] { call->RunFunction(); });
    return absl::OkStatus();
  }

  absl::Status OnDataLocked(streaming::InputFrame* frame) {
    if (!started_) {
      return ProtocolViolationError(
          "Start signal has not been received or processed yet. Rejecting data signal");
    }
    if (frame->argindex() < 0 || frame->argindex() >= input_count()) {
      return ProtocolViolationError("invalid input index " + std::to_string(frame->argindex()) +
                                    ": function has " + std::to_string(input_count()) +
                                    " input(s)");
    }
    Message m;
    m.payload = std::move(*frame->mutable_payload());
    m.content_type = std::move(*frame->mutable_contenttype());
    for (auto& [k, v] : *frame->mutable_headers()) {
      m.headers.emplace(k, std::move(v));
    }
    buffer_->Push(frame->argindex(), std::move(m));
    events_.fetch_add(1, std::memory_order_release);
    if (worker_waiting_) {
      in_cv_.notify_all();
    }
    return absl::OkStatus();
  }

  // Issues the next read if none is in flight and the buffer rule allows it.
  void MaybeReadLocked() {
    if (finished_ || read_in_flight_ || inputs_closed_ || !buffer_) {
      if (!buffer_ && !read_in_flight_ && !finished_ && !inputs_closed_) {
        read_in_flight_ = true;  // Not started yet: keep reading until the StartFrame.
        StartRead(&request_);
      }
      return;
    }
    switch (buffer_->NextRead(worker_waiting_)) {
      case InputBuffer::Reading::kRead:
        read_in_flight_ = true;
        StartRead(&request_);
        break;
      case InputBuffer::Reading::kPause:
        break;  // Backpressure: the worker re-arms the read when it drains the buffer.
      case InputBuffer::Reading::kOverflow:
        FailLocked(absl::ResourceExhaustedError(
            "input buffer overflow: " + std::to_string(buffer_->size()) +
            " messages buffered while the function waits on an empty input"));
        break;
    }
  }

  void WaitForInputLocked(std::unique_lock<std::mutex>& lock) {
    worker_waiting_ = true;
    MaybeReadLocked();  // Starving: the rule may allow reading past the soft limit.
    // Spin briefly before sleeping: on a busy stream the next frame is usually microseconds
    // away, and a futex sleep plus wake-up per message costs more than the function itself.
    uint64_t seen = events_.load(std::memory_order_acquire);
    lock.unlock();
    bool arrived = false;
    for (int i = 0; i < kSpinIterations && !arrived; ++i) {
      arrived = events_.load(std::memory_order_acquire) != seen;
      if (!arrived && i % 64 == 63) {
        std::this_thread::yield();
      }
    }
    lock.lock();
    if (!arrived && events_.load(std::memory_order_relaxed) == seen) {
      in_cv_.wait(lock);
    }
    worker_waiting_ = false;
  }

  absl::StatusOr<std::optional<Message>> NextMessage(int index) {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (!failure_.ok()) {
        return failure_;
      }
      if (std::optional<Message> m = buffer_->Pop(index)) {
        MaybeReadLocked();
        return m;
      }
      if (inputs_closed_) {
        return std::nullopt;
      }
      WaitForInputLocked(lock);
    }
  }

  absl::Status Emit(int index, Message m) {
    std::unique_lock<std::mutex> lock(mu_);
    out_cv_.wait(lock, [&] { return !failure_.ok() || outbox_.size() < options_.output_buffer; });
    if (!failure_.ok()) {
      return failure_;
    }
    OutputSignal& signal = outbox_.emplace_back();
    streaming::OutputFrame* frame = signal.mutable_data();
    frame->set_payload(std::move(m.payload));
    frame->set_contenttype(std::move(m.content_type));
    frame->set_resultindex(index);
    for (auto& [k, v] : m.headers) {
      (*frame->mutable_headers())[k] = std::move(v);
    }
    if (!write_in_flight_) {
      write_in_flight_ = true;
      StartNextWriteLocked();
    }
    return absl::OkStatus();
  }

  // Writes the outbox's front. When more frames are queued behind it, the write carries gRPC's
  // buffer hint so chttp2 gathers them into one socket write (a hinted write completes at once
  // while the stream's buffered bytes stay under the transport's write buffer, which Start()
  // keeps small); the last frame of a burst goes unhinted and flushes them all, so a hinted
  // frame never waits for a flush that does not come.
  void StartNextWriteLocked() {
    if (outbox_.size() > 1) {
      StartWrite(&outbox_.front(), grpc::WriteOptions().set_buffer_hint());
    } else {
      StartWrite(&outbox_.front());
    }
  }

  // Runs on a worker thread: the whole function invocation.
  void RunFunction() {
    absl::Status status;
    if (function_.is_request_reply()) {
      status = RunRequestReply();
    } else {
      status = CallGuarded([&] { return function_.streaming()(*this); });
    }
    std::lock_guard<std::mutex> lock(mu_);
    function_done_ = true;
    if (!status.ok()) {
      FailLocked(status);
    } else if (!finished_ && !write_in_flight_) {
      FinishLocked(absl::OkStatus());
    }  // Otherwise OnWriteDone finishes once the outbox drains.
  }

  absl::Status RunRequestReply() {
    const Function::RequestReplyBody& body = function_.request_reply();
    while (true) {
      absl::StatusOr<std::optional<Message>> in = NextMessage(0);
      if (!in.ok()) {
        return in.status();
      }
      if (!in->has_value()) {
        return absl::OkStatus();
      }
      absl::StatusOr<Message> out = body(**std::move(in), outputs_[0].accept());
      if (!out.ok()) {
        return out.status();
      }
      if (absl::Status s = Emit(0, *std::move(out)); !s.ok()) {
        return s;
      }
    }
  }

  void FailLocked(const absl::Status& status) {
    if (failure_.ok()) {
      failure_ = status;
    }
    events_.fetch_add(1, std::memory_order_release);
    in_cv_.notify_all();
    out_cv_.notify_all();
    FinishLocked(status);
  }

  void FinishLocked(const absl::Status& status) {
    if (finished_) {
      return;
    }
    finished_ = true;
    if (!status.ok() && status.code() != absl::StatusCode::kCancelled) {
      RUNNEL_LOG(DEBUG) << "invocation failed: " << status.ToString();
    }
    Finish(ToGrpcStatus(status));
  }

  const Function& function_;
  const ServerOptions& options_;
  WorkerPool& workers_;
  grpc::CallbackServerContext* const context_;  // gRPC's; valid until OnDone.
  std::shared_ptr<InvokeCall> self_;  // Released in OnDone.

  std::mutex mu_;
  std::condition_variable in_cv_;   // Input arrived, inputs closed, or failure.
  std::condition_variable out_cv_;  // Outbox space, or failure.
  InputSignal request_;             // Read target; one read in flight at a time.
  bool read_in_flight_ = false;
  bool started_ = false;
  bool inputs_closed_ = false;
  bool worker_waiting_ = false;
  // Bumped (under mu_) on every input event; read without mu_ by the spinning worker.
  std::atomic<uint64_t> events_{0};
  bool write_in_flight_ = false;
  bool function_done_ = false;
  bool finished_ = false;
  absl::Status failure_;
  // Built once from the StartFrame, before the worker starts; then only read. std::deque keeps
  // element addresses stable (Input/Output hold `this`).
  std::deque<Input> inputs_;
  std::deque<Output> outputs_;
  std::optional<InputBuffer> buffer_;
  std::deque<OutputSignal> outbox_;  // Front is the write in flight.
};

class RiffService final : public streaming::Riff::CallbackService {
 public:
  RiffService(const Function& function, const ServerOptions& options, WorkerPool& workers)
      : function_(function), options_(options), workers_(workers) {}

  grpc::ServerBidiReactor<InputSignal, OutputSignal>* Invoke(
      grpc::CallbackServerContext* context) override {
    auto call = std::make_shared<InvokeCall>(function_, options_, workers_, context);
    call->Begin();
    return call.get();
  }

 private:
  const Function& function_;
  const ServerOptions& options_;
  WorkerPool& workers_;
};

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(const Function& function, const ServerOptions& options, WorkerPool& workers)
      : options_(options), service_(function, options_, workers) {}

  ~GrpcTransport() override { Shutdown(std::chrono::system_clock::now()); }

  absl::Status Start() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options_.host + ":" + std::to_string(options_.grpc_port),
                             grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_grpc_message_bytes));
    // Small, so that a burst of hinted output frames is flushed every few dozen frames rather
    // than held until gRPC's 64 KiB default fills (which also exceeded the caller's initial
    // flow-control window in the sidecar's measurements; docs/threading.md).
    builder.AddChannelArgument(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, 8192);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      return absl::UnavailableError("gRPC server: cannot listen on " + options_.host + ":" +
                                    std::to_string(options_.grpc_port));
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Shutdown(std::chrono::system_clock::time_point deadline) override {
    if (server_ && !shut_down_.exchange(true)) {
      server_->Shutdown(deadline);
      server_->Wait();
    }
  }

 private:
  const ServerOptions options_;
  RiffService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace

std::unique_ptr<Transport> NewGrpcTransport(const Function& function, const ServerOptions& options,
                                            WorkerPool& workers) {
  return std::make_unique<GrpcTransport>(function, options, workers);
}

}  // namespace runnel::sdk::internal
