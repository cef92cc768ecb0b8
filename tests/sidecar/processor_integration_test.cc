// runnel-processor end to end with real processes: runnel-gateway on the file log, SDK example
// functions, the processor binary. Each test checks what arrived on the output streams and the
// group positions the processor acknowledged.
#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/sidecar/pipeline_fixture.h"

namespace runnel::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

class ProcessorIntegration : public PipelineTest {};

TEST_F(ProcessorIntegration, MapSquaresEveryRecordAndAcksTheInputs) {
  CreateStream("numbers");
  CreateStream("squares");
  Publish("numbers", Numbers(1, 200));
  const std::string fn = StartFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function", fn, "--input",
                                    In("numbers", "numbers"), "--output", In("squares", "squares"),
                                    "--window", "count=10,time=200ms"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("squares", 200);
  ASSERT_EQ(out.size(), 200u) << p->Log();
  std::vector<std::string> want;
  for (int i = 1; i <= 200; ++i) want.push_back(std::to_string(i * i));
  EXPECT_EQ(Payloads(out), want);  // One partition, one lane: order is kept.
  // Outputs are CloudEvents from the processor.
  const liiklus::LiiklusEvent& e = out[0].event;
  EXPECT_EQ(e.source(), "squarer");
  EXPECT_EQ(e.type(), "riff-event");
  EXPECT_EQ(e.data_content_type(), "application/json");
  EXPECT_EQ(e.id().size(), 36u);
  EXPECT_FALSE(e.time().empty());
  EXPECT_NE(out[0].event.id(), out[1].event.id());
  // Inputs acknowledged up to the last offset, after their outputs were durable.
  EXPECT_TRUE(WaitForGroupOffset("numbers", "squarer", 199)) << GroupOffset("numbers", "squarer");
  // Lag: the partition's end offset (199) minus the group's position, refreshed every second.
  EXPECT_TRUE(WaitForProcessorMetric(
      p, "runnel_processor_lag_records{stream=\"numbers\",input=\"numbers\",partition=\"0\"} 0"))
      << ProcessorMetrics(p);
  // SIGTERM: clean exit.
  auto code = p->Stop(SIGTERM, absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << p->Log();
}

TEST_F(ProcessorIntegration, CountWindowsAverageEachWindow) {
  CreateStream("readings");
  CreateStream("averages");
  Publish("readings", Numbers(1, 20));
  // The function averages what one invocation (one window) gives it.
  const std::string fn = StartFunction(TIME_AVERAGER_BINARY, {{"WINDOW_MS", "600000"},
                                                              {"WINDOW_COUNT", "1000000"}});
  ChildProcess* p = StartProcessor({"--name", "avg", "--function", fn, "--input",
                                    In("readings"), "--output", In("averages"), "--window",
                                    "count=5"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("averages", 4);
  EXPECT_THAT(Payloads(out), ElementsAre("3", "8", "13", "18")) << p->Log();
  EXPECT_TRUE(WaitForGroupOffset("readings", "avg", 19));
}

TEST_F(ProcessorIntegration, TimeWindowsCloseOnTheClock) {
  CreateStream("readings");
  CreateStream("averages");
  const std::string fn = StartFunction(TIME_AVERAGER_BINARY, {{"WINDOW_MS", "600000"},
                                                              {"WINDOW_COUNT", "1000000"}});
  ChildProcess* p = StartProcessor({"--name", "avg", "--function", fn, "--input",
                                    In("readings"), "--output", In("averages"), "--window",
                                    "time=300ms"});
  ASSERT_NE(p, nullptr);
  // No count limit: only the clock closes a window. The second burst is published after the
  // first one's average is out, so it lands in a later window.
  Publish("readings", {"1", "2", "3"});
  std::vector<Received> first = ReadAtLeast("averages", 1);
  ASSERT_THAT(Payloads(first), ElementsAre("2")) << p->Log();
  Publish("readings", {"10", "20"});
  std::vector<Received> out = ReadAtLeast("averages", 2);
  EXPECT_THAT(Payloads(out), ElementsAre("2", "15"));
  EXPECT_TRUE(WaitForGroupOffset("readings", "avg", 4));
}

// Sliding windows overlap: with size=1s, slide=500ms every record belongs to exactly the two
// windows covering its arrival, so a map function sees it twice and its square comes out twice.
// The inputs are acknowledged once both windows completed.
TEST_F(ProcessorIntegration, SlidingWindowsGiveEachRecordToEveryCoveringWindow) {
  CreateStream("numbers");
  CreateStream("squares");
  const std::string fn = StartFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function", fn, "--input",
                                    In("numbers"), "--output", In("squares"), "--window",
                                    "sliding:size=1s,slide=500ms"});
  ASSERT_NE(p, nullptr);
  Publish("numbers", Numbers(1, 20));
  std::vector<Received> out = ReadAtLeast("squares", 40);
  ASSERT_EQ(out.size(), 40u) << p->Log();
  EXPECT_TRUE(WaitForGroupOffset("numbers", "squarer", 19)) << GroupOffset("numbers", "squarer");
  // Nothing beyond the two copies arrives later.
  EXPECT_EQ(ReadAtLeast("squares", 41, absl::Seconds(2)).size(), 40u);
  std::map<std::string, int> copies;
  for (const Received& r : out) ++copies[r.event.data()];
  for (int i = 1; i <= 20; ++i) {
    EXPECT_EQ(copies[std::to_string(i * i)], 2) << "square of " << i;
  }
}

// A session window stays open while records keep arriving less than `gap` apart and closes
// after `gap` of silence: five records 100 ms apart make one window (one average), which closes
// no sooner than the gap after the last of them; a later burst is a new session.
TEST_F(ProcessorIntegration, SessionWindowsCloseAfterTheGap) {
  CreateStream("readings");
  CreateStream("averages");
  const std::string fn = StartFunction(TIME_AVERAGER_BINARY, {{"WINDOW_MS", "600000"},
                                                              {"WINDOW_COUNT", "1000000"}});
  ChildProcess* p = StartProcessor({"--name", "avg", "--function", fn, "--input",
                                    In("readings"), "--output", In("averages"), "--window",
                                    "session:gap=1s"});
  ASSERT_NE(p, nullptr);
  for (int i = 1; i <= 5; ++i) {
    if (i > 1) absl::SleepFor(absl::Milliseconds(100));
    Publish("readings", {std::to_string(i)});
  }
  const absl::Time last_published = absl::Now();
  std::vector<Received> first = ReadAtLeast("averages", 1);
  const absl::Duration waited = absl::Now() - last_published;
  ASSERT_THAT(Payloads(first), ElementsAre("3")) << p->Log();
  EXPECT_GE(waited, absl::Milliseconds(900)) << "the session closed before its gap";
  Publish("readings", {"10", "20"});
  std::vector<Received> out = ReadAtLeast("averages", 2);
  EXPECT_THAT(Payloads(out), ElementsAre("3", "15"));
  EXPECT_TRUE(WaitForGroupOffset("readings", "avg", 6));
}

TEST_F(ProcessorIntegration, SplitterWritesToTwoOutputs) {
  CreateStream("amounts");
  CreateStream("big");
  CreateStream("small");
  Publish("amounts", Numbers(1, 10));
  const std::string fn = StartFunction(SPLITTER_BINARY);
  ChildProcess* p = StartProcessor({"--name", "split", "--function", fn, "--input",
                                    In("amounts"), "--output", In("big"), "--output",
                                    In("small"), "--window", "count=4,time=300ms"});
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(Payloads(ReadAtLeast("big", 5)), ElementsAre("6", "7", "8", "9", "10"));
  EXPECT_THAT(Payloads(ReadAtLeast("small", 5)), ElementsAre("1", "2", "3", "4", "5"));
  EXPECT_TRUE(WaitForGroupOffset("amounts", "split", 9));
}

TEST_F(ProcessorIntegration, JoinerMeetsTwoInputsInOneWindow) {
  CreateStream("orders");
  CreateStream("payments");
  CreateStream("joined");
  Publish("orders", {R"({"key":"a","item":"book"})", R"({"key":"b","item":"pen"})"});
  Publish("payments", {R"({"key":"b","paid":2})", R"({"key":"a","paid":10})"});
  const std::string fn = StartFunction(JOINER_BINARY);
  ChildProcess* p = StartProcessor({"--name", "join", "--function", fn, "--input",
                                    In("orders", "orders"), "--input",
                                    In("payments", "payments"), "--output", In("joined"),
                                    "--window", "time=3s"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> out = ReadAtLeast("joined", 2);
  ASSERT_EQ(out.size(), 2u) << p->Log();
  std::string all;
  for (const std::string& s : Payloads(out)) all += s + "\n";
  EXPECT_THAT(all, HasSubstr(R"("left":{"item":"book","key":"a"})"));
  EXPECT_THAT(all, HasSubstr(R"("right":{"key":"a","paid":10})"));
  EXPECT_THAT(all, HasSubstr(R"("left":{"item":"pen","key":"b"})"));
  EXPECT_TRUE(WaitForGroupOffset("orders", "join", 1));
  EXPECT_TRUE(WaitForGroupOffset("payments", "join", 1));
}

TEST_F(ProcessorIntegration, SinkWithoutOutputsConsumesAndAcks) {
  CreateStream("events", "text/plain");
  std::vector<std::string> lines;
  for (int i = 0; i < 50; ++i) lines.push_back("event-" + std::to_string(i));
  Publish("events", lines, "text/plain");
  const std::string sink_file = dir_.path() + "/sink.txt";
  const std::string fn = StartFunction(SINK_BINARY, {{"SINK_FILE", sink_file}});
  ChildProcess* p = StartProcessor({"--name", "sink", "--function", fn, "--input",
                                    In("events"), "--window", "count=7,time=500ms"});
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitForGroupOffset("events", "sink", 49)) << p->Log();
  // Acked means the function completed those windows: every line is in the file.
  std::ifstream in(sink_file);
  std::vector<std::string> got;
  for (std::string line; std::getline(in, line);) got.push_back(line);
  EXPECT_EQ(got, lines);
}

// kill -9 of the sidecar mid-stream also kills its Subscribe and ReceiveBatches at once: this
// used to crash runnel-gateway about every other run (a receive starting while its session
// closed); the gateway must survive it and the restarted sidecar must lose nothing.
TEST_F(ProcessorIntegration, KilledMidStreamAndRestartedLosesNothing) {
  CreateStream("numbers");
  CreateStream("squares");
  const int n = 20000;
  Publish("numbers", Numbers(1, n));
  const std::string fn = StartFunction(SQUARE_BINARY);
  const std::vector<std::string> args{"--name", "squarer", "--function", fn, "--input",
                                      In("numbers"), "--output", In("squares"), "--window",
                                      "count=100,time=1s"};
  ChildProcess* first = StartProcessor(args);
  ASSERT_NE(first, nullptr);
  ReadAtLeast("squares", 500);
  ASSERT_TRUE(::kill(first->pid(), SIGKILL) == 0);
  ASSERT_TRUE(first->Wait(absl::Seconds(10)).ok());
  const int64_t acked_at_kill = GroupOffset("numbers", "squarer");
  ASSERT_TRUE(gateway_->process().Running())
      << "the gateway died with the processor; exit code "
      << gateway_->process().Wait(absl::ZeroDuration()).value_or(-1);
  ChildProcess* second = StartProcessor(args);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(WaitForGroupOffset("numbers", "squarer", n - 1, absl::Seconds(120)))
      << GroupOffset("numbers", "squarer") << "\n" << second->Log();
  // Everything acked has its output durable: every input's square is there at least once.
  std::vector<Received> out = ReadAtLeast("squares", n, absl::Seconds(30));
  std::set<std::string> seen;
  for (const Received& r : out) seen.insert(r.event.data());
  // ReadAtLeast stops at n records; with duplicates, read the rest too.
  if (seen.size() < static_cast<size_t>(n)) {
    out = ReadAtLeast("squares", 2 * n, absl::Seconds(5));
    for (const Received& r : out) seen.insert(r.event.data());
  }
  int missing = 0;
  for (int i = 1; i <= n; ++i) {
    if (!seen.count(std::to_string(static_cast<int64_t>(i) * i))) ++missing;
  }
  EXPECT_EQ(missing, 0) << "acked at kill: " << acked_at_kill << ", outputs: " << out.size();
  RecordProperty("acked_at_kill", static_cast<int>(acked_at_kill));
  RecordProperty("outputs_with_duplicates", static_cast<int>(out.size()));
}

// The gateway goes away under a running processor (kill -9, so every stream breaks at once)
// and comes back on the same port and data: the same processor process reconnects by itself
// (subscription, receives, publish streams, acks) and loses nothing. Outputs may repeat
// (at-least-once: unacknowledged windows are replayed, unacknowledged publishes resent).
TEST_F(ProcessorIntegration, GatewayRestartedUnderARunningProcessorLosesNothing) {
  CreateStream("numbers");
  CreateStream("squares");
  const int n = 20000;
  Publish("numbers", Numbers(1, n));
  const std::string fn = StartFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function", fn, "--input",
                                    In("numbers"), "--output", In("squares"), "--window",
                                    "count=100,time=1s"});
  ASSERT_NE(p, nullptr);
  ReadAtLeast("squares", 500);
  const int port = gateway_->grpc_port();
  ASSERT_TRUE(::kill(gateway_->process().pid(), SIGKILL) == 0);
  ASSERT_TRUE(gateway_->process().Wait(absl::Seconds(10)).ok());
  // Down long enough for the processor to notice on every stream and back off at least once.
  absl::SleepFor(absl::Milliseconds(500));
  auto gw = GatewayProcess::Start({"--store", "file", "--data-dir", dir_.path() + "/data",
                                   "--port", std::to_string(port)},
                                  dir_.path() + "/gateway-2.log");
  ASSERT_TRUE(gw.ok()) << gw.status();
  gateway_ = *std::move(gw);
  ASSERT_EQ(gateway_->grpc_port(), port);
  ASSERT_TRUE(WaitForGroupOffset("numbers", "squarer", n - 1, absl::Seconds(120)))
      << GroupOffset("numbers", "squarer") << "\n" << p->Log();
  EXPECT_TRUE(p->Running()) << "the processor exited instead of reconnecting";
  EXPECT_THAT(p->Log(), HasSubstr("retrying")) << "the processor never saw the gateway go";
  std::vector<Received> out = ReadAtLeast("squares", n, absl::Seconds(30));
  std::set<std::string> seen;
  for (const Received& r : out) seen.insert(r.event.data());
  if (seen.size() < static_cast<size_t>(n)) {  // Duplicates: read the rest too.
    out = ReadAtLeast("squares", 2 * n, absl::Seconds(5));
    for (const Received& r : out) seen.insert(r.event.data());
  }
  int missing = 0;
  for (int i = 1; i <= n; ++i) {
    if (!seen.count(std::to_string(static_cast<int64_t>(i) * i))) ++missing;
  }
  EXPECT_EQ(missing, 0) << "outputs: " << out.size();
  RecordProperty("outputs_with_duplicates", static_cast<int>(out.size()));
}

