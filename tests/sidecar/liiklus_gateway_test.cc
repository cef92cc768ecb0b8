// runnel-processor against a gateway that speaks only liiklus (as riff deployed bsideup/liiklus):
// an in-process gRPC server registering only the gateway library's LiiklusServiceImpl over a
// real Gateway and record store. The processor's runnel.v1 calls (GetStream, ReceiveBatches,
// PublishBatches) are answered UNIMPLEMENTED there, so it must use liiklus's Subscribe,
// Receive, Publish and Ack. The test itself sets up and checks through a second server over the
// same Gateway that also serves runnel.v1.
#include <csignal>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/executor.h"
#include "common/metrics.h"
#include "gateway/gateway.h"
#include "gateway/liiklus_service.h"
#include "gateway/record_store.h"
#include "gateway/runnel_service.h"
#include "tests/sidecar/pipeline_fixture.h"

namespace runnel::testing {
namespace {

using ::testing::HasSubstr;

// A record store and Gateway with two gRPC servers: `liiklus_port` serves LiiklusService only,
// `full_port` serves it and runnel.v1.Gateway (for the test's own set-up and checks).
class LiiklusOnlyGateway {
 public:
  explicit LiiklusOnlyGateway(const std::string& data_dir) {
    gateway::RecordStoreOptions store_options;
    store_options.kind = gateway::RecordStoreOptions::Kind::kFile;
    store_options.file.data_dir = data_dir;
    auto store = gateway::OpenRecordStore(store_options);
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    blocking_ = std::make_unique<Executor>("test-blocking", 2, 4096);
    gateway_ =
        std::make_unique<gateway::Gateway>(store_.get(), &metrics_, gateway::GatewayOptions{});
    liiklus_ = std::make_unique<gateway::LiiklusServiceImpl>(gateway_.get(), blocking_.get());
    runnel_ = std::make_unique<gateway::RunnelServiceImpl>(gateway_.get(), blocking_.get());
    {
      grpc::ServerBuilder builder;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &liiklus_port_);
      builder.RegisterService(liiklus_.get());
      liiklus_only_ = builder.BuildAndStart();
    }
    {
      grpc::ServerBuilder builder;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &full_port_);
      builder.RegisterService(liiklus_.get());
      builder.RegisterService(runnel_.get());
      full_ = builder.BuildAndStart();
    }
    EXPECT_NE(liiklus_port_, 0);
    EXPECT_NE(full_port_, 0);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", full_port_),
                                       grpc::InsecureChannelCredentials());
    liiklus_stub_ = liiklus::LiiklusService::NewStub(channel);
    runnel_stub_ = v1::Gateway::NewStub(channel);
  }

  ~LiiklusOnlyGateway() {
    (void)gateway_->Drain(absl::Seconds(5));
    const auto now = std::chrono::system_clock::now();
    liiklus_only_->Shutdown(now);
    full_->Shutdown(now);
    liiklus_only_->Wait();
    full_->Wait();
    blocking_.reset();
    gateway_.reset();
    store_.reset();
  }

  int liiklus_port() const { return liiklus_port_; }
  liiklus::LiiklusService::Stub& liiklus() { return *liiklus_stub_; }
  v1::Gateway::Stub& runnel() { return *runnel_stub_; }

 private:
  MetricsRegistry metrics_;
  std::unique_ptr<gateway::RecordStore> store_;
  std::unique_ptr<Executor> blocking_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<gateway::LiiklusServiceImpl> liiklus_;
  std::unique_ptr<gateway::RunnelServiceImpl> runnel_;
  std::unique_ptr<grpc::Server> liiklus_only_;
  std::unique_ptr<grpc::Server> full_;
  int liiklus_port_ = 0;
  int full_port_ = 0;
  std::unique_ptr<liiklus::LiiklusService::Stub> liiklus_stub_;
  std::unique_ptr<v1::Gateway::Stub> runnel_stub_;
};

class ProcessorOnPlainLiiklus : public PipelineTest {
 protected:
  void SetUp() override {  // No runnel-gateway process: the in-process liiklus-only one.
    gw_ = std::make_unique<LiiklusOnlyGateway>(dir_.path() + "/data");
  }
  void TearDown() override {
    PipelineTest::TearDown();
    processors_.clear();  // Before the gateway goes.
    gw_.reset();
  }

  std::string Liiklus(const std::string& stream) const {
    return absl::StrCat(stream, ":127.0.0.1:", gw_->liiklus_port(), "/", stream);
  }

