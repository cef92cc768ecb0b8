#include "sidecar/gateway_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace runnel::sidecar {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(IsPermanentPublishError, RefusalsOfTheRecordsThemselvesArePermanent) {
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kNotFound));
  EXPECT_TRUE(IsPermanentPublishError(absl::StatusCode::kOutOfRange));
}

TEST(IsPermanentPublishError, BrokenStreamsAndOverloadAreRetried) {
  for (absl::StatusCode code :
       {absl::StatusCode::kOk, absl::StatusCode::kUnavailable,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kCancelled,
        absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kInternal,
        absl::StatusCode::kUnknown, absl::StatusCode::kAborted}) {
    EXPECT_FALSE(IsPermanentPublishError(code)) << absl::StatusCodeToString(code);
  }
}

}  // namespace
}  // namespace runnel::sidecar

namespace runnel::sidecar {
namespace {

// What runnel-gateway answers (gateway/gateway.cc, gateway/stores/*) and what gRPC says about a
// message over its size limit.
TEST(IsTooLargePublishError, RecordOrMessageOverTheLimit) {
  EXPECT_TRUE(IsTooLargePublishError(absl::ResourceExhaustedError(
      "record of 2097252 bytes is larger than the limit of 1048576 bytes")));
  EXPECT_TRUE(IsTooLargePublishError(
      absl::ResourceExhaustedError("Received message larger than max (70000000 vs. 67108864)")));
  EXPECT_TRUE(IsTooLargePublishError(
      absl::ResourceExhaustedError("Sent message larger than max (5000000 vs. 4194304)")));
  EXPECT_TRUE(IsPermanentPublishError(absl::ResourceExhaustedError(
      "publish to 'out': record of 2097252 bytes is larger than the limit of 1048576 bytes")));
}

TEST(IsTooLargePublishError, BackpressureIsNot) {
  for (const char* message : {"the file record store has 4096 writes pending",
                              "gateway is overloaded: too many calls at once",
                              "gateway is overloaded",
                              "append to stream 'out': too many records awaiting the brokers",
                              "Local: Queue full"}) {
    const absl::Status status = absl::ResourceExhaustedError(message);
    EXPECT_FALSE(IsTooLargePublishError(status)) << message;
    EXPECT_FALSE(IsPermanentPublishError(status)) << message;
  }
  // The size words under another code are not a size refusal (and UNAVAILABLE is resent).
  EXPECT_FALSE(IsPermanentPublishError(absl::UnavailableError("larger than the limit")));
  EXPECT_TRUE(IsPermanentPublishError(absl::InvalidArgumentError("content type")));
}

// Serves a service on a loopback port until destroyed. Declare it as the last member of the
// service it serves, so that it starts after and shuts down before the service's own state.
class LoopbackServer {
 public:
  explicit LoopbackServer(grpc::Service* service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
  }
  ~LoopbackServer() { server_->Shutdown(std::chrono::system_clock::now()); }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                               grpc::InsecureChannelCredentials());
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A PublishBatches server that answers each batch as `judge` says: OK acknowledges it, anything
// else ends the stream with that status (as runnel-gateway ends it at the first batch it
// refuses). Keeps every request it saw.
class FakeGateway final : public v1::Gateway::Service {
 public:
  using Judge = std::function<grpc::Status(const v1::PublishBatchRequest&)>;

  explicit FakeGateway(Judge judge) : judge_(std::move(judge)) {}

  std::shared_ptr<grpc::Channel> Channel() const { return server_.Channel(); }

  std::vector<v1::PublishBatchRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  grpc::Status PublishBatches(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::PublishBatchReply, v1::PublishBatchRequest>* stream) override {
    v1::PublishBatchRequest request;
    while (stream->Read(&request)) {
      const grpc::Status status = judge_(request);
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      if (!status.ok()) {
        return status;
      }
      v1::PublishBatchReply reply;
      reply.set_topic(request.topic());
      for (int i = 0; i < request.records_size(); ++i) reply.add_positions()->set_offset(i);
      if (!stream->Write(reply)) break;
    }
    return grpc::Status::OK;
  }

