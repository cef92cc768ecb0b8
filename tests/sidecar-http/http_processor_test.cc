// runnel-processor calling plain HTTP functions, end to end with real processes: runnel-gateway
// on the file log, runnel-processor with --function-url, and either the C++ SDK's own HTTP port
// of an example function or a few lines of Python http.server written without the SDK
// (plain_function.py). Each test checks the output and dead-letter streams, the group positions
// the processor acknowledged and, where it matters, its /metrics.
#include <utility>  // Must precede Boost 1.74's Asio under GCC 12 in C++20 mode.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <csignal>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/sidecar/pipeline_fixture.h"

namespace runnel::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> Squares(int from, int to, std::set<int> except = {}) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) {
    if (except.count(i) == 0) out.push_back(std::to_string(i * i));
  }
  return out;
}

class HttpProcessor : public PipelineTest {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (auto& f : plain_) {
        std::cerr << "--- plain function log\n" << f.Log() << "\n";
      }
    }
    PipelineTest::TearDown();
  }

  // The C++ SDK example's own HTTP port; returns its URL.
  std::string StartSdkHttpFunction(const std::string& binary) {
    auto child = ChildProcess::Start({binary, "--grpc-port=0", "--http-port=0"}, {},
                                     absl::StrCat(dir_.path(), "/sdk-function.log"));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return "";
    functions_.push_back(*std::move(child));
    auto line = functions_.back().WaitForLogLine("runnel-sdk: ready", absl::Seconds(30));
    EXPECT_TRUE(line.ok()) << line.status();
    if (!line.ok()) return "";
    return absl::StrCat("http://127.0.0.1:", FieldFromLogLine(*line, "http_port"), "/");
  }

  // plain_function.py in `mode`; returns its URL.
  std::string StartPlainFunction(const std::string& mode) {
    auto child = ChildProcess::Start({PYTHON_EXECUTABLE, PLAIN_FUNCTION, mode}, {},
                                     absl::StrCat(dir_.path(), "/plain-", plain_.size(), ".log"));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return "";
    plain_.push_back(*std::move(child));
    auto line = plain_.back().WaitForLogLine("plain-function ready", absl::Seconds(30));
    EXPECT_TRUE(line.ok()) << line.status() << plain_.back().Log();
    if (!line.ok()) return "";
    return absl::StrCat("http://127.0.0.1:", FieldFromLogLine(*line, "port"), "/fn");
  }

  // Publishes CloudEvents with `extensions` on every record.
  void PublishWithExtensions(const std::string& stream, const std::vector<std::string>& payloads,
                             const std::map<std::string, std::string>& extensions) {
    liiklus::PublishReply reply;
    for (size_t i = 0; i < payloads.size(); ++i) {
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      liiklus::PublishRequest request;
      request.set_topic(stream);
      liiklus::LiiklusEvent* e = request.mutable_liiklusevent();
      e->set_id(absl::StrCat("ext-", i));
      e->set_type("test");
      e->set_source("http-test");
      e->set_data_content_type("application/json");
      e->set_data(payloads[i]);
      e->mutable_extensions()->insert(extensions.begin(), extensions.end());
      grpc::Status s = gateway_->liiklus().Publish(&c, request, &reply);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }

  // The records of one partition of `stream` published so far: reads from offset 0 until a
  // round of reads brings nothing new.
  std::vector<Received> ReadPartition(const std::string& stream, uint32_t partition) {
    std::vector<Received> out;
    uint64_t next = 0;
    for (int round = 0; round < 100; ++round) {
      const size_t before = out.size();
      const absl::Time deadline = absl::Now() + absl::Milliseconds(500);
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(deadline));
      v1::ReadRequest request;
      request.set_topic(stream);
      request.set_partition(partition);
      request.set_offset(next);
      request.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
      auto reader = gateway_->runnel().Read(&context, request);
      v1::ReceiveBatchesReply batch;
      while (reader->Read(&batch)) {
        for (const auto& r : batch.records()) {
          const auto& e = r.liiklus_event_record();
          out.push_back({partition, e.offset(), e.key(), e.event()});
          next = e.offset() + 1;
        }
      }
      context.TryCancel();
      reader->Finish();
      if (out.size() == before) break;
    }
    return out;
  }

  std::vector<ChildProcess> plain_;
};