  void Create(const std::string& name, int partitions) {
    v1::CreateStreamRequest request;
    request.mutable_stream()->set_name(name);
    request.mutable_stream()->set_partitions(partitions);
    request.mutable_stream()->set_content_type("application/json");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::Stream reply;
    grpc::Status s = gw_->runnel().CreateStream(&context, request, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // liiklus Publish, one call per record, `keys[i % keys.size()]` as key.
  void PublishNumbers(const std::string& stream, int from, int to,
                      const std::vector<std::string>& keys) {
    for (int i = from; i <= to; ++i) {
      liiklus::PublishRequest request;
      request.set_topic(stream);
      request.set_key(keys[static_cast<size_t>(i) % keys.size()]);
      liiklus::LiiklusEvent* e = request.mutable_liiklusevent();
      e->set_id(absl::StrCat("n-", i));
      e->set_type("test");
      e->set_source("liiklus-test");
      e->set_data_content_type("application/json");
      e->set_data(std::to_string(i));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      liiklus::PublishReply reply;
      grpc::Status s = gw_->liiklus().Publish(&context, request, &reply);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }

  // Every record of `partition` of `stream` from offset 0, until `want` arrived or `timeout`.
  std::vector<Received> ReadPartition(const std::string& stream, uint32_t partition, size_t want,
                                      absl::Duration timeout = absl::Seconds(60)) {
    std::vector<Received> out;
    const absl::Time deadline = absl::Now() + timeout;
    uint64_t next = 0;
    while (out.size() < want && absl::Now() < deadline) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
      v1::ReadRequest request;
      request.set_topic(stream);
      request.set_partition(partition);
      request.set_offset(next);
      request.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
      auto reader = gw_->runnel().Read(&context, request);
      v1::ReceiveBatchesReply batch;
      while (out.size() < want && reader->Read(&batch)) {
        for (const auto& r : batch.records()) {
          const auto& e = r.liiklus_event_record();
          out.push_back({partition, e.offset(), e.key(), e.event()});
          next = e.offset() + 1;
        }
      }
      context.TryCancel();
      reader->Finish();
    }
    return out;
  }

  // The group's acknowledged offsets per partition (liiklus GetOffsets).
  std::map<uint32_t, uint64_t> Offsets(const std::string& stream, const std::string& group) {
    liiklus::GetOffsetsRequest request;
    request.set_topic(stream);
    request.set_group(group);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    liiklus::GetOffsetsReply reply;
    if (!gw_->liiklus().GetOffsets(&context, request, &reply).ok()) return {};
    return {reply.offsets().begin(), reply.offsets().end()};
  }

  bool WaitForOffsets(const std::string& stream, const std::string& group,
                      const std::map<uint32_t, uint64_t>& want,
                      absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Offsets(stream, group) == want) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  // Waits for runnel-processor to have acknowledged every input record: the end offsets of the
  // input's partitions, read with GetEndOffsets.
  std::map<uint32_t, uint64_t> EndOffsets(const std::string& stream) {
    liiklus::GetEndOffsetsRequest request;
    request.set_topic(stream);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    liiklus::GetEndOffsetsReply reply;
    EXPECT_TRUE(gw_->liiklus().GetEndOffsets(&context, request, &reply).ok());
    return {reply.offsets().begin(), reply.offsets().end()};
  }

  std::unique_ptr<LiiklusOnlyGateway> gw_;
};

// numbers (2 partitions, 4 keys) -> square -> squares (1 partition): every output arrives with its
// input's key, in the order of its key, and every input is acknowledged.
TEST_F(ProcessorOnPlainLiiklus, MapSquaresThroughLiiklusOnlyAndAcksTheInputs) {
  Create("numbers", 2);
  Create("squares", 1);
  const std::vector<std::string> keys{"a", "b", "c", "d"};
  PublishNumbers("numbers", 1, 300, keys);
  const std::string fn = StartFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function", fn, "--input",
                                    Liiklus("numbers"), "--output", Liiklus("squares"),
                                    "--window", "count=10,time=100ms"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadPartition("squares", 0, 300);
  ASSERT_EQ(out.size(), 300u) << p->Log();
  // Outputs inherit their inputs' keys (square answers one output per input), and the liiklus
  // fallback publishes one record per key at a time: every key's squares appear in its order.
  std::map<std::string, std::vector<std::string>> want_per_key, got_per_key;
  for (int i = 1; i <= 300; ++i) {
    want_per_key[keys[static_cast<size_t>(i) % keys.size()]].push_back(std::to_string(i * i));
  }
  for (const Received& r : out) got_per_key[r.key].push_back(r.event.data());
  EXPECT_EQ(got_per_key, want_per_key);
  // Inputs acknowledged up to the end of each partition.
  std::map<uint32_t, uint64_t> ends = EndOffsets("numbers");
  EXPECT_TRUE(WaitForOffsets("numbers", "squarer", ends))
      << ::testing::PrintToString(Offsets("numbers", "squarer"));
  EXPECT_THAT(p->Log(), HasSubstr("receiving with liiklus Receive"));
  EXPECT_THAT(p->Log(), HasSubstr("publishing with liiklus Publish"));
  auto code = p->Stop(SIGTERM, absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << p->Log();
}

// kill -9 of the processor once outputs flow (on this machine often after the last one: the
// stream is short), then a new one: it resumes after the last liiklus Ack, so every output
// arrives (repeats allowed: at-least-once) and every input is acknowledged.
TEST_F(ProcessorOnPlainLiiklus, ResumesAfterAKilledProcessor) {
  Create("numbers", 1);
  Create("squares", 1);
  PublishNumbers("numbers", 1, 400, {""});
  const std::string fn = StartFunction(SQUARE_BINARY);
  const std::vector<std::string> args{"--name", "squarer", "--function", fn, "--input",
                                      Liiklus("numbers"), "--output", Liiklus("squares"),
                                      "--window", "count=10,time=100ms"};
  ChildProcess* first = StartProcessor(args);
  ASSERT_NE(first, nullptr);
  ASSERT_GE(ReadPartition("squares", 0, 50).size(), 50u) << first->Log();
  ASSERT_TRUE(first->Stop(SIGKILL, absl::Seconds(10)).ok());
  ChildProcess* second = StartProcessor(args);
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(WaitForOffsets("numbers", "squarer", {{0u, 399u}}))
      << ::testing::PrintToString(Offsets("numbers", "squarer")) << second->Log();
  std::vector<Received> out = ReadPartition("squares", 0, 1000, absl::Seconds(2));
  // In order, with at most a replayed stretch: dropping repeats of what came before leaves
  // exactly the squares of 1..400.
  std::vector<std::string> firsts;
  std::set<std::string> seen;
  for (const std::string& s : Payloads(out)) {
    if (seen.insert(s).second) firsts.push_back(s);
  }
  std::vector<std::string> want;
  for (int i = 1; i <= 400; ++i) want.push_back(std::to_string(i * i));
  EXPECT_EQ(firsts, want);
}

}  // namespace
}  // namespace runnel::testing