TEST_F(ProcessorIntegration, FailingWindowsGoToTheDeadLetterStreamAndTheRestContinues) {
  CreateStream("numbers");
  CreateStream("squares");
  CreateStream("squares-dlq", "*/*");
  Publish("numbers", {"1", "2", "\"not a number\"", "4"});
  const std::string fn = StartFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function", fn, "--input",
                                    In("numbers"), "--output", In("squares"), "--window",
                                    "count=1", "--max-attempts", "3", "--dead-letter",
                                    In("squares-dlq")});
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(Payloads(ReadAtLeast("squares", 3)), ElementsAre("1", "4", "16")) << p->Log();
  std::vector<Received> dead = ReadAtLeast("squares-dlq", 1);
  ASSERT_EQ(dead.size(), 1u) << p->Log();
  const liiklus::LiiklusEvent& e = dead[0].event;
  EXPECT_EQ(e.data(), "\"not a number\"");
  EXPECT_EQ(e.extensions().at("runnelattempts"), "3");
  EXPECT_EQ(e.extensions().at("runnelstream"), "numbers");
  EXPECT_EQ(e.extensions().at("runnelpartition"), "0");
  EXPECT_EQ(e.extensions().at("runneloffset"), "2");
  EXPECT_THAT(e.extensions().at("runnelerror"), HasSubstr("INVALID_ARGUMENT"));
  // The dead-lettered record is acknowledged like the others: processing went on.
  EXPECT_TRUE(WaitForGroupOffset("numbers", "squarer", 3));
}

