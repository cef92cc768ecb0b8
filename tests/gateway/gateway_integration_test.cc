// The real runnel-gateway binary, driven over loopback by liiklus and runnel.v1 clients generated
// from the protos, and over HTTP. Each test starts its own gateway on ports it picks itself.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>  // NOLINT: after <utility> via grpc
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <grpcpp/impl/client_unary_call.h>  // Raw calls with bytes no message decodes.

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tests/gateway/gateway_fixture.h"
#include "tests/gateway/liiklus_client.h"

// liiklus's deprecated fields are exercised on purpose.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace runnel::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class GatewayIntegration : public ::testing::Test {
 protected:
  void StartGateway(std::vector<std::string> args = {"--store", "memory"}) {
    auto gw = GatewayProcess::Start(args, absl::StrCat(dir_.path(), "/gateway-", starts_++, ".log"));
    ASSERT_TRUE(gw.ok()) << gw.status();
    gw_ = *std::move(gw);
  }

  void CreateStream(const std::string& name, int partitions = 1,
                    const std::string& content_type = "text/plain") {
    v1::CreateStreamRequest req;
    req.mutable_stream()->set_name(name);
    req.mutable_stream()->set_partitions(partitions);
    req.mutable_stream()->set_content_type(content_type);
    v1::Stream reply;
    grpc::Status s = gw_->runnel().CreateStream(Context().get(), req, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  liiklus::PublishReply Publish(const liiklus::PublishRequest& request) {
    liiklus::PublishReply reply;
    grpc::Status s = gw_->liiklus().Publish(Context().get(), request, &reply);
    EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    return reply;
  }

  grpc::Status PublishStatus(const liiklus::PublishRequest& request) {
    liiklus::PublishReply reply;
    return gw_->liiklus().Publish(Context().get(), request, &reply);
  }

  grpc::Status Ack(const std::string& topic, const std::string& group, uint32_t partition,
                   uint64_t offset) {
    google::protobuf::Empty empty;
    return gw_->liiklus().Ack(Context().get(), AckRequest(topic, group, partition, offset), &empty);
  }

  // A plain HTTP/1.1 request to the gateway's HTTP port: {status, body}.
  std::pair<int, std::string> Http(const std::string& method, const std::string& target,
                                   const std::string& body = "",
                                   const std::string& content_type = "") {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve("127.0.0.1", std::to_string(gw_->http_port())));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return {res.result_int(), res.body()};
  }

  TempDir dir_;
  int starts_ = 0;
  std::unique_ptr<GatewayProcess> gw_;
};

