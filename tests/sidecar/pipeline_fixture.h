#pragma once
// Real processes for the sidecar's integration tests: runnel-gateway on the file log, function
// processes (SDK examples, riff's Node invoker) and runnel-processor, plus a client for
// creating, publishing to and reading streams. Every wait is bounded.

#include <utility>  // Must precede Boost 1.74's Asio under GCC 12 in C++20 mode.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/gateway/gateway_fixture.h"
#include "tests/testing/process.h"

namespace runnel::testing {

struct Received {
  uint32_t partition = 0;
  uint64_t offset = 0;
  std::string key;
  liiklus::LiiklusEvent event;
};

// The payloads of `records`, in order.
inline std::vector<std::string> Payloads(const std::vector<Received>& records) {
  std::vector<std::string> out;
  for (const Received& r : records) out.push_back(r.event.data());
  return out;
}

// The value of the sample `series` (name and labels) in Prometheus text, or -1.
inline double MetricValue(const std::string& text, const std::string& series) {
  const std::string line = series + " ";
  size_t at = absl::StartsWith(text, line) ? 0 : text.find("\n" + line);
  if (at == std::string::npos) return -1;
  if (at > 0) ++at;  // Past the newline: not a "# HELP" line, which names the series too.
  return std::strtod(text.c_str() + at + line.size(), nullptr);
}

// "from", ..., "to" as decimal strings.
inline std::vector<std::string> Numbers(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(std::to_string(i));
  return out;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto gw = GatewayProcess::Start({"--store", "file", "--data-dir", dir_.path() + "/data"},
                                    dir_.path() + "/gateway.log");
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = *std::move(gw);
  }

  void TearDown() override {
    if (HasFailure()) {
      // The logs go with the temp dir; show the tails that explain a failure.
      std::string log = gateway_ ? gateway_->process().Log() : "";
      std::cerr << "--- gateway log (tail)\n"
                << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << "\n";
      for (auto& p : processors_) {
        std::string plog = p->Log();
        std::cerr << "--- processor log (tail)\n"
                  << plog.substr(plog.size() > 4000 ? plog.size() - 4000 : 0) << "\n";
      }
    }
  }

  std::string gateway_address() const {
    return absl::StrCat("127.0.0.1:", gateway_->grpc_port());
  }

  // A second gateway (file log), e.g. for outputs that a test stalls while inputs flow.
  std::unique_ptr<GatewayProcess> StartOtherGateway(const std::string& name,
                                                    std::vector<std::string> args = {}) {
    std::vector<std::string> argv{"--store", "file", "--data-dir", dir_.path() + "/" + name};
    argv.insert(argv.end(), args.begin(), args.end());
    auto gw = GatewayProcess::Start(argv, dir_.path() + "/" + name + ".log");
    EXPECT_TRUE(gw.ok()) << gw.status();
    return gw.ok() ? *std::move(gw) : nullptr;
  }