// A function that emits 100 outputs per input while its output gateway is stalled (SIGSTOP):
// once --max-pending-outputs outputs wait, the processor stops reading from the function (and so
// windows no more inputs, as the window cannot complete) instead of queueing all 10,000 of them.
// Once the gateway comes back, every output arrives and every input is acknowledged.
TEST_F(ProcessorIntegration, FanOutIntoAStalledOutputStaysBoundedAndLosesNothing) {
  std::unique_ptr<GatewayProcess> out_gateway = StartOtherGateway("out-gateway");
  ASSERT_NE(out_gateway, nullptr);
  CreateStream("numbers");
  CreateStream("parts", "application/json", 1, out_gateway.get());
  const std::string fn = StartFunction(FANOUT_BINARY, {{"FANOUT", "100"}});
  ChildProcess* p = StartProcessor(
      {"--name", "fanout", "--function", fn, "--input", In("numbers"), "--output",
       absl::StrCat("127.0.0.1:", out_gateway->grpc_port(), "/parts"), "--window",
       "count=10,time=100ms", "--max-pending-outputs", "500"});
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(kill(out_gateway->process().pid(), SIGSTOP), 0);  // After it looked up 'parts'.
  Publish("numbers", Numbers(1, 100));
  // Watch the processor while nothing can drain: pending outputs fill up to the bound plus what
  // the running call holds (a call's outputs are held until it completes, so the first window's
  // 1000 outputs all count) and stay there.
  double max_pending = -1, records_in = -1;
  for (int i = 0; i < 30; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    const std::string metrics = ProcessorMetrics(p);
    max_pending =
        std::max(max_pending, MetricValue(metrics, "runnel_processor_pending_outputs"));
    records_in = MetricValue(
        metrics, "runnel_processor_records_in_total{stream=\"numbers\",input=\"numbers\"}");
  }
  ASSERT_EQ(kill(out_gateway->process().pid(), SIGCONT), 0);
  RecordProperty("max_pending_outputs", static_cast<int>(max_pending));
  RecordProperty("records_in_while_stalled", static_cast<int>(records_in));
  EXPECT_GE(max_pending, 400) << ProcessorMetrics(p);
  EXPECT_LE(max_pending, 500 + 1000 + 1) << ProcessorMetrics(p);
  // Only the first window's records were windowed: the others wait, unread by any window.
  EXPECT_GE(records_in, 1);
  EXPECT_LE(records_in, 20);
  std::vector<Received> out =
      ReadAtLeast("parts", 10000, absl::Seconds(120), out_gateway.get());
  std::set<std::string> seen;
  for (const Received& r : out) seen.insert(r.event.data());
  std::set<std::string> want;
  for (int n = 1; n <= 100; ++n) {
    for (int i = 0; i < 100; ++i) want.insert(absl::StrCat("\"", n, ".", i, "\""));
  }
  EXPECT_EQ(seen, want) << "outputs: " << out.size();
  EXPECT_TRUE(WaitForGroupOffset("numbers", "fanout", 99)) << GroupOffset("numbers", "fanout");
  EXPECT_TRUE(WaitForProcessorMetric(p, "runnel_processor_pending_outputs 0"))
      << ProcessorMetrics(p);
}

