// riff-rpc over the gRPC callback API. One ClientBidiReactor per invocation: one read and one
// write in flight; queued writes in a deque; the reactor keeps itself alive until OnDone.
// Outputs are flow-controlled by withholding the next read (FunctionCallCallbacks::may_read): a
// paused call holds no read, so HTTP/2 flow control stops the function; a hold keeps the call
// from ending until the read is issued again, from whichever thread resumes it.
// Traits (FunctionCallCallbacks::on_traits) come from the response headers, which the callback
// API always asks for as part of StartCall: nothing waits for them, and the first input frame is
// written at once. Their reaction and the first output's may run on different threads in either
// order, so an output read before the headers were reported is held (its next read withheld)
// until they are: on_traits then always runs before the first on_output.
#include <cstdint>
#include <deque>
#include <map>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "riff/riff-rpc.grpc.pb.h"
#include "sidecar/function_transport.h"

namespace runnel::sidecar {
namespace {

class InvokeReactor final
    : public grpc::ClientBidiReactor<streaming::InputSignal, streaming::OutputSignal>,
      public FunctionCall {
 public:
  explicit InvokeReactor(FunctionCallCallbacks callbacks) : callbacks_(std::move(callbacks)) {}

  void Begin(streaming::Riff::Stub* stub, streaming::StartFrame start, absl::Time deadline,
             std::shared_ptr<InvokeReactor> self) {
    self_ = std::move(self);
    if (deadline != absl::InfiniteFuture()) {
      context_.set_deadline(absl::ToChronoTime(deadline));
    }
    stub->async()->Invoke(&context_, this);
    streaming::InputSignal signal;
    *signal.mutable_start() = std::move(start);
    streaming::InputSignal* first = nullptr;
    {
      absl::MutexLock lock(&mu_);
      outbox_.push_back(std::move(signal));
      write_in_flight_ = true;
      first = &outbox_.front();  // Stays put: deque references survive push_back.
    }
    StartWrite(first);
    StartRead(&incoming_);
    StartCall();
  }

  // FunctionCall
  void Send(streaming::InputFrame frame) override {
    absl::MutexLock lock(&mu_);
    if (done_ || close_requested_) {
      return;
    }
    streaming::InputSignal signal;
    *signal.mutable_data() = std::move(frame);
    outbox_.push_back(std::move(signal));
    MaybeWriteLocked();
  }
  void Close() override {
    absl::MutexLock lock(&mu_);
    if (done_ || close_requested_) {
      return;
    }
    close_requested_ = true;
    MaybeWriteLocked();
  }
  void Cancel() override {
    context_.TryCancel();
    bool read = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;  // Never pause again: the reads that follow fail at once.
      read = paused_;
      paused_ = false;
    }
    if (read) {
      ReadAfterPause();
    }
  }