TEST_F(GatewayIntegration, PublishSubscribeReceiveAndAckSurviveARestart) {
  const std::string data_dir = absl::StrCat(dir_.path(), "/data");
  StartGateway({"--store", "file", "--data-dir", data_dir});
  CreateStream("orders");
  for (int i = 0; i < 10; ++i) {
    liiklus::PublishReply reply = Publish(Event("orders", absl::StrCat(i)));
    EXPECT_EQ(reply.topic(), "orders");
    EXPECT_EQ(reply.partition(), 0u);
    EXPECT_EQ(reply.offset(), static_cast<uint64_t>(i));
  }
  {
    Subscription sub(gw_->liiklus(), SubscribeRequest("orders", "billing"));
    auto assignments = sub.WaitFor(1);
    ASSERT_EQ(assignments.size(), 1u);
    Received got = Receive(gw_->liiklus(), assignments[0], 10);
    ASSERT_EQ(got.replies.size(), 10u) << got.status.error_message();
    for (int i = 0; i < 10; ++i) {
      const auto& r = got.replies[i].liiklus_event_record();
      EXPECT_EQ(r.offset(), static_cast<uint64_t>(i));
      EXPECT_EQ(r.event().data(), absl::StrCat(i));
      EXPECT_EQ(r.event().id(), absl::StrCat("id-", i));
      EXPECT_EQ(r.event().extensions().at("seq"), absl::StrCat(i));
      EXPECT_FALSE(r.replay());
    }
    ASSERT_TRUE(Ack("orders", "billing", 0, 4).ok());
  }
  liiklus::GetOffsetsRequest offsets_req;
  offsets_req.set_topic("orders");
  offsets_req.set_group("billing");
  liiklus::GetOffsetsReply offsets;
  ASSERT_TRUE(gw_->liiklus().GetOffsets(Context().get(), offsets_req, &offsets).ok());
  EXPECT_EQ(offsets.offsets().at(0), 4u);

  // A graceful stop exits 0; records, the stream and the group's position survive it.
  // A graceful stop exits 0 promptly, with idle client connections still open.
  const absl::Time stop_started = absl::Now();
  auto code = gw_->process().Stop(SIGTERM, absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << gw_->process().Log();
  EXPECT_LT(absl::Now() - stop_started, absl::Seconds(5)) << gw_->process().Log();
  StartGateway({"--store", "file", "--data-dir", data_dir});
  Subscription sub(gw_->liiklus(), SubscribeRequest("orders", "billing"));
  auto assignments = sub.WaitFor(1);
  ASSERT_EQ(assignments.size(), 1u) << (sub.status() ? sub.status()->error_message() : "no status") << gw_->process().Log();
  Received got = Receive(gw_->liiklus(), assignments[0], 5);
  ASSERT_EQ(got.replies.size(), 5u) << got.status.error_message() << gw_->process().Log();
  EXPECT_EQ(got.replies[0].liiklus_event_record().offset(), 5u);
  EXPECT_EQ(got.replies[4].liiklus_event_record().event().data(), "9");
  ASSERT_TRUE(gw_->liiklus().GetOffsets(Context().get(), offsets_req, &offsets).ok());
  EXPECT_EQ(offsets.offsets().at(0), 4u);
}

TEST_F(GatewayIntegration, AReceiveBelowTheAckedOffsetIsAReplay) {
  StartGateway();
  CreateStream("replays");
  for (int i = 0; i < 3; ++i) Publish(Event("replays", absl::StrCat(i)));
  ASSERT_TRUE(Ack("replays", "g", 0, 2).ok());
  // A new member of another version of the group starts from scratch but sees replays.
  auto req = SubscribeRequest("replays", "g");
  req.set_group_version(7);
  Subscription sub(gw_->liiklus(), req);
  auto a = sub.WaitFor(1);
  ASSERT_EQ(a.size(), 1u);
  Received got = Receive(gw_->liiklus(), a[0], 3);
  ASSERT_EQ(got.replies.size(), 3u);
  EXPECT_TRUE(got.replies[0].liiklus_event_record().replay());
  EXPECT_TRUE(got.replies[2].liiklus_event_record().replay());
}

TEST_F(GatewayIntegration, TwoMembersOfAGroupSharePartitionsAndRebalance) {
  StartGateway();
  CreateStream("shared", 4);
  auto first = std::make_unique<Subscription>(gw_->liiklus(), SubscribeRequest("shared", "g"));
  ASSERT_EQ(first->WaitFor(4).size(), 4u);
  Subscription second(gw_->liiklus(), SubscribeRequest("shared", "g"));
  auto b = second.WaitFor(2);
  ASSERT_EQ(b.size(), 2u);
  std::set<uint32_t> owned_by_second{b[0].partition(), b[1].partition()};
  // The first member's stream of a partition that moved ends by itself.
  auto a = first->WaitFor(4);
  liiklus::Assignment moved;
  for (const auto& x : a) {
    if (owned_by_second.contains(x.partition())) moved = x;
  }
  Received revoked = Receive(gw_->liiklus(), moved, 1, liiklus::ReceiveRequest::LIIKLUS_EVENT,
                             absl::Seconds(5));
  EXPECT_TRUE(revoked.replies.empty());
  EXPECT_NE(revoked.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // When the first member leaves, the second gets every partition.
  first.reset();
  EXPECT_EQ(second.WaitFor(4).size(), 4u);
}

TEST_F(GatewayIntegration, TwoGroupsEachSeeEveryRecord) {
  StartGateway();
  CreateStream("fanout");
  for (int i = 0; i < 5; ++i) Publish(Event("fanout", absl::StrCat(i)));
  for (const char* group : {"audit", "billing"}) {
    Subscription sub(gw_->liiklus(), SubscribeRequest("fanout", group));
    auto a = sub.WaitFor(1);
    ASSERT_EQ(a.size(), 1u);
    Received got = Receive(gw_->liiklus(), a[0], 5);
    ASSERT_EQ(got.replies.size(), 5u) << group;
    EXPECT_EQ(got.replies[4].liiklus_event_record().event().data(), "4");
  }
}

TEST_F(GatewayIntegration, LatestSkipsOldRecordsAndEarliestReadsThem) {
  StartGateway();
  CreateStream("news");
  for (int i = 0; i < 3; ++i) Publish(Event("news", absl::StrCat("old", i)));
  Subscription latest(gw_->liiklus(), SubscribeRequest("news", "late", /*latest=*/true));
  auto a = latest.WaitFor(1);
  ASSERT_EQ(a.size(), 1u);
  std::thread publisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Publish(Event("news", "new"));
  });
  Received got = Receive(gw_->liiklus(), a[0], 1);
  publisher.join();
  ASSERT_EQ(got.replies.size(), 1u);
  EXPECT_EQ(got.replies[0].liiklus_event_record().event().data(), "new");

  Subscription earliest(gw_->liiklus(), SubscribeRequest("news", "early"));
  auto e = earliest.WaitFor(1);
  ASSERT_EQ(e.size(), 1u);
  got = Receive(gw_->liiklus(), e[0], 4);
  ASSERT_EQ(got.replies.size(), 4u);
  EXPECT_EQ(got.replies[0].liiklus_event_record().event().data(), "old0");
}

TEST_F(GatewayIntegration, KeysPickStablePartitionsAndKeylessRecordsKeepOrder) {
  StartGateway();
  CreateStream("keyed", 3);
  const uint32_t p = Publish(Event("keyed", "a", "user-1")).partition();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Publish(Event("keyed", "b", "user-1")).partition(), p);
  CreateStream("ordered", 1);
  for (int i = 0; i < 20; ++i) {
    liiklus::PublishReply r = Publish(Event("ordered", absl::StrCat(i)));
    EXPECT_EQ(r.partition(), 0u);
    EXPECT_EQ(r.offset(), static_cast<uint64_t>(i));
  }
}