TEST_F(HttpProcessor, DrivesTheSdkSquareOverItsHttpPort) {
  CreateStream("numbers");
  CreateStream("squares");
  Publish("numbers", Numbers(1, 300));
  const std::string url = StartSdkHttpFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function-url", url, "--input",
                                    In("numbers"), "--output", In("squares"), "--window",
                                    "count=50,time=200ms", "--function-max-inflight", "16"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("squares", 300);
  EXPECT_EQ(Payloads(out), Squares(1, 300)) << p->Log();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].event.data_content_type(), "application/json");
  EXPECT_EQ(out[0].event.source(), "squarer");
  EXPECT_TRUE(WaitForGroupOffset("numbers", "squarer", 299)) << GroupOffset("numbers", "squarer");
  EXPECT_TRUE(WaitForProcessorMetric(
      p, "runnel_processor_function_requests_total{transport=\"http\",code=\"200\"} 300"))
      << ProcessorMetrics(p);
  EXPECT_THAT(ProcessorMetrics(p), HasSubstr("runnel_processor_function_request_seconds_count"
                                    "{transport=\"http\"} 300"));
  auto code = p->Stop(SIGTERM, absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << p->Log();
}

TEST_F(HttpProcessor, SdkFunctionRefusingAContentTypeFillsTheDeadLetterStream) {
  CreateStream("numbers", "*/*");
  CreateStream("squares");
  CreateStream("dlq", "*/*");  // Dead letters keep their own content type (here text/csv).
  Publish("numbers", {"1", "2"});
  Publish("numbers", {"3,4"}, "text/csv");  // The SDK's double codec cannot read it: 415.
  Publish("numbers", {"5"});
  const std::string url = StartSdkHttpFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function-url", url, "--input",
                                    In("numbers"), "--output", In("squares"), "--dead-letter",
                                    In("dlq"), "--window", "count=10,time=100ms"});
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(Payloads(ReadAtLeast("squares", 3)), ElementsAre("1", "4", "25")) << p->Log();
  std::vector<Received> dead = ReadAtLeast("dlq", 1);
  ASSERT_EQ(dead.size(), 1u) << p->Log();
  EXPECT_EQ(dead[0].event.data(), "3,4");
  EXPECT_EQ(dead[0].event.data_content_type(), "text/csv");
  const auto& ext = dead[0].event.extensions();
  EXPECT_EQ(ext.at("runnelhttpstatus"), "415");
  EXPECT_THAT(ext.at("runnelhttpbody"), HasSubstr("Unsupported Media Type"));
  EXPECT_THAT(ext.at("runnelerror"),
              StartsWith("INVALID_ARGUMENT: Invoker: Unsupported Media Type: HTTP 415 from"));
  EXPECT_EQ(ext.at("runneloffset"), "2");
  EXPECT_TRUE(WaitForGroupOffset("numbers", "squarer", 3));
}

TEST_F(HttpProcessor, DrivesAPlainPythonFunctionAndMapsHeaders) {
  CreateStream("numbers");
  CreateStream("squares", "application/json");
  PublishWithExtensions("numbers", Numbers(1, 20), {{"tenant", "acme"}});
  const std::string url = StartPlainFunction("square");
  ChildProcess* p = StartProcessor({"--name", "py", "--input", In("numbers"), "--output",
                                    In("squares"), "--window", "count=5,time=100ms"},
                                   {{"RUNNEL_FUNCTION_URL", url}});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("squares", 20);
  EXPECT_EQ(Payloads(out), Squares(1, 20)) << p->Log();
  ASSERT_FALSE(out.empty());
  // The function saw the record's header, its content type and the output stream's type as
  // request headers and echoed them; response headers became extensions. Date and Server are
  // the exchange's, not the result's.
  const auto& ext = out[0].event.extensions();
  EXPECT_EQ(ext.at("xseentenant"), "acme");
  EXPECT_EQ(ext.at("xseencontenttype"), "application/json");
  EXPECT_EQ(ext.at("xseenaccept"), "application/json");
  EXPECT_EQ(ext.count("date"), 0u);
  EXPECT_EQ(ext.count("server"), 0u);
  EXPECT_EQ(out[0].event.data_content_type(), "application/json");
  EXPECT_TRUE(WaitForGroupOffset("numbers", "py", 19));
}