// Sliding windows run several calls at once, and the later windows' outputs wait (held) until
// the earlier windows' calls complete. Were held outputs to pause those earlier calls too, a
// bound smaller than what the later windows emit would stop everything for good (with one rule
// for all calls this test saw 27 of 1600 outputs). Held outputs pause only calls whose outputs
// are held.
TEST_F(ProcessorIntegration, SlidingWindowsFanningOutUnderATightBoundNeverDeadlock) {
  CreateStream("numbers");
  CreateStream("parts");
  const std::string fn = StartFunction(FANOUT_BINARY, {{"FANOUT", "20"}});
  ChildProcess* p = StartProcessor({"--name", "fanout", "--function", fn, "--input",
                                    In("numbers"), "--output", In("parts"), "--window",
                                    "sliding:size=1s,slide=250ms", "--max-pending-outputs", "30"});
  ASSERT_NE(p, nullptr);
  Publish("numbers", Numbers(1, 20));
  // Each record is in the 4 windows covering its arrival: 20 x 4 x 20 outputs.
  std::vector<Received> out = ReadAtLeast("parts", 1600);
  EXPECT_EQ(out.size(), 1600u) << ProcessorMetrics(p);
  std::set<std::string> seen;
  for (const Received& r : out) seen.insert(r.event.data());
  EXPECT_EQ(seen.size(), 400u);
  EXPECT_TRUE(WaitForGroupOffset("numbers", "fanout", 19)) << GroupOffset("numbers", "fanout");
}