TEST_F(GatewayIntegration, EndOffsetsAndGroupOffsetsAsKedaReadsThem) {
  StartGateway();
  CreateStream("lag", 2);
  liiklus::GetEndOffsetsRequest req;
  req.set_topic("lag");
  liiklus::GetEndOffsetsReply ends;
  ASSERT_TRUE(gw_->liiklus().GetEndOffsets(Context().get(), req, &ends).ok());
  // Empty partitions report 0, not 2^64-1.
  EXPECT_EQ(ends.offsets().at(0), 0u);
  EXPECT_EQ(ends.offsets().at(1), 0u);
  liiklus::PublishRequest keyed = Event("lag", "x", "k");
  const uint32_t p = Publish(keyed).partition();
  Publish(keyed);
  Publish(keyed);
  ASSERT_TRUE(gw_->liiklus().GetEndOffsets(Context().get(), req, &ends).ok());
  EXPECT_EQ(ends.offsets().at(p), 2u);
  ASSERT_TRUE(Ack("lag", "scaler", p, 1).ok());
  liiklus::GetOffsetsRequest oreq;
  oreq.set_topic("lag");
  oreq.set_group("scaler");
  liiklus::GetOffsetsReply offsets;
  ASSERT_TRUE(gw_->liiklus().GetOffsets(Context().get(), oreq, &offsets).ok());
  EXPECT_EQ(offsets.offsets().at(p), 1u);
  EXPECT_EQ(offsets.offsets().size(), 1u);
}

TEST_F(GatewayIntegration, LegacyGroupNamesAndDeprecatedAckShareOnePosition) {
  StartGateway();
  CreateStream("legacy");
  for (int i = 0; i < 4; ++i) Publish(Event("legacy", absl::StrCat(i)));
  // riff's processor never sets group_version: a name like "avg-v2" is group "avg" version 2.
  ASSERT_TRUE(Ack("legacy", "avg-v2", 0, 1).ok());
  liiklus::GetOffsetsRequest oreq;
  oreq.set_topic("legacy");
  oreq.set_group("avg");
  oreq.set_group_version(2);
  liiklus::GetOffsetsReply offsets;
  ASSERT_TRUE(gw_->liiklus().GetOffsets(Context().get(), oreq, &offsets).ok());
  EXPECT_EQ(offsets.offsets().at(0), 1u);
  // The deprecated Ack names the session's assignment instead of topic and group.
  Subscription sub(gw_->liiklus(), SubscribeRequest("legacy", "avg-v2"));
  auto a = sub.WaitFor(1);
  ASSERT_EQ(a.size(), 1u);
  liiklus::AckRequest ack;
  *ack.mutable_assignment() = a[0];
  ack.set_offset(2);
  google::protobuf::Empty empty;
  ASSERT_TRUE(gw_->liiklus().Ack(Context().get(), ack, &empty).ok());
  ASSERT_TRUE(gw_->liiklus().GetOffsets(Context().get(), oreq, &offsets).ok());
  EXPECT_EQ(offsets.offsets().at(0), 2u);
}

TEST_F(GatewayIntegration, BinaryFormatAndLegacyValuePublishKeepWorking) {
  StartGateway();
  CreateStream("bytes", 1, "application/json");
  liiklus::PublishRequest legacy;
  legacy.set_topic("bytes");
  legacy.set_value("raw-bytes");
  Publish(legacy);
  Publish(Event("bytes", "{\"n\":1}", "", "application/json"));
  Subscription sub(gw_->liiklus(), SubscribeRequest("bytes", "g"));
  auto a = sub.WaitFor(1);
  ASSERT_EQ(a.size(), 1u);
  Received got = Receive(gw_->liiklus(), a[0], 2, liiklus::ReceiveRequest::BINARY);
  ASSERT_EQ(got.replies.size(), 2u);
  EXPECT_EQ(got.replies[0].record().value(), "raw-bytes");
  EXPECT_THAT(got.replies[1].record().value(), HasSubstr("\"data\":{\"n\":1}"));
  EXPECT_THAT(got.replies[1].record().value(), HasSubstr("\"specversion\":\"1.0\""));
}

// What riff's processor and stream-client-go publish, liiklus stores: events without id, type or
// source, and function headers such as "x-greeted-by" as extension names. Both gRPC fronts
// store them, the names renamed by the header-name rule (common/header_names.h).
TEST_F(GatewayIntegration, EventsWithoutIdOrWithHeaderNamedExtensionsAreStoredNormalised) {
  StartGateway();
  CreateStream("riffy", 1, "application/json");
  liiklus::PublishRequest bare;
  bare.set_topic("riffy");
  bare.mutable_liiklusevent()->set_data("{\"n\":1}");
  (*bare.mutable_liiklusevent()->mutable_extensions())["x-greeted-by"] = "runnel-greet";
  (*bare.mutable_liiklusevent()->mutable_extensions())["Tenant"] = "acme";
  EXPECT_TRUE(PublishStatus(bare).ok());
  grpc::ClientContext ctx;
  auto stream = gw_->runnel().PublishBatches(&ctx);
  v1::PublishBatchRequest batch;
  batch.set_topic("riffy");
  *batch.add_records() = bare;
  ASSERT_TRUE(stream->Write(batch));
  stream->WritesDone();
  v1::PublishBatchReply reply;
  EXPECT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(stream->Finish().ok());

  Subscription sub(gw_->liiklus(), SubscribeRequest("riffy", "g"));
  auto a = sub.WaitFor(1);
  ASSERT_EQ(a.size(), 1u);
  Received got = Receive(gw_->liiklus(), a[0], 2);
  ASSERT_EQ(got.replies.size(), 2u) << got.status.error_message();
  std::set<std::string> ids;
  for (const auto& r : got.replies) {
    const liiklus::LiiklusEvent& e = r.liiklus_event_record().event();
    EXPECT_EQ(e.data(), "{\"n\":1}");
    EXPECT_EQ(e.data_content_type(), "application/json");
    EXPECT_TRUE(e.type().empty());
    EXPECT_TRUE(e.source().empty());
    EXPECT_EQ(e.id().size(), 36u) << e.id();
    ids.insert(e.id());
    std::map<std::string, std::string> ext(e.extensions().begin(), e.extensions().end());
    EXPECT_EQ(ext, (std::map<std::string, std::string>{{"h0x0greeted0by", "runnel-greet"},
                                                       {"tenant", "acme"}}));
  }
  EXPECT_EQ(ids.size(), 2u);
  // Another read (the HTTP front's) presents the same ids and names.
  auto [status, body] = Http("GET", "/streams/riffy/records");
  EXPECT_EQ(status, 200) << body;
  for (const std::string& id : ids) EXPECT_THAT(body, HasSubstr(absl::StrCat("\"", id, "\"")));
  EXPECT_THAT(body, HasSubstr("\"h0x0greeted0by\":\"runnel-greet\""));
}