  // grpc::ClientBidiReactor
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    outbox_.pop_front();
    write_in_flight_ = false;
    if (!ok) {
      failed_ = true;  // The call is failing; OnDone reports why.
      return;
    }
    MaybeWriteLocked();
  }
  void OnReadInitialMetadataDone(bool ok) override {
    // Not ok: the call failed, or ended without headers of its own ("trailers only"); then no
    // output follows, and the function's traits stay unknown.
    if (ok && callbacks_.on_traits) {
      const std::multimap<grpc::string_ref, grpc::string_ref>& headers =
          context_.GetServerInitialMetadata();
      FunctionTraits traits;
      auto [first, last] = headers.equal_range(kHalfCloseMetadata);
      for (auto it = first; it != last; ++it) {
        traits.answers_after_half_close |= it->second == kHalfCloseAnswers;
      }
      auto [in_order_first, in_order_last] = headers.equal_range(kAnswersMetadata);
      for (auto it = in_order_first; it != in_order_last; ++it) {
        traits.answers_in_order |= it->second == kAnswersInOrder;
      }
      callbacks_.on_traits(traits);
    }
    bool held = false;
    {
      absl::MutexLock lock(&mu_);
      headers_reported_ = true;
      held = std::exchange(output_held_, false);
    }
    if (held) {
      DeliverAndReadOn();
    }
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (!headers_reported_) {
        output_held_ = true;  // OnReadInitialMetadataDone delivers it.
        return;
      }
    }
    DeliverAndReadOn();
  }
  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    std::move(callbacks_.on_done)(FromGrpcStatus(status));
    self_.reset();  // May delete this.
  }

 private:
  // Reaction thread: hands `incoming_` over and issues the next read unless paused.
  void DeliverAndReadOn() {
    bool read_on = true;
    if (incoming_.has_data()) {
      callbacks_.on_output(std::move(*incoming_.mutable_data()));
      if (callbacks_.may_read) {
        read_on = AskToReadOn();
      }
    }
    incoming_.Clear();
    if (read_on) {
      StartRead(&incoming_);
    }
  }

  // Reaction thread (OnReadDone), after an output: true to read on. False when paused; the
  // resume (or Cancel) then issues the read. The resume may run on another thread before
  // may_read has even returned; `ticket` tells a resume of this pause from a late one.
  bool AskToReadOn() {
    uint64_t ticket = 0;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) {
        return true;
      }
      ticket = ++pause_ticket_;
    }
    // self_ is only reset in OnDone, which cannot run during this reaction.
    if (callbacks_.may_read([self = self_, ticket] { self->Resume(ticket); })) {
      return true;
    }
    // Paused. The hold keeps OnDone away while no read is outstanding; it is taken before the
    // pause is visible to Resume, which removes it.
    AddHold();
    bool read_now = false;
    {
      absl::MutexLock lock(&mu_);
      if (resumed_ticket_ == ticket || cancelled_) {
        read_now = true;  // Resumed (or cancelled) before we got here.
      } else {
        paused_ = true;
      }
    }
    if (read_now) {
      ReadAfterPause();
    }
    return false;
  }

  // Any thread: the budget has room again for the pause `ticket`.
  void Resume(uint64_t ticket) {
    bool read = false;
    {
      absl::MutexLock lock(&mu_);
      if (ticket != pause_ticket_) {
        return;  // Only the latest pause can be waiting.
      }
      if (paused_) {
        paused_ = false;
        read = true;
      } else {
        resumed_ticket_ = ticket;  // AskToReadOn has not marked the pause yet; it reads itself.
      }
    }
    if (read) {
      ReadAfterPause();
    }
  }

  // Issues the withheld read, then drops the pause's hold (the read now keeps the call alive).
  // Outside mu_: RemoveHold may run OnDone, which takes mu_.
  void ReadAfterPause() {
    StartRead(&incoming_);
    RemoveHold();
  }

  // Starting a write under the lock is safe: gRPC never runs a reaction inline from StartWrite.
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_ || done_ || failed_) {
      return;
    }
    if (!outbox_.empty()) {
      write_in_flight_ = true;
      if (close_requested_ && outbox_.size() == 1 && !writes_done_) {
        // The last frame and the half-close in one operation: one write fewer per window,
        // which is most of a count=1 window's writes.
        writes_done_ = true;
        StartWriteLast(&outbox_.front(), grpc::WriteOptions());
      } else if (outbox_.size() > 1 || close_requested_) {
        // More is queued behind this frame: let gRPC gather it with the next ones into one
        // socket write. A hinted write completes at once while the stream's buffered bytes stay
        // under the transport's write buffer size (chttp2), so one write in flight does not
        // stall; the last frame of a burst goes without the hint and flushes all of them.
        StartWrite(&outbox_.front(), grpc::WriteOptions().set_buffer_hint());
      } else {
        StartWrite(&outbox_.front());
      }
    } else if (close_requested_ && !writes_done_) {
      writes_done_ = true;
      StartWritesDone();
    }
  }

  FunctionCallCallbacks callbacks_;
  grpc::ClientContext context_;
  streaming::OutputSignal incoming_;
  absl::Mutex mu_;
  std::deque<streaming::InputSignal> outbox_ ABSL_GUARDED_BY(mu_);  // Front is in flight.
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool close_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool headers_reported_ ABSL_GUARDED_BY(mu_) = false;  // OnReadInitialMetadataDone ran.
  bool output_held_ ABSL_GUARDED_BY(mu_) = false;       // incoming_ waits for it.
  // Output flow control: at most one pause at a time, numbered.
  bool paused_ ABSL_GUARDED_BY(mu_) = false;      // No read outstanding; a hold taken.
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t pause_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resumed_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<InvokeReactor> self_;  // Released in OnDone.
};

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, 8192);
  return args;
}

class GrpcFunctionTransport final : public FunctionTransport {
 public:
  explicit GrpcFunctionTransport(const std::string& address)
      : channel_(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                           ChannelArgs())),
        stub_(streaming::Riff::NewStub(channel_)) {}

  std::shared_ptr<FunctionCall> Start(streaming::StartFrame start, absl::Time deadline,
                                      FunctionCallCallbacks callbacks) override {
    auto call = std::make_shared<InvokeReactor>(std::move(callbacks));
    call->Begin(stub_.get(), std::move(start), deadline, call);
    return call;
  }

  bool WaitReady(absl::Time deadline) override {
    return channel_->WaitForConnected(absl::ToChronoTime(deadline));
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<streaming::Riff::Stub> stub_;
};

}  // namespace

std::unique_ptr<FunctionTransport> NewGrpcFunctionTransport(const std::string& address) {
  return std::make_unique<GrpcFunctionTransport>(address);
}

}  // namespace runnel::sidecar