 private:
  Judge judge_;
  mutable absl::Mutex mu_;
  std::vector<v1::PublishBatchRequest> requests_ ABSL_GUARDED_BY(mu_);
  LoopbackServer server_{this};  // Last: serves once the state above exists.
};

liiklus::PublishRequest Record(const std::string& data) {
  liiklus::PublishRequest r;
  r.mutable_liiklusevent()->set_data(data);
  return r;
}

std::vector<liiklus::PublishRequest> Records(std::vector<std::string> data) {
  std::vector<liiklus::PublishRequest> out;
  for (std::string& d : data) out.push_back(Record(d));
  return out;
}

// Collects each group's outcome and the records the publisher settled.
class Outcomes {
 public:
  Publisher::Done For(const std::string& group) {
    return [this, group](absl::Status status) {
      absl::MutexLock lock(&mu_);
      outcomes_[group] = std::move(status);
    };
  }
  void Settled(size_t n) {
    absl::MutexLock lock(&mu_);
    settled_ += n;
  }
  // Waits (at most 10 s) until `groups` groups have an outcome.
  bool WaitFor(size_t groups) {
    absl::MutexLock lock(&mu_);
    auto done = [this, groups]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return outcomes_.size() >= groups;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10));
  }
  absl::Status Of(const std::string& group) {
    absl::MutexLock lock(&mu_);
    auto it = outcomes_.find(group);
    return it == outcomes_.end() ? absl::UnknownError("no outcome") : it->second;
  }
  size_t settled() {
    absl::MutexLock lock(&mu_);
    return settled_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, absl::Status> outcomes_ ABSL_GUARDED_BY(mu_);
  size_t settled_ ABSL_GUARDED_BY(mu_) = 0;
};

PublisherOptions Options(Outcomes& outcomes) {
  return {.topic = "out",
          .retry = {.initial_backoff = absl::Milliseconds(10),
                    .max_backoff = absl::Milliseconds(50), .max_attempts = 0},
          .on_settled = [&outcomes](size_t n) { outcomes.Settled(n); }};
}

// The gateway's backpressure (a store's write queue full) is RESOURCE_EXHAUSTED too: the batch
// is resent until it is taken, never failed.
TEST(Publisher, ResendsABatchRefusedForBackpressure) {
  std::atomic<int> refusals{2};
  FakeGateway gateway([&refusals](const v1::PublishBatchRequest&) {
    if (refusals.fetch_sub(1) > 0) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "the file record store has 4096 writes pending");
    }
    return grpc::Status::OK;
  });
  Outcomes outcomes;
  Publisher publisher(gateway.Channel(), Options(outcomes));
  publisher.Publish(Records({"1", "2", "3"}), outcomes.For("a"));
  ASSERT_TRUE(outcomes.WaitFor(1));
  EXPECT_TRUE(outcomes.Of("a").ok()) << outcomes.Of("a");
  EXPECT_EQ(gateway.requests().size(), 3u);  // Twice refused, then taken.
  EXPECT_EQ(outcomes.settled(), 3u);
}

// A record over the gateway's limit is refused the same way every time: its group fails with
// the gateway's status; the groups around it are published.
TEST(Publisher, FailsTheGroupOfARecordTooLargeForTheGateway) {
  FakeGateway gateway([](const v1::PublishBatchRequest& request) {
    for (const liiklus::PublishRequest& r : request.records()) {
      if (r.liiklusevent().data().size() > 100) {
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat("record of ", r.ByteSizeLong(),
                                         " bytes is larger than the limit of 100 bytes"));
      }
    }
    return grpc::Status::OK;
  });
  Outcomes outcomes;
  Publisher publisher(gateway.Channel(), Options(outcomes));
  publisher.Publish(Records({"1", "2"}), outcomes.For("before"));
  publisher.Publish(Records({"3", std::string(200, 'x'), "4"}), outcomes.For("huge"));
  publisher.Publish(Records({"5"}), outcomes.For("after"));
  ASSERT_TRUE(outcomes.WaitFor(3));
  EXPECT_TRUE(outcomes.Of("before").ok()) << outcomes.Of("before");
  EXPECT_TRUE(outcomes.Of("after").ok()) << outcomes.Of("after");
  const absl::Status huge = outcomes.Of("huge");
  EXPECT_EQ(huge.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(huge.message(), HasSubstr("publish to 'out': record of "));
  EXPECT_THAT(huge.message(), HasSubstr("larger than the limit of 100 bytes"));
  EXPECT_TRUE(IsPermanentPublishError(huge));  // So the processor fails the window.
  // Every record left the publisher: acknowledged, or dropped with its group.
  EXPECT_EQ(outcomes.settled(), 6u);
}