TEST_F(GatewayIntegration, ABatchOfKeysSpanningPartitionsIsAcknowledgedInRequestOrder) {
  StartGateway();
  CreateStream("spread", 3);
  grpc::ClientContext ctx;
  auto stream = gw_->runnel().PublishBatches(&ctx);
  v1::PublishBatchRequest batch;
  batch.set_topic("spread");
  for (int i = 0; i < 30; ++i) {
    *batch.add_records() = Event("spread", absl::StrCat(i), absl::StrCat("user-", i % 7));
  }
  ASSERT_TRUE(stream->Write(batch));
  stream->WritesDone();
  v1::PublishBatchReply reply;
  ASSERT_TRUE(stream->Read(&reply));
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(reply.positions_size(), 30);
  std::map<uint32_t, uint64_t> next;  // Per partition: records land in request order.
  std::map<int, uint32_t> partition_of_key;
  std::set<uint32_t> used;
  for (int i = 0; i < 30; ++i) {
    const auto& pos = reply.positions(i);
    auto [it, first] = partition_of_key.try_emplace(i % 7, pos.partition());
    EXPECT_EQ(pos.partition(), it->second) << "record " << i << ": its key moved";
    EXPECT_EQ(pos.offset(), next[pos.partition()]++) << "record " << i;
    used.insert(pos.partition());
  }
  EXPECT_GT(used.size(), 1u) << "the keys should spread over partitions";
}