  // `on`: the gateway to create the stream on (default the fixture's).
  void CreateStream(const std::string& name, const std::string& content_type = "application/json",
                    int partitions = 1, GatewayProcess* on = nullptr) {
    v1::CreateStreamRequest request;
    request.mutable_stream()->set_name(name);
    request.mutable_stream()->set_partitions(partitions);
    request.mutable_stream()->set_content_type(content_type);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::Stream reply;
    grpc::Status s = (on ? on : gateway_.get())->runnel().CreateStream(&context, request, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Publishes `payloads` (in one batch) as CloudEvents of `content_type`; keys optional.
  void Publish(const std::string& stream, const std::vector<std::string>& payloads,
               const std::string& content_type = "application/json",
               const std::vector<std::string>& keys = {}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto call = gateway_->runnel().PublishBatches(&context);
    for (size_t start = 0; start < payloads.size(); start += 500) {
      v1::PublishBatchRequest request;
      request.set_topic(stream);
      for (size_t i = start; i < payloads.size() && i < start + 500; ++i) {
        liiklus::PublishRequest* r = request.add_records();
        if (i < keys.size()) r->set_key(keys[i]);
        liiklus::LiiklusEvent* e = r->mutable_liiklusevent();
        e->set_id(absl::StrCat("test-", i));
        e->set_type("test");
        e->set_source("pipeline-test");
        e->set_data_content_type(content_type);
        e->set_data(payloads[i]);
      }
      ASSERT_TRUE(call->Write(request));
      v1::PublishBatchReply reply;
      ASSERT_TRUE(call->Read(&reply));
    }
    call->WritesDone();
    grpc::Status s = call->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Reads partition 0 of `stream` from the start (outside any group) until `want` records
  // arrived or `timeout` passed. `on`: the gateway to read from (default the fixture's).
  std::vector<Received> ReadAtLeast(const std::string& stream, size_t want,
                                    absl::Duration timeout = absl::Seconds(60),
                                    GatewayProcess* on = nullptr) {
    std::vector<Received> out;
    const absl::Time deadline = absl::Now() + timeout;
    uint64_t next = 0;
    while (out.size() < want && absl::Now() < deadline) {
      grpc::ClientContext context;
      // Short reads, repeated: Read waits at the end of the partition until cancelled.
      context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
      v1::ReadRequest request;
      request.set_topic(stream);
      request.set_partition(0);
      request.set_offset(next);
      request.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
      auto reader = (on ? on : gateway_.get())->runnel().Read(&context, request);
      v1::ReceiveBatchesReply batch;
      while (out.size() < want && reader->Read(&batch)) {
        for (const auto& r : batch.records()) {
          const auto& e = r.liiklus_event_record();
          out.push_back({0, e.offset(), e.key(), e.event()});
          next = e.offset() + 1;
        }
      }
      context.TryCancel();
      reader->Finish();
    }
    return out;
  }

  // The group's acked offset of partition 0 of `stream`, or -1.
  int64_t GroupOffset(const std::string& stream, const std::string& group, uint32_t partition = 0) {
    liiklus::GetOffsetsRequest request;
    request.set_topic(stream);
    request.set_group(group);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    liiklus::GetOffsetsReply reply;
    if (!gateway_->liiklus().GetOffsets(&context, request, &reply).ok()) return -1;
    auto it = reply.offsets().find(partition);
    return it == reply.offsets().end() ? -1 : static_cast<int64_t>(it->second);
  }

  // Polls until the group's position in `stream` reaches `offset`; false after `timeout`.
  bool WaitForGroupOffset(const std::string& stream, const std::string& group, int64_t offset,
                          absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (GroupOffset(stream, group) >= offset) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  // Starts an SDK example (or any binary printing the SDK's ready line); returns host:port.
  std::string StartFunction(const std::string& binary, std::map<std::string, std::string> env = {}) {
    auto child = ChildProcess::Start({binary, "--grpc-port=0", "--http-port=0"}, std::move(env),
                                     absl::StrCat(dir_.path(), "/function-", functions_.size(), ".log"));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return "";
    functions_.push_back(*std::move(child));
    auto line = functions_.back().WaitForLogLine("runnel-sdk: ready", absl::Seconds(30));
    EXPECT_TRUE(line.ok()) << line.status();
    if (!line.ok()) return "";
    return absl::StrCat("127.0.0.1:", FieldFromLogLine(*line, "grpc_port"));
  }

  // Starts runnel-processor with `args` (plus a free HTTP port) and waits until it reads.
  ChildProcess* StartProcessor(std::vector<std::string> args,
                               std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv{BuiltBinary("sidecar/runnel-processor"), "--http-host",
                                  "127.0.0.1", "--http-port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = ChildProcess::Start(argv, std::move(env),
                                     absl::StrCat(dir_.path(), "/processor-", processors_.size(), ".log"));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return nullptr;
    processors_.push_back(std::make_unique<ChildProcess>(*std::move(child)));
    ChildProcess* p = processors_.back().get();
    auto line = p->WaitForLogLine("runnel-processor running", absl::Seconds(60));
    EXPECT_TRUE(line.ok()) << line.status() << "\n" << p->Log();
    return p;
  }

  // GET /metrics of a processor (its HTTP port is in its "serving" log line); "" on failure.
  static std::string ProcessorMetrics(ChildProcess* processor) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    auto line = processor->WaitForLogLine("runnel-processor serving", absl::Seconds(5));
    if (!line.ok()) return "";
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    beast::error_code ec;
    auto endpoints =
        resolver.resolve("127.0.0.1", std::to_string(FieldFromLogLine(*line, "http_port")), ec);
    if (ec) return "";
    stream.connect(endpoints, ec);
    if (ec) return "";
    http::request<http::string_body> req(http::verb::get, "/metrics", 11);
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req, ec);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res, ec);
    return ec ? "" : res.body();
  }

  // Polls a processor's /metrics until it contains `line`; false after `timeout`.
  static bool WaitForProcessorMetric(ChildProcess* processor, const std::string& line,
                                     absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (absl::StrContains(ProcessorMetrics(processor), line)) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  std::string In(const std::string& stream, const std::string& alias = "") const {
    return absl::StrCat(alias.empty() ? "" : alias + ":", gateway_address(), "/", stream);
  }

  TempDir dir_;
  std::unique_ptr<GatewayProcess> gateway_;
  std::vector<ChildProcess> functions_;
  std::vector<std::unique_ptr<ChildProcess>> processors_;
};

}  // namespace runnel::testing