// Requests stay under batch_bytes (the gateway's gRPC message limit is 64 MiB: 500 records of
// 200 KiB would be refused whole, every time); a record larger than that travels alone.
TEST(Publisher, BoundsEachRequestInBytes) {
  FakeGateway gateway([](const v1::PublishBatchRequest&) { return grpc::Status::OK; });
  Outcomes outcomes;
  PublisherOptions options = Options(outcomes);
  options.batch_bytes = 1000;
  Publisher publisher(gateway.Channel(), std::move(options));
  std::vector<std::string> data(7, std::string(300, 'a'));
  data.insert(data.begin() + 3, std::string(2000, 'b'));
  publisher.Publish(Records(data), outcomes.For("a"));
  ASSERT_TRUE(outcomes.WaitFor(1));
  EXPECT_TRUE(outcomes.Of("a").ok()) << outcomes.Of("a");
  std::vector<int> sizes;
  for (const v1::PublishBatchRequest& r : gateway.requests()) sizes.push_back(r.records_size());
  EXPECT_THAT(sizes, ElementsAre(3, 1, 3, 1));
  EXPECT_EQ(outcomes.settled(), 8u);
}

// Stop fails what is left with CANCELLED and settles it, so that a budget counting the records
// sees them go.
TEST(Publisher, StopSettlesWhatIsLeft) {
  FakeGateway gateway([](const v1::PublishBatchRequest&) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  });
  Outcomes outcomes;
  Publisher publisher(gateway.Channel(), Options(outcomes));
  publisher.Publish(Records({"1", "2"}), outcomes.For("a"));  // Queued or in flight: both count.
  publisher.Stop();
  ASSERT_TRUE(outcomes.WaitFor(1));
  EXPECT_EQ(outcomes.Of("a").code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(outcomes.settled(), 2u);
}

}  // namespace
}  // namespace runnel::sidecar

namespace runnel::sidecar {
namespace {

// The fallback to liiklus's own calls: only an UNIMPLEMENTED before any reply says the gateway
// lacks runnel.v1; after a reply it is an error like any other, and other codes are failures.
TEST(IsPlainLiiklus, UnimplementedBeforeAnyReply) {
  EXPECT_TRUE(IsPlainLiiklus(absl::UnimplementedError("Method not found"), false));
  EXPECT_FALSE(IsPlainLiiklus(absl::UnimplementedError("Method not found"), true));
  EXPECT_FALSE(IsPlainLiiklus(absl::UnavailableError("down"), false));
  EXPECT_FALSE(IsPlainLiiklus(absl::OkStatus(), false));
  EXPECT_FALSE(IsPlainLiiklus(absl::CancelledError(), false));
}

}  // namespace
}  // namespace runnel::sidecar

namespace runnel::sidecar {
namespace {

// A plain liiklus: runnel.v1 is not served (UNIMPLEMENTED). Publish answers as `judge` says,
// after a short delay that varies per call, so that calls in flight could overtake each other.
class FakeLiiklus final : public liiklus::LiiklusService::Service {
 public:
  using Judge = std::function<grpc::Status(const liiklus::PublishRequest&)>;

  explicit FakeLiiklus(Judge judge) : judge_(std::move(judge)) {}

  std::shared_ptr<grpc::Channel> Channel() const { return server_.Channel(); }

  grpc::Status Publish(grpc::ServerContext*, const liiklus::PublishRequest* request,
                       liiklus::PublishReply*) override {
    int n = 0;
    {
      absl::MutexLock lock(&mu_);
      n = ++calls_;
      max_concurrent_ = std::max(max_concurrent_, ++concurrent_);
    }
    absl::SleepFor(absl::Milliseconds((n * 7) % 5));
    const grpc::Status status = judge_(*request);
    absl::MutexLock lock(&mu_);
    --concurrent_;
    if (status.ok()) stored_.push_back(*request);
    return status;
  }

  // The records stored, in the order the gateway took them.
  std::vector<liiklus::PublishRequest> stored() const {
    absl::MutexLock lock(&mu_);
    return stored_;
  }
  int max_concurrent() const {
    absl::MutexLock lock(&mu_);
    return max_concurrent_;
  }

