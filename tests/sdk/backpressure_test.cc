// In-process: a slow function must slow the caller (the SDK stops reading) instead of
// buffering without bound, and lifecycle hooks run once.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <runnel/sdk/server.h>

#include <atomic>
#include <future>
#include <thread>

#include "tests/sdk/sdk_test_util.h"

namespace runnel::sdk::testing {
namespace {

TEST(Backpressure, SlowFunctionStallsTheSenderAndLosesNothing) {
  constexpr int kFrames = 4000;
  const std::string kPayload(32 * 1024, 'x');  // 128 MiB in all: far beyond any buffer.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Function f = Function::Streaming({.inputs = 1, .outputs = 1}, [&](Invocation& inv) {
    released.wait();
    long n = 0;
    while (true) {
      absl::StatusOr<std::optional<Message>> m = inv.input(0).NextMessage();
      if (!m.ok()) {
        return m.status();
      }
      if (!m->has_value()) {
        break;
      }
      ++n;
    }
    return inv.output(0).Emit(static_cast<double>(n));
  });
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(
      f, {.host = "127.0.0.1", .grpc_port = 0, .http_port = -1, .input_buffer = 16});
  ASSERT_TRUE(server.ok()) << server.status();

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = streaming::Riff::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub->Invoke(&ctx);
  std::atomic<int> written{0};
  std::thread writer([&] {
    stream->Write(StartSignal({"application/json"}, {"in"}, {"out"}));
    for (int i = 0; i < kFrames; ++i) {
      if (!stream->Write(DataSignal(Frame{.index = 0, .payload = kPayload,
                                          .content_type = "application/octet-stream",
                                          .headers = {}}))) {
        return;
      }
      written.fetch_add(1);
    }
    stream->WritesDone();
  });
  // Wait (bounded: 20 s) until the writer stops making progress.
  int last = -1;
  int still = 0;
  for (int i = 0; i < 100 && still < 5 && written.load() < kFrames; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int now = written.load();
    still = now == last ? still + 1 : 0;
    last = now;
  }
  EXPECT_LT(written.load(), kFrames) << "the sender was never slowed down";
  release.set_value();
  writer.join();
  streaming::OutputSignal out;
  ASSERT_TRUE(stream->Read(&out));
  EXPECT_EQ(out.data().payload(), std::to_string(kFrames));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST(Lifecycle, InitAndDestroyRunOncePerServer) {
  int inits = 0;
  int destroys = 0;
  Function f = Function::RequestReply([](double x) { return x; });
  f.OnInit([&] {
     ++inits;
     return absl::OkStatus();
   }).OnDestroy([&] { ++destroys; });
  {
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(f, {.host = "127.0.0.1", .grpc_port = 0, .http_port = 0});
    ASSERT_TRUE(server.ok()) << server.status();
    InvokeResult r =
        Invoke("127.0.0.1:" + std::to_string((*server)->grpc_port()), {"*/*"}, {"in"}, {"out"},
               {Frame{.index = 0, .payload = "2", .content_type = "application/json",
                      .headers = {}}});
    EXPECT_TRUE(r.status.ok());
    EXPECT_EQ(destroys, 0);
  }
  EXPECT_EQ(inits, 1);
  EXPECT_EQ(destroys, 1);
}

TEST(Lifecycle, FailingInitFailsStart) {
  Function f = Function::RequestReply([](double x) { return x; });
  f.OnInit([] { return absl::UnavailableError("database down"); });
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(f, {.host = "127.0.0.1", .grpc_port = 0, .http_port = -1});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(server.status().message()), ::testing::HasSubstr("database down"));
}

TEST(Errors, ExceptionInStreamingFunctionFailsOnlyThatInvocation) {
  Function f = Function::Streaming({.inputs = 1, .outputs = 1}, [](Invocation& inv) -> absl::Status {
    absl::StatusOr<std::optional<double>> x = inv.input(0).Next<double>();
    if (x.ok() && x->has_value() && **x < 0) {
      throw std::runtime_error("negative");
    }
    return inv.output(0).Emit(1.0);
  });
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(f, {.host = "127.0.0.1", .grpc_port = 0, .http_port = -1});
  ASSERT_TRUE(server.ok());
  std::string target = "127.0.0.1:" + std::to_string((*server)->grpc_port());
  Frame neg{.index = 0, .payload = "-1", .content_type = "application/json", .headers = {}};
  InvokeResult bad = Invoke(target, {"*/*"}, {"in"}, {"out"}, {neg});
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(bad.status.error_message(), "Invoker: Unexpected Invocation Error: negative");
  Frame pos = neg;
  pos.payload = "1";
  EXPECT_TRUE(Invoke(target, {"*/*"}, {"in"}, {"out"}, {pos}).status.ok());
}

}  // namespace
}  // namespace runnel::sdk::testing
