// FunctionTraits over riff-rpc, in process: runnel-processor's function transport
// (sidecar/grpc_function_transport.cc) in front of the C++ SDK's server
// (sdk/cpp/src/grpc_transport.cc), and in front of a riff-rpc server that announces nothing (as
// riff's invokers do). Event order is what is checked; every wait is bounded.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "riff/riff-rpc.grpc.pb.h"
#include "runnel/sdk/server.h"
#include "sidecar/function_transport.h"

namespace runnel::sidecar {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// Records a call's events as text, in the order the transport reports them.
class Recorder {
 public:
  FunctionCallCallbacks Callbacks() {
    return {.on_output =
                [this](streaming::OutputFrame frame) {
                  std::string key;
                  if (auto it = frame.headers().find("x-runnel-key"); it != frame.headers().end()) {
                    key = absl::StrCat(" key=", it->second);
                  }
                  Add(absl::StrCat("output ", frame.payload(), key));
                },
            .on_done =
                [this](absl::Status status) {
                  Add(absl::StrCat("done ", absl::StatusCodeToString(status.code())));
                },
            .on_traits =
                [this](FunctionTraits traits) {
                  Add(absl::StrCat(
                      traits.answers_after_half_close ? "traits answers" : "traits none",
                      traits.answers_in_order ? " in-order" : ""));
                }};
  }

  // Waits (at most 30 s) until `n` events were recorded; returns them all.
  std::vector<std::string> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
    return events_;
  }

  // The events once the call is done (at most 30 s).
  std::vector<std::string> WaitForDone() {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !events_.empty() && events_.back().starts_with("done");
    };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(30));
    return events_;
  }

 private:
  void Add(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }

  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

streaming::StartFrame Start() {
  streaming::StartFrame start;
  start.add_inputnames("in");
  start.add_outputnames("out");
  start.add_expectedcontenttypes("application/json");
  return start;
}

streaming::InputFrame Json(int value, std::string key = "") {
  streaming::InputFrame frame;
  frame.set_payload(std::to_string(value));
  frame.set_contenttype("application/json");
  if (!key.empty()) (*frame.mutable_headers())["x-runnel-key"] = std::move(key);
  return frame;
}

std::unique_ptr<sdk::Server> StartSdk(sdk::Function function) {
  absl::StatusOr<std::unique_ptr<sdk::Server>> server = sdk::Server::Start(
      std::move(function), {.host = "127.0.0.1", .grpc_port = 0, .http_port = -1});
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// An aggregate emits only once its input completed: before the half-close, only the response
// headers can tell the caller anything. The SDK sends them when the call starts, so the traits
// arrive before any input was even sent, and the answer comes after the half-close.
TEST(FunctionTraits, TheSdkAnnouncesItAnswersAfterAHalfCloseWhenTheCallStarts) {
  std::unique_ptr<sdk::Server> server =
      StartSdk(sdk::Function::Streaming({.inputs = 1, .outputs = 1}, [](sdk::Invocation& inv) {
        int sum = 0;
        while (true) {
          absl::StatusOr<std::optional<int>> x = inv.input(0).Next<int>();
          if (!x.ok()) return x.status();
          if (!x->has_value()) break;
          sum += **x;
        }
        return inv.output(0).Emit(sum);
      }));
  ASSERT_NE(server, nullptr);
  std::unique_ptr<FunctionTransport> transport =
      NewGrpcFunctionTransport(absl::StrCat("127.0.0.1:", server->grpc_port()));
  Recorder recorder;
  std::shared_ptr<FunctionCall> call =
      transport->Start(Start(), absl::InfiniteFuture(), recorder.Callbacks());
  EXPECT_THAT(recorder.WaitFor(1), ElementsAre("traits answers"));
  call->Send(Json(1));
  call->Send(Json(2));
  call->Send(Json(3));
  call->Close();
  EXPECT_THAT(recorder.WaitForDone(), ElementsAre("traits answers", "output 6", "done OK"));
}

// A request-reply function half-closed right after its last input still answers every input,
// each with its input's key.
TEST(FunctionTraits, TheSdkAnswersEveryInputAfterAHalfCloseWithItsKey) {
  std::unique_ptr<sdk::Server> server =
      StartSdk(sdk::Function::RequestReply([](int x) { return x * x; }));
  ASSERT_NE(server, nullptr);
  std::unique_ptr<FunctionTransport> transport =
      NewGrpcFunctionTransport(absl::StrCat("127.0.0.1:", server->grpc_port()));
  Recorder recorder;
  std::shared_ptr<FunctionCall> call =
      transport->Start(Start(), absl::InfiniteFuture(), recorder.Callbacks());
  std::vector<std::string> want{"traits answers in-order"};
  for (int i = 1; i <= 300; ++i) {
    call->Send(Json(i, absl::StrCat("k", i % 3)));
    want.push_back(absl::StrCat("output ", i * i, " key=k", i % 3));
  }
  call->Close();
  want.push_back("done OK");
  EXPECT_THAT(recorder.WaitForDone(), ElementsAreArray(want));
}

// riff's invokers send no such header, and their response headers may go out only with the
// first output. Echoes each input; the sync API sends the headers with the first message.
class SilentRiffServer final : public streaming::Riff::Service {
 public:
  grpc::Status Invoke(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<streaming::OutputSignal, streaming::InputSignal>* stream) override {
    streaming::InputSignal in;
    while (stream->Read(&in)) {
      if (!in.has_data()) continue;
      streaming::OutputSignal out;
      out.mutable_data()->set_payload(in.data().payload());
      out.mutable_data()->set_contenttype(in.data().contenttype());
      if (!stream->Write(out)) break;
    }
    return grpc::Status::OK;
  }
};

TEST(FunctionTraits, AFunctionThatSaysNothingIsReportedNotToAnswerBeforeItsFirstOutput) {
  SilentRiffServer service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<FunctionTransport> transport =
      NewGrpcFunctionTransport(absl::StrCat("127.0.0.1:", port));
  // Several calls: the headers and the first output arrive together, and their reactions may
  // run in either order on gRPC's threads; the traits must still come first.
  for (int round = 0; round < 100; ++round) {
    Recorder recorder;
    std::shared_ptr<FunctionCall> call =
        transport->Start(Start(), absl::InfiniteFuture(), recorder.Callbacks());
    call->Send(Json(round));
    call->Send(Json(round + 1));
    call->Close();
    EXPECT_THAT(recorder.WaitForDone(), ElementsAre("traits none", absl::StrCat("output ", round),
                                                    absl::StrCat("output ", round + 1), "done OK"))
        << "round " << round;
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace
}  // namespace runnel::sidecar