 private:
  Judge judge_;
  mutable absl::Mutex mu_;
  std::vector<liiklus::PublishRequest> stored_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  int concurrent_ ABSL_GUARDED_BY(mu_) = 0;
  int max_concurrent_ ABSL_GUARDED_BY(mu_) = 0;
  LoopbackServer server_{this};  // Last: serves once the state above exists.
};

liiklus::PublishRequest Keyed(const std::string& key, const std::string& data) {
  liiklus::PublishRequest r = Record(data);
  r.set_key(key);
  return r;
}

// Every record arrives, each key's (and the keyless ones') in the order published, with calls
// of different keys in flight together; each group completes once.
TEST(PublisherOnPlainLiiklus, PublishesPerRecordKeepingEachKeysOrder) {
  FakeLiiklus gateway([](const liiklus::PublishRequest&) { return grpc::Status::OK; });
  Outcomes outcomes;
  Publisher publisher(gateway.Channel(), Options(outcomes));
  const std::vector<std::string> keys{"a", "b", "", "c"};
  std::map<std::string, std::vector<std::string>> want;
  for (int g = 0; g < 5; ++g) {
    std::vector<liiklus::PublishRequest> records;
    for (int i = 0; i < 40; ++i) {
      const std::string& key = keys[static_cast<size_t>(i) % keys.size()];
      const std::string data = absl::StrCat(g, "-", i);
      records.push_back(Keyed(key, data));
      want[key].push_back(data);
    }
    publisher.Publish(std::move(records), outcomes.For(absl::StrCat("g", g)));
  }
  ASSERT_TRUE(outcomes.WaitFor(5));
  for (int g = 0; g < 5; ++g) {
    EXPECT_TRUE(outcomes.Of(absl::StrCat("g", g)).ok()) << outcomes.Of(absl::StrCat("g", g));
  }
  std::map<std::string, std::vector<std::string>> got;
  for (const liiklus::PublishRequest& r : gateway.stored()) {
    EXPECT_EQ(r.topic(), "out");
    got[r.key()].push_back(r.liiklusevent().data());
  }
  EXPECT_EQ(got, want);
  EXPECT_GT(gateway.max_concurrent(), 1);  // Pipelined across keys.
  EXPECT_EQ(outcomes.settled(), 200u);
  EXPECT_EQ(publisher.queued(), 0u);
}

// Backpressure is resent (in order); a record too large fails its group only.
TEST(PublisherOnPlainLiiklus, ResendsBackpressureAndFailsTheGroupOfARefusedRecord) {
  std::atomic<int> refusals{3};
  FakeLiiklus gateway([&refusals](const liiklus::PublishRequest& r) {
    if (r.liiklusevent().data().size() > 100) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "record of 300 bytes is larger than the limit of 100 bytes");
    }
    if (refusals.fetch_sub(1) > 0) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "gateway is overloaded");
    }
    return grpc::Status::OK;
  });
  Outcomes outcomes;
  Publisher publisher(gateway.Channel(), Options(outcomes));
  publisher.Publish(Records({"1", "2", "3"}), outcomes.For("before"));
  publisher.Publish(Records({"4", std::string(200, 'x'), "5"}), outcomes.For("huge"));
  publisher.Publish(Records({"6"}), outcomes.For("after"));
  ASSERT_TRUE(outcomes.WaitFor(3));
  EXPECT_TRUE(outcomes.Of("before").ok()) << outcomes.Of("before");
  EXPECT_TRUE(outcomes.Of("after").ok()) << outcomes.Of("after");
  EXPECT_THAT(outcomes.Of("huge").message(), HasSubstr("publish to 'out': record of 300 bytes"));
  std::vector<std::string> stored;
  for (const liiklus::PublishRequest& r : gateway.stored()) {
    stored.push_back(r.liiklusevent().data());
  }
  // Keyless: one at a time, in order; "5" was dropped with its group.
  EXPECT_THAT(stored, ElementsAre("1", "2", "3", "4", "6"));
  EXPECT_EQ(outcomes.settled(), 7u);
}

TEST(PublisherOnPlainLiiklus, StopCancelsWhatIsLeft) {
  FakeLiiklus gateway([](const liiklus::PublishRequest&) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  });
  Outcomes outcomes;
  Publisher publisher(gateway.Channel(), Options(outcomes));
  publisher.Publish(Records({"1", "2"}), outcomes.For("a"));
  absl::SleepFor(absl::Milliseconds(100));  // Fallen back, resending.
  publisher.Stop();
  ASSERT_TRUE(outcomes.WaitFor(1));
  EXPECT_EQ(outcomes.Of("a").code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(outcomes.settled(), 2u);
}

}  // namespace
}  // namespace runnel::sidecar