// The function answers 13 with an output larger than the gateway takes (--max-record-bytes,
// 1 MiB by default): the gateway ends the publish stream with RESOURCE_EXHAUSTED "record of N
// bytes is larger than the limit of M bytes", which resending cannot change. That window fails
// like a function error, is retried, then its input goes to the dead-letter stream saying why;
// the other windows, and records published later, flow and are acknowledged.
TEST_F(ProcessorIntegration, OutputLargerThanTheGatewayTakesIsDeadLetteredAndTheRestFlows) {
  CreateStream("numbers");
  CreateStream("parts");
  CreateStream("dlq", "*/*");
  Publish("numbers", Numbers(10, 16));
  const std::string fn = StartFunction(
      FANOUT_BINARY, {{"FANOUT", "2"}, {"HUGE_INPUT", "13"}, {"HUGE_BYTES", "1572864"}});
  ChildProcess* p = StartProcessor({"--name", "fanout", "--function", fn, "--input",
                                    In("numbers"), "--output", In("parts"), "--dead-letter",
                                    In("dlq"), "--window", "count=1", "--max-attempts", "3"});
  ASSERT_NE(p, nullptr);
  std::vector<Received> dead = ReadAtLeast("dlq", 1, absl::Seconds(30));
  ASSERT_EQ(dead.size(), 1u) << p->Log();
  EXPECT_EQ(dead[0].event.data(), "13");
  const auto& ext = dead[0].event.extensions();
  EXPECT_EQ(ext.at("runnelattempts"), "3");
  EXPECT_EQ(ext.at("runneloffset"), "3");
  EXPECT_THAT(ext.at("runnelerror"),
              ::testing::StartsWith("RESOURCE_EXHAUSTED: publish to 'parts': record of "));
  EXPECT_THAT(ext.at("runnelerror"), HasSubstr("is larger than the limit of 1048576 bytes"));
  EXPECT_TRUE(WaitForGroupOffset("numbers", "fanout", 6)) << GroupOffset("numbers", "fanout");
  Publish("numbers", {"20"});
  std::set<std::string> want;
  for (int n : {10, 11, 12, 14, 15, 16, 20}) {
    for (int i = 0; i < 2; ++i) want.insert(absl::StrCat("\"", n, ".", i, "\""));
  }
  std::vector<Received> out = ReadAtLeast("parts", want.size());
  std::set<std::string> seen;
  for (const Received& r : out) seen.insert(r.event.data());
  EXPECT_EQ(seen, want) << p->Log();
  EXPECT_TRUE(WaitForGroupOffset("numbers", "fanout", 7)) << GroupOffset("numbers", "fanout");
  const std::string metrics = ProcessorMetrics(p);
  EXPECT_GE(MetricValue(metrics, "runnel_processor_publish_refused_total{stream=\"parts\","
                                 "output=\"parts\"}"),
            3)
      << metrics;
  EXPECT_THAT(metrics, HasSubstr("runnel_processor_dead_lettered_total 1"));
  // Failed as refused for good, not resent as a broken stream.
  EXPECT_THAT(p->Log(), HasSubstr("the gateway refused a batch for good; failing its group"));
  EXPECT_THAT(p->Log(), ::testing::Not(HasSubstr("publish stream broke")));
}