TEST_F(GatewayIntegration, BatchedPublishAndReceiveBatches) {
  StartGateway();
  CreateStream("batched", 2);
  grpc::ClientContext ctx;
  auto stream = gw_->runnel().PublishBatches(&ctx);
  for (int b = 0; b < 10; ++b) {
    v1::PublishBatchRequest batch;
    batch.set_topic("batched");
    batch.set_partition_plus_one(2);  // Partition 1.
    for (int i = 0; i < 100; ++i) *batch.add_records() = Event("batched", absl::StrCat(b * 100 + i));
    ASSERT_TRUE(stream->Write(batch));
  }
  stream->WritesDone();
  v1::PublishBatchReply reply;
  uint64_t next = 0;
  int replies = 0;
  while (stream->Read(&reply)) {
    ++replies;
    ASSERT_EQ(reply.positions_size(), 100);
    for (const auto& pos : reply.positions()) {
      EXPECT_EQ(pos.partition(), 1u);
      EXPECT_EQ(pos.offset(), next++);
    }
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(replies, 10);

  Subscription sub(gw_->liiklus(), SubscribeRequest("batched", "g"));
  auto a = sub.WaitFor(2);
  ASSERT_EQ(a.size(), 2u);
  liiklus::Assignment one = a[0].partition() == 1 ? a[0] : a[1];
  grpc::ClientContext rctx;
  rctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ReceiveBatchesRequest rreq;
  *rreq.mutable_assignment() = one;
  rreq.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
  rreq.set_max_records(300);
  auto reader = gw_->runnel().ReceiveBatches(&rctx, rreq);
  v1::ReceiveBatchesReply batch;
  size_t total = 0;
  while (total < 1000 && reader->Read(&batch)) {
    EXPECT_LE(batch.records_size(), 300);
    for (const auto& r : batch.records()) {
      EXPECT_EQ(r.liiklus_event_record().offset(), total);
      ++total;
    }
  }
  rctx.TryCancel();
  reader->Finish();
  EXPECT_EQ(total, 1000u);
}

TEST_F(GatewayIntegration, BadGrpcInputsGetClearErrorsAndTheGatewayKeepsServing) {
  StartGateway({"--store", "memory", "--max-record-bytes", "2000"});
  CreateStream("typed", 2, "application/json");
  auto code = [](const grpc::Status& s) { return s.error_code(); };

  grpc::Status s = PublishStatus(Event("nowhere", "x"));
  EXPECT_EQ(code(s), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("nowhere"));
  s = PublishStatus(Event("typed", "plain", "", "text/plain"));
  EXPECT_EQ(code(s), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("application/json"));
  s = PublishStatus(Event("typed", std::string(5000, 'x'), "", "application/json"));
  EXPECT_EQ(code(s), grpc::StatusCode::RESOURCE_EXHAUSTED);

  EXPECT_EQ(code(Ack("typed", "g", 9, 0)), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(code(Ack("typed", "g", 0, 5)), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(code(Ack("typed", "", 0, 0)), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(Ack("nowhere", "g", 0, 0)), grpc::StatusCode::NOT_FOUND);

  Subscription unknown(gw_->liiklus(), SubscribeRequest("nowhere", "g"));
  unknown.WaitFor(1, absl::Seconds(5));
  ASSERT_TRUE(unknown.status().has_value());
  EXPECT_EQ(unknown.status()->error_code(), grpc::StatusCode::NOT_FOUND);
  Subscription no_group(gw_->liiklus(), SubscribeRequest("typed", ""));
  no_group.WaitFor(1, absl::Seconds(5));
  ASSERT_TRUE(no_group.status().has_value());
  EXPECT_EQ(no_group.status()->error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  liiklus::Assignment bogus;
  bogus.set_session_id("no-such-session");
  Received r = Receive(gw_->liiklus(), bogus, 1);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND);

  liiklus::GetEndOffsetsRequest ereq;
  ereq.set_topic("nowhere");
  liiklus::GetEndOffsetsReply ends;
  EXPECT_EQ(gw_->liiklus().GetEndOffsets(Context().get(), ereq, &ends).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::CreateStreamRequest bad;
  bad.mutable_stream()->set_name("bad name");
  v1::Stream created;
  EXPECT_EQ(gw_->runnel().CreateStream(Context().get(), bad, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::CreateStreamRequest dup;
  dup.mutable_stream()->set_name("typed");
  EXPECT_EQ(gw_->runnel().CreateStream(Context().get(), dup, &created).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  // Still serving.
  liiklus::PublishReply ok = Publish(Event("typed", "{\"ok\":true}", "", "application/json"));
  EXPECT_EQ(ok.topic(), "typed");
  EXPECT_TRUE(gw_->process().Running());
}

// Issue 13: bytes that do not decode as the method's request. Typed callback methods answered
// unary calls with a bare UNIMPLEMENTED, and a PublishBatches stream took such a message for the
// client's half-close: it ended OK and dropped every batch sent after it.
grpc::ByteBuffer Bytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Field 1 with wire type 7, which no protobuf message can hold.
const std::string kUndecodable("\x0f\x01\x02", 3);

TEST_F(GatewayIntegration, UndecodableRequestsAnswerInvalidArgumentWithAMessage) {
  StartGateway();
  CreateStream("s");
  grpc::ChannelInterface* channel = gw_->channel().get();
  for (const char* method : {"/com.github.bsideup.liiklus.LiiklusService/Publish",
                             "/com.github.bsideup.liiklus.LiiklusService/Ack",
                             "/com.github.bsideup.liiklus.LiiklusService/GetOffsets",
                             "/com.github.bsideup.liiklus.LiiklusService/GetEndOffsets",
                             "/runnel.v1.Gateway/CreateStream", "/runnel.v1.Gateway/GetStream",
                             "/runnel.v1.Gateway/ListStreams", "/runnel.v1.Gateway/DeleteStream"}) {
    grpc::internal::RpcMethod rpc(method, grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::ByteBuffer reply;
    grpc::Status s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel, rpc, Context().get(), Bytes(kUndecodable), &reply);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(s.error_message(), HasSubstr("does not decode")) << method;
  }
  for (const char* method : {"/com.github.bsideup.liiklus.LiiklusService/Subscribe",
                             "/com.github.bsideup.liiklus.LiiklusService/Receive",
                             "/runnel.v1.Gateway/ReceiveBatches", "/runnel.v1.Gateway/Read"}) {
    grpc::internal::RpcMethod rpc(method, grpc::internal::RpcMethod::SERVER_STREAMING);
    auto context = Context();
    std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
        grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel, rpc, context.get(),
                                                                      Bytes(kUndecodable)));
    grpc::ByteBuffer reply;
    EXPECT_FALSE(reader->Read(&reply)) << method;
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(s.error_message(), HasSubstr("does not decode")) << method;
  }
  // The stream still serves.
  EXPECT_EQ(Publish(Event("s", "ok")).offset(), 0u);
}

TEST_F(GatewayIntegration, AnUndecodableBatchEndsPublishBatchesWithInvalidArgument) {
  StartGateway();
  CreateStream("s");
  grpc::internal::RpcMethod rpc("/runnel.v1.Gateway/PublishBatches",
                                grpc::internal::RpcMethod::BIDI_STREAMING);
  auto context = Context();
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          gw_->channel().get(), rpc, context.get()));
  v1::PublishBatchRequest batch;
  batch.set_topic("s");
  *batch.add_records() = Event("s", "first");
  ASSERT_TRUE(stream->Write(Bytes(batch.SerializeAsString())));
  grpc::ByteBuffer raw;
  ASSERT_TRUE(stream->Read(&raw));  // The first batch is acknowledged.
  stream->Write(Bytes(kUndecodable));
  *batch.mutable_records(0) = Event("s", "after");
  stream->Write(Bytes(batch.SerializeAsString()));
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&raw));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("message 2"));

  // Nothing after the bad message was published.
  v1::GetStreamRequest req;
  req.set_name("s");
  v1::Stream described;
  ASSERT_TRUE(gw_->runnel().GetStream(Context().get(), req, &described).ok());
  EXPECT_EQ(described.partition_info(0).end_offset(), 1);
}

// Issue 13: partition and offset arguments narrowed without a check. HTTP's partition=2^32 read
// partition 0, gRPC named partition 4,000,000,000 "-294967296", a Read at offset 2^63 waited
// for its deadline, and HTTP past the end answered 200.
grpc::Status ReadStatus(v1::Gateway::Stub& stub, const std::string& topic, uint32_t partition,
                        uint64_t offset) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ReadRequest req;
  req.set_topic(topic);
  req.set_partition(partition);
  req.set_offset(offset);
  auto reader = stub.Read(&ctx, req);
  v1::ReceiveBatchesReply reply;
  while (reader->Read(&reply)) {
  }
  return reader->Finish();
}