TEST_F(HttpProcessor, ServerErrorsAreRetriedUntilTheFunctionAnswers) {
  CreateStream("numbers");
  CreateStream("squares");
  CreateStream("dlq");
  Publish("numbers", Numbers(1, 20));
  const std::string url = StartPlainFunction("flaky");  // 500 first, then 200, per record.
  ChildProcess* p = StartProcessor({"--name", "flaky", "--function-url", url, "--input",
                                    In("numbers"), "--output", In("squares"), "--dead-letter",
                                    In("dlq"), "--window", "count=10,time=100ms"});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Payloads(ReadAtLeast("squares", 20)), Squares(1, 20)) << p->Log();
  EXPECT_TRUE(WaitForGroupOffset("numbers", "flaky", 19));
  EXPECT_TRUE(ReadAtLeast("dlq", 1, absl::Milliseconds(500)).empty());
  const std::string metrics = ProcessorMetrics(p);
  EXPECT_THAT(metrics, HasSubstr("runnel_processor_function_requests_total{transport=\"http\","
                                 "code=\"500\"} 20"));
  EXPECT_THAT(metrics, HasSubstr("runnel_processor_function_retries_total{transport=\"http\","
                                 "reason=\"500\"} 20"));
  EXPECT_THAT(metrics, HasSubstr("runnel_processor_dead_lettered_total 0"));
}

TEST_F(HttpProcessor, ClientErrorDeadLettersOneRecordAndThePipelineContinues) {
  CreateStream("numbers");
  CreateStream("squares");
  CreateStream("dlq");
  Publish("numbers", Numbers(1, 30));
  const std::string url = StartPlainFunction("reject");  // 415 for 13.
  ChildProcess* p = StartProcessor({"--name", "rej", "--function-url", url, "--input",
                                    In("numbers"), "--output", In("squares"), "--dead-letter",
                                    In("dlq"), "--window", "count=10,time=100ms"});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Payloads(ReadAtLeast("squares", 29)), Squares(1, 30, {13})) << p->Log();
  std::vector<Received> dead = ReadAtLeast("dlq", 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.data(), "13");
  const auto& ext = dead[0].event.extensions();
  EXPECT_EQ(ext.at("runnelhttpstatus"), "415");
  EXPECT_EQ(ext.at("runnelhttpbody"), R"({"error": "unlucky 13"})");
  EXPECT_EQ(ext.at("runnelattempts"), "1");  // 4xx is not retried.
  EXPECT_EQ(ext.at("runnelprocessor"), "rej");
  EXPECT_TRUE(WaitForGroupOffset("numbers", "rej", 29));
  EXPECT_THAT(ProcessorMetrics(p),
              HasSubstr("runnel_processor_function_requests_total{transport=\"http\","
                        "code=\"415\"} 1"));
}