// Dead letters keep their input's content type: a dead-letter stream that cannot take every
// type an input may hold would refuse some for good, so the processor refuses it at start.
TEST_F(ProcessorIntegration, DeadLetterStreamNarrowerThanAnInputIsRefusedAtStart) {
  CreateStream("anything", "*/*");
  CreateStream("squares");
  CreateStream("json-dlq", "application/json");
  const std::string fn = StartFunction(SQUARE_BINARY);
  auto child = ChildProcess::Start(
      {BuiltBinary("sidecar/runnel-processor"), "--http-host", "127.0.0.1", "--http-port", "0",
       "--name", "p", "--function", fn, "--input", In("anything"), "--output", In("squares"),
       "--dead-letter", In("json-dlq")},
      {}, dir_.path() + "/refused.log");
  ASSERT_TRUE(child.ok());
  auto code = child->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << child->Log();
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(child->Log(),
              HasSubstr("runnel-processor: --dead-letter: dead-letter stream 'json-dlq' carries "
                        "'application/json' but input stream 'anything' carries '*/*'"));
  EXPECT_THAT(child->Log(), HasSubstr("use a dead-letter stream of content type '*/*'"));
}

TEST_F(ProcessorIntegration, UnreachableFunctionIsRetriedNotFatal) {
  CreateStream("numbers");
  CreateStream("squares");
  Publish("numbers", Numbers(1, 3));
  // Reserve a port by starting and stopping a function, so that nothing listens there yet.
  std::vector<std::string> argv{BuiltBinary("sidecar/runnel-processor"), "--http-host",
                                "127.0.0.1", "--http-port", "0", "--name", "late",
                                "--function", "127.0.0.1:1", "--input", In("numbers"),
                                "--output", In("squares")};
  auto child = ChildProcess::Start(argv, {}, dir_.path() + "/late.log");
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(child->WaitForLogLine("function not reachable; retrying", absl::Seconds(30)).ok())
      << child->Log();
  EXPECT_TRUE(child->Running());
  auto code = child->Stop(SIGTERM, absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST_F(ProcessorIntegration, BadConfigurationExitsNonZeroNamingTheSetting) {
  auto child = ChildProcess::Start(
      {BuiltBinary("sidecar/runnel-processor"), "--name", "p", "--input", In("numbers"),
       "--window", "count=-3"},
      {}, dir_.path() + "/bad.log");
  ASSERT_TRUE(child.ok());
  auto code = child->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(child->Log(), HasSubstr("--window: window spec 'count=-3'"));
}

}  // namespace
}  // namespace runnel::testing