TEST_F(GatewayIntegration, PartitionsAndOffsetsAreRangeCheckedOnEveryFront) {
  StartGateway();
  CreateStream("s");
  EXPECT_EQ(Publish(Event("s", "only")).offset(), 0u);
  constexpr uint64_t kTooFar = uint64_t{1} << 63;

  auto wrapped = Http("GET", "/streams/s/records?partition=4294967296");
  EXPECT_EQ(wrapped.first, 404) << wrapped.second;
  EXPECT_THAT(wrapped.second, HasSubstr("no partition 4294967296"));
  auto at_end = Http("GET", "/streams/s/records?offset=1");
  EXPECT_EQ(at_end.first, 200);
  EXPECT_THAT(at_end.second, HasSubstr("\"records\":[]"));
  auto past_end = Http("GET", "/streams/s/records?offset=2");
  EXPECT_EQ(past_end.first, 416) << past_end.second;
  EXPECT_THAT(past_end.second, HasSubstr("stream 's'"));
  EXPECT_EQ(Http("GET", absl::StrCat("/streams/s/records?offset=", kTooFar)).first, 416);

  grpc::Status s = ReadStatus(gw_->runnel(), "s", 4'000'000'000u, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("no partition 4000000000"));
  s = ReadStatus(gw_->runnel(), "s", 0, kTooFar);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  s = ReadStatus(gw_->runnel(), "s", 0, 5);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();

  s = Ack("s", "g", 4'000'000'000u, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("no partition 4000000000"));
  s = Ack("s", "g", 0, kTooFar);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("offset ", kTooFar)));

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = gw_->runnel().PublishBatches(&ctx);
  v1::PublishBatchRequest batch;
  batch.set_topic("s");
  batch.set_partition_plus_one(4'000'000'001u);
  *batch.add_records() = Event("s", "x");
  stream->Write(batch);
  stream->WritesDone();
  v1::PublishBatchReply reply;
  EXPECT_FALSE(stream->Read(&reply));
  s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("no partition 4000000000"));
}

// Issue 13: out of file descriptors. gRPC's own listener gave up for good on the first EMFILE,
// and the HTTP accept loop retried at once (100 % CPU, a flood of log lines). Here the gateway
// runs with 128 descriptors and a client holds 300 connections to its gRPC port.
class DescriptorLimit : public GatewayIntegration {
 protected:
  // The gateway under `ulimit -n 128`.
  void StartLimited(std::vector<std::string> args) {
    std::vector<std::string> argv{"/bin/sh", "-c", "ulimit -n 128 && exec \"$0\" \"$@\"",
                                  BuiltBinary("gateway/runnel-gateway"), "--host", "127.0.0.1",
                                  "--port", "0", "--http-host", "127.0.0.1", "--http-port", "0",
                                  "--store", "memory"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = ChildProcess::Start(argv, {}, absl::StrCat(dir_.path(), "/limited.log"));
    ASSERT_TRUE(child.ok()) << child.status();
    child_.emplace(*std::move(child));
    auto line = child_->WaitForLogLine("runnel-gateway serving", absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << line.status();
    grpc_port_ = FieldFromLogLine(*line, "grpc_port");
    http_port_ = FieldFromLogLine(*line, "http_port");
  }

  // Opens `n` TCP connections to `port` that say nothing.
  static std::vector<int> Connect(int port, int n) {
    std::vector<int> fds;
    for (int i = 0; i < n; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (fd >= 0) ::close(fd);
        break;
      }
      fds.push_back(fd);
    }
    return fds;
  }

  // An HTTP GET on a fresh connection: the status, or -1 when no answer came within 2 s (plain
  // sockets: Beast's timeouts do not apply to its blocking calls).
  int HttpStatus(const std::string& target) {
    std::vector<int> fds = Connect(http_port_, 1);
    if (fds.empty()) return -1;
    const int fd = fds[0];
    timeval two_seconds{.tv_sec = 2, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &two_seconds, sizeof two_seconds);
    const std::string request =
        absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::string response;
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[256];
      ssize_t n;
      while (response.size() < 12 && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        response.append(buf, static_cast<size_t>(n));
      }
    }
    ::close(fd);
    int status = -1;
    if (response.size() < 12 || !absl::SimpleAtoi(response.substr(9, 3), &status)) return -1;
    return status;
  }