// The gateway refuses the text/csv answer to 13 for the JSON output stream (INVALID_ARGUMENT):
// that window's invocation fails like a function error, is retried, then its input goes to the
// dead-letter stream; the windows after it, and records published later, still flow.
TEST_F(HttpProcessor, OutputRefusedForItsContentTypeIsRetriedThenDeadLetteredAndLaterWindowsFlow) {
  CreateStream("numbers");
  CreateStream("squares");
  CreateStream("dlq", "*/*");
  Publish("numbers", Numbers(10, 16));
  const std::string url = StartPlainFunction("csv");
  ChildProcess* p = StartProcessor({"--name", "csv", "--function-url", url, "--input",
                                    In("numbers"), "--output", In("squares"), "--dead-letter",
                                    In("dlq"), "--window", "count=1", "--max-attempts", "3"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> dead = ReadAtLeast("dlq", 1);
  ASSERT_EQ(dead.size(), 1u) << p->Log();
  EXPECT_EQ(dead[0].event.data(), "13");
  const auto& ext = dead[0].event.extensions();
  EXPECT_EQ(ext.at("runnelattempts"), "3");
  EXPECT_EQ(ext.at("runneloffset"), "3");
  EXPECT_THAT(ext.at("runnelerror"), StartsWith("INVALID_ARGUMENT: publish to 'squares': "));
  EXPECT_THAT(ext.at("runnelerror"), HasSubstr("text/csv"));
  EXPECT_TRUE(WaitForGroupOffset("numbers", "csv", 6));
  Publish("numbers", {"20"});
  EXPECT_THAT(Payloads(ReadAtLeast("squares", 7)),
              ::testing::UnorderedElementsAreArray({"100", "121", "144", "196", "225", "256",
                                                    "400"}))
      << p->Log();
  EXPECT_TRUE(WaitForGroupOffset("numbers", "csv", 7));
  const std::string metrics = ProcessorMetrics(p);
  // One refusal per attempt, plus one more should the refused group have shared a batch.
  EXPECT_GE(MetricValue(metrics, "runnel_processor_publish_refused_total{stream=\"squares\","
                                 "output=\"squares\"}"),
            3)
      << metrics;
  EXPECT_THAT(metrics, HasSubstr("runnel_processor_dead_lettered_total 1"));
  // Reported once per refusal with the gateway's status, not a CANCELLED resend loop.
  EXPECT_THAT(p->Log(), HasSubstr("the gateway refused a batch for good; failing its group"));
  EXPECT_THAT(p->Log(), ::testing::Not(HasSubstr("publish stream broke")));
}

// Answers into a stalled output gateway (SIGSTOP): once --max-pending-outputs answers wait to be
// published, the processor starts no new request (the few in flight still complete) instead of
// sending every window's records; once the gateway is back, every square arrives in order. A
// window's answers are published once the window completes, so the bound may be passed by one
// window's answers (count=20 here) plus the requests in flight.
TEST_F(HttpProcessor, StalledOutputStopsNewRequestsAtTheBoundAndLosesNothing) {
  std::unique_ptr<GatewayProcess> out_gateway = StartOtherGateway("out-gateway");
  ASSERT_NE(out_gateway, nullptr);
  CreateStream("numbers");
  CreateStream("squares", "application/json", 1, out_gateway.get());
  const std::string url = StartSdkHttpFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor(
      {"--name", "squarer", "--function-url", url, "--input", In("numbers"), "--output",
       absl::StrCat("127.0.0.1:", out_gateway->grpc_port(), "/squares"), "--window",
       "count=20,time=100ms", "--function-max-inflight", "4", "--max-pending-outputs", "50"});
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(kill(out_gateway->process().pid(), SIGSTOP), 0);  // After it looked up 'squares'.
  Publish("numbers", Numbers(1, 500));
  double max_pending = -1, requests = -1;
  for (int i = 0; i < 30; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    const std::string metrics = ProcessorMetrics(p);
    max_pending =
        std::max(max_pending, MetricValue(metrics, "runnel_processor_pending_outputs"));
    requests = MetricValue(
        metrics, "runnel_processor_function_requests_total{transport=\"http\",code=\"200\"}");
  }
  ASSERT_EQ(kill(out_gateway->process().pid(), SIGCONT), 0);
  RecordProperty("max_pending_outputs", static_cast<int>(max_pending));
  RecordProperty("requests_while_stalled", static_cast<int>(requests));
  // The bound, plus a window's answers and those of requests in flight when the call paused.
  EXPECT_GE(max_pending, 45) << ProcessorMetrics(p);
  EXPECT_LE(max_pending, 50 + 20 + 4) << ProcessorMetrics(p);
  EXPECT_LE(requests, 50 + 20 + 4) << ProcessorMetrics(p);
  std::vector<Received> out = ReadAtLeast("squares", 500, absl::Seconds(120), out_gateway.get());
  EXPECT_EQ(Payloads(out), Squares(1, 500));
  EXPECT_TRUE(WaitForGroupOffset("numbers", "squarer", 499)) << GroupOffset("numbers", "squarer");
  EXPECT_TRUE(WaitForProcessorMetric(p, "runnel_processor_pending_outputs 0"))
      << ProcessorMetrics(p);
}

TEST_F(HttpProcessor, HangingRequestTimesOutAndIsDeadLetteredAfterItsRetries) {
  CreateStream("numbers");
  CreateStream("squares");
  CreateStream("dlq");
  Publish("numbers", Numbers(1, 10));
  const std::string url = StartPlainFunction("hang");  // 7 never answers.
  ChildProcess* p = StartProcessor({"--name", "hang", "--function-url", url, "--input",
                                    In("numbers"), "--output", In("squares"), "--dead-letter",
                                    In("dlq"), "--window", "count=10,time=100ms",
                                    "--function-request-timeout", "1s", "--max-attempts", "2"});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Payloads(ReadAtLeast("squares", 9)), Squares(1, 10, {7})) << p->Log();
  std::vector<Received> dead = ReadAtLeast("dlq", 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.data(), "7");
  EXPECT_THAT(dead[0].event.extensions().at("runnelerror"),
              StartsWith("DEADLINE_EXCEEDED: POST " + url + ": no complete response within"));
  EXPECT_TRUE(WaitForGroupOffset("numbers", "hang", 9));
  // 7 timed out twice (a slow machine may add a timed-out attempt of another record).
  const std::string metrics = ProcessorMetrics(p);
  EXPECT_GE(MetricValue(metrics, "runnel_processor_function_requests_total{transport=\"http\","
                                 "code=\"timeout\"}"),
            2)
      << metrics;
  EXPECT_GE(MetricValue(metrics, "runnel_processor_function_retries_total{transport=\"http\","
                                 "reason=\"timeout\"}"),
            1);
}

TEST_F(HttpProcessor, KeepsPerPartitionOrderWithManyRequestsInFlight) {
  constexpr int kRecords = 2000;
  constexpr int kPartitions = 4;
  CreateStream("numbers", "application/json", kPartitions);
  CreateStream("squares");
  std::vector<std::string> keys;
  for (int i = 0; i < kRecords; ++i) keys.push_back(absl::StrCat("key-", i % 37));
  Publish("numbers", Numbers(1, kRecords), "application/json", keys);
  const std::string url = StartPlainFunction("shuffle");  // Answers after 0-20 ms at random.
  ChildProcess* p = StartProcessor({"--name", "order", "--function-url", url, "--input",
                                    In("numbers"), "--output", In("squares"), "--window",
                                    "count=200,time=100ms", "--function-max-inflight", "64"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("squares", kRecords, absl::Seconds(120));
  ASSERT_EQ(out.size(), static_cast<size_t>(kRecords)) << p->Log();
  // Where each square appears in the (one-partition) output stream.
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < out.size(); ++i) position[out[i].event.data()] = i;
  ASSERT_EQ(position.size(), static_cast<size_t>(kRecords));
  size_t checked = 0;
  for (uint32_t partition = 0; partition < kPartitions; ++partition) {
    std::vector<Received> in = ReadPartition("numbers", partition);
    // Each input partition's results come out in the partition's order.
    size_t previous = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const int x = std::stoi(in[i].event.data());
      auto it = position.find(std::to_string(x * x));
      ASSERT_NE(it, position.end()) << x;
      if (i > 0) {
        EXPECT_GT(it->second, previous) << "partition " << partition << " offset " << i;
      }
      previous = it->second;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<size_t>(kRecords));
  // The requests really overlapped: the function saw many at once.
  int most = 0;
  for (const Received& r : out) {
    most = std::max(most, std::stoi(r.event.extensions().at("xconcurrent")));
  }
  EXPECT_GT(most, 8);
}

TEST_F(HttpProcessor, RefusesAnHttpFunctionWithSeveralInputs) {
  auto child = ChildProcess::Start(
      {BuiltBinary("sidecar/runnel-processor"), "--name", "j", "--function-url",
       "http://127.0.0.1:1/", "--input", In("a"), "--input", In("b"), "--output", In("c")},
      {}, absl::StrCat(dir_.path(), "/refused.log"));
  ASSERT_TRUE(child.ok()) << child.status();
  auto code = child->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(child->Log(), HasSubstr("an HTTP function is request-reply, one input and at most "
                                      "one output, but this processor has 2 input(s)"));
}

}  // namespace
}  // namespace runnel::testing