  // Whether a new connection (not one opened before) gets a gRPC call through within `timeout`.
  bool GrpcServes(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // A connection of its own.
      auto stub = v1::Gateway::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", grpc_port_), grpc::InsecureChannelCredentials(), args));
      v1::ListStreamsRequest req;
      v1::ListStreamsReply reply;
      if (stub->ListStreams(Context(absl::Seconds(1)).get(), req, &reply).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  std::optional<ChildProcess> child_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

TEST_F(DescriptorLimit, GrpcRecoversAndAcceptFailuresBackOffQuietly) {
  StartLimited({});
  ASSERT_TRUE(GrpcServes(absl::Seconds(10)));
  std::vector<int> hogs = Connect(grpc_port_, 300);
  ASSERT_GE(hogs.size(), 200u);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // Out of descriptors now: not ready (or not answering at all), never 200. The probe waits in
  // the HTTP backlog too, so the HTTP accept loop meets EMFILE as well.
  EXPECT_NE(HttpStatus("/readyz"), 200);
  const double cpu_before = ProcessCpuSeconds(child_->pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double cpu = ProcessCpuSeconds(child_->pid()) - cpu_before;
  EXPECT_LT(cpu, 0.5) << "the accept loops spin";
  const std::string log = child_->Log();
  size_t failures = 0;
  for (size_t at = log.find("accept failed"); at != std::string::npos;
       at = log.find("accept failed", at + 1)) {
    ++failures;
  }
  EXPECT_GE(failures, 1u);
  EXPECT_LE(failures, 4u) << "accept failures are logged at a bounded rate";

  for (int fd : hogs) ::close(fd);
  EXPECT_TRUE(GrpcServes(absl::Seconds(15))) << "gRPC did not recover";
  EXPECT_EQ(HttpStatus("/readyz"), 200);
}

TEST_F(DescriptorLimit, HttpCapsConnectionsPerClientAndClosesStalledRequests) {
  StartLimited({"--http-max-connections-per-client", "5", "--http-idle-timeout-seconds", "4"});
  std::vector<int> held = Connect(http_port_, 5);
  ASSERT_EQ(held.size(), 5u);
  // The sixth is closed as soon as it is accepted.
  std::vector<int> sixth = Connect(http_port_, 1);
  ASSERT_EQ(sixth.size(), 1u);
  timeval soon{.tv_sec = 1, .tv_usec = 500'000};  // Well before the idle timeout.
  ::setsockopt(sixth[0], SOL_SOCKET, SO_RCVTIMEO, &soon, sizeof soon);
  char c;
  EXPECT_EQ(::recv(sixth[0], &c, 1, 0), 0) << "the connection over the cap stays open";
  ::close(sixth[0]);
  // A half-sent request is closed after the idle timeout, freeing its place.
  const std::string partial = "GET /healthz HTTP/1.1\r\nHo";
  ASSERT_EQ(::send(held[0], partial.data(), partial.size(), 0),
            static_cast<ssize_t>(partial.size()));
  timeval later{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(held[0], SOL_SOCKET, SO_RCVTIMEO, &later, sizeof later);
  EXPECT_EQ(::recv(held[0], &c, 1, 0), 0) << "the stalled request was not closed";
  for (int fd : held) ::close(fd);
  int status = -1;  // Once the server has seen them close, there is room again.
  for (int i = 0; i < 20 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = HttpStatus("/healthz");
  }
  EXPECT_EQ(status, 200);
}

TEST_F(GatewayIntegration, HttpApiProvisionsPublishesReadsAndRejectsBadInput) {
  StartGateway({"--store", "memory", "--max-record-bytes", "2000"});
  EXPECT_EQ(Http("GET", "/healthz").first, 200);
  EXPECT_EQ(Http("GET", "/readyz").first, 200);

  // riff's provisioner API.
  auto [status, body] = Http("PUT", "/default/numbers");
  EXPECT_EQ(status, 201);
  EXPECT_THAT(body, HasSubstr("\"topic\":\"default_numbers\""));
  EXPECT_THAT(body, HasSubstr("\"gateway\":"));
  EXPECT_EQ(Http("PUT", "/default/numbers").first, 200);
  auto bad_path = Http("PUT", "/only-one");
  EXPECT_EQ(bad_path.first, 400);
  EXPECT_EQ(bad_path.second, "URLs should be of the form /<namespace>/<stream-name>\n");
  EXPECT_EQ(Http("GET", "/default/numbers").first, 405);

  // Stream administration and ingress.
  EXPECT_EQ(Http("POST", "/streams", R"({"name":"temps","partitions":2,"content_type":"application/json"})",
                 "application/json").first,
            201);
  EXPECT_EQ(Http("POST", "/streams", R"({"name":"temps"})", "application/json").first, 409);
  EXPECT_EQ(Http("POST", "/streams", "not json", "application/json").first, 400);
  auto published = Http("POST", "/streams/temps?key=sensor-1", "21.5", "application/json");
  EXPECT_EQ(published.first, 200) << published.second;
  EXPECT_THAT(published.second, HasSubstr("\"offset\":0"));
  EXPECT_EQ(Http("POST", "/streams/temps", "hot", "text/plain").first, 415);
  EXPECT_EQ(Http("POST", "/streams/temps", std::string(5000, '1'), "application/json").first, 413);
  EXPECT_EQ(Http("POST", "/streams/missing", "1", "application/json").first, 404);
  EXPECT_EQ(Http("GET", "/streams/missing").first, 404);
  EXPECT_EQ(Http("PATCH", "/streams/temps").first, 405);

  auto described = Http("GET", "/streams/temps");
  EXPECT_EQ(described.first, 200);
  EXPECT_THAT(described.second, HasSubstr("\"partitions\":2"));
  // Find the partition the key landed on and read the record back.
  bool found = false;
  for (int p = 0; p < 2; ++p) {
    auto read = Http("GET", absl::StrCat("/streams/temps/records?partition=", p));
    EXPECT_EQ(read.first, 200);
    if (read.second.find("\"data\":\"21.5\"") != std::string::npos) {
      found = true;
      EXPECT_THAT(read.second, HasSubstr("\"key\":\"sensor-1\""));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(Http("GET", "/streams/temps/records?offset=abc").first, 400);

  auto metrics = Http("GET", "/metrics");
  EXPECT_EQ(metrics.first, 200);
  EXPECT_THAT(metrics.second, HasSubstr("runnel_gateway_records_in_total{stream=\"temps\"} 1"));
  EXPECT_THAT(metrics.second, HasSubstr("runnel_gateway_end_offset{stream=\"temps\""));
  EXPECT_THAT(metrics.second, HasSubstr("runnel_gateway_request_errors_total"));

  EXPECT_EQ(Http("DELETE", "/streams/temps").first, 204);
  EXPECT_EQ(Http("GET", "/streams/temps").first, 404);
}

TEST_F(GatewayIntegration, AutoCreateMakesUnknownStreamsOnFirstPublish) {
  StartGateway({"--store", "memory", "--auto-create-streams"});
  liiklus::PublishReply r = Publish(Event("fresh", "1"));
  EXPECT_EQ(r.offset(), 0u);
  v1::GetStreamRequest req;
  req.set_name("fresh");
  v1::Stream s;
  ASSERT_TRUE(gw_->runnel().GetStream(Context().get(), req, &s).ok());
  EXPECT_EQ(s.partitions(), 1);
  EXPECT_EQ(s.partition_info(0).end_offset(), 1);
}

TEST_F(GatewayIntegration, BadConfigurationFailsAtStartWithOneReadableMessage) {
  auto child = ChildProcess::Start({BuiltBinary("gateway/runnel-gateway"), "--store", "redis"}, {},
                                   absl::StrCat(dir_.path(), "/bad.log"));
  ASSERT_TRUE(child.ok());
  auto code = child->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(child->Log(), HasSubstr("'redis' is not a store"));
}

}  // namespace
}  // namespace runnel::testing

namespace runnel::testing {
namespace {

TEST_F(GatewayIntegration, ShutdownEndsOpenStreamsWithUnavailableAndExitsZero) {
  StartGateway();
  CreateStream("live");
  Subscription sub(gw_->liiklus(), SubscribeRequest("live", "g"));
  auto a = sub.WaitFor(1);
  ASSERT_EQ(a.size(), 1u);
  Received got;
  std::thread receiver([&] { got = Receive(gw_->liiklus(), a[0], 1, liiklus::ReceiveRequest::LIIKLUS_EVENT, absl::Seconds(20)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // Let the receive start waiting.
  auto code = gw_->process().Stop(SIGTERM, absl::Seconds(20));
  receiver.join();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::UNAVAILABLE) << got.status.error_message();
  sub.WaitFor(2, absl::Seconds(5));
  ASSERT_TRUE(sub.status().has_value());
  EXPECT_EQ(sub.status()->error_code(), grpc::StatusCode::UNAVAILABLE);
}

// Issue 13: a file-log gateway stopped while processors were connected hung in
// grpc::Server::Shutdown. Unary calls that arrived once draining had begun (a processor acks and
// re-subscribes as soon as its streams end) got a reactor that never finished, and the server
// waits for every call. Here: live publishers, tailing readers, two members of a group with their
// receivers, and clients that keep calling unary methods throughout; SIGTERM must end the
// process within the grace period.
TEST_F(GatewayIntegration, SigtermWithManyLiveStreamsExitsWithinTheGracePeriod) {
  StartGateway({"--store", "file", "--data-dir", absl::StrCat(dir_.path(), "/data"),
                "--shutdown-grace-seconds", "3"});
  CreateStream("live", 2);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {  // Publishers.
    threads.emplace_back([&, i] {
      grpc::ClientContext ctx;
      auto stream = gw_->runnel().PublishBatches(&ctx);
      v1::PublishBatchRequest batch;
      batch.set_topic("live");
      for (int r = 0; r < 10; ++r) *batch.add_records() = Event("live", absl::StrCat(i, "-", r));
      v1::PublishBatchReply reply;
      while (!stop && stream->Write(batch) && stream->Read(&reply)) {
      }
      ctx.TryCancel();
      stream->Finish();
    });
  }
  for (uint32_t p = 0; p < 2; ++p) {  // Tailing readers.
    threads.emplace_back([&, p] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      v1::ReadRequest req;
      req.set_topic("live");
      req.set_partition(p);
      auto reader = gw_->runnel().Read(&ctx, req);
      v1::ReceiveBatchesReply batch;
      while (!stop && reader->Read(&batch)) {
      }
      ctx.TryCancel();
      reader->Finish();
    });
  }
  // Two members of one group, each receiving what it was assigned, as two processors do.
  Subscription first(gw_->liiklus(), SubscribeRequest("live", "g"));
  ASSERT_EQ(first.WaitFor(2).size(), 2u);
  Subscription second(gw_->liiklus(), SubscribeRequest("live", "g"));
  ASSERT_FALSE(second.WaitFor(1).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // Let the group settle.
  for (Subscription* member : {&first, &second}) {
    const liiklus::Assignment last = member->WaitFor(1).back();
    threads.emplace_back([&, last] {
      while (!stop)
        Receive(gw_->liiklus(), last, 1'000'000, liiklus::ReceiveRequest::BINARY,
                absl::Seconds(30));
    });
  }
  for (int i = 0; i < 2; ++i) {  // Unary calls all along, as processors ack.
    threads.emplace_back([&] {
      liiklus::GetEndOffsetsRequest ends;
      ends.set_topic("live");
      while (!stop) {
        google::protobuf::Empty empty;
        gw_->liiklus().Ack(Context(absl::Seconds(30)).get(), AckRequest("live", "g", 0, 0), &empty);
        liiklus::GetEndOffsetsReply reply;
        gw_->liiklus().GetEndOffsets(Context(absl::Seconds(30)).get(), ends, &reply);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const absl::Time start = absl::Now();
  auto code = gw_->process().Stop(SIGTERM, absl::Seconds(8));
  const absl::Duration took = absl::Now() - start;
  stop = true;
  if (!code.ok()) gw_->process().Stop(SIGKILL, absl::Seconds(5)).IgnoreError();
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(code.ok()) << "the gateway did not exit: " << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_LT(took, absl::Seconds(5)) << "grace period 3 s";
}

}  // namespace
}  // namespace runnel::testing
