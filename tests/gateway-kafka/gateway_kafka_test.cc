// The real runnel-gateway binary with `--store kafka` on a real broker, driven over loopback by
// liiklus clients: the integration behaviours that apply to Kafka (publish, subscribe, receive,
// ack, group and end offsets, LATEST vs EARLIEST), two gateway replicas splitting one group's
// partitions, a rebalance that resumes at the committed offset, and a broker restart that
// loses no acknowledged record.
//
// The broker comes from RUNNEL_KAFKA_BROKERS (scripts/test.sh starts one). Unset, every test
// fails, unless RUNNEL_SKIP_KAFKA=1 (manual runs only). The restart test runs a broker of its
// own (scripts/kafka.sh with a private state directory) since it stops it.
//
// Waits are bounded (Kafka rebalances take seconds); nothing asserts on elapsed time.

#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gateway/testing/kafka_broker.h"
#include "tests/gateway/gateway_fixture.h"
#include "tests/gateway/liiklus_client.h"

namespace runnel::testing {
namespace {

using ::runnel::gateway::testing::PrivateKafkaBroker;
using ::runnel::gateway::testing::UniqueName;

// Kafka rebalances and broker round trips take seconds: every wait here is longer than the
// helpers' defaults.
constexpr absl::Duration kCall = absl::Seconds(30);
constexpr absl::Duration kWait = absl::Seconds(60);
constexpr auto kEvent = liiklus::ReceiveRequest::LIIKLUS_EVENT;

class GatewayOnKafka : public ::testing::Test {
 protected:
  void SetUp() override {
    if (gateway::testing::SkipKafkaTests()) GTEST_SKIP() << "RUNNEL_SKIP_KAFKA=1";
    auto options = gateway::testing::KafkaTestOptions();
    ASSERT_TRUE(options.ok()) << options.status();
    brokers_ = options->bootstrap_servers;
  }

  // Starts a gateway replica on `brokers` (default: the suite's broker).
  std::unique_ptr<GatewayProcess> StartGateway(std::vector<std::string> extra = {},
                                               std::string brokers = "") {
    std::vector<std::string> args{"--store", "kafka", "--bootstrap-servers",
                                  brokers.empty() ? brokers_ : brokers};
    args.insert(args.end(), extra.begin(), extra.end());
    auto gw = GatewayProcess::Start(args, absl::StrCat(dir_.path(), "/gateway-", starts_++, ".log"));
    EXPECT_TRUE(gw.ok()) << gw.status();
    return gw.ok() ? *std::move(gw) : nullptr;
  }

  static grpc::Status CreateStream(GatewayProcess& gw, const std::string& name, int partitions = 1) {
    v1::CreateStreamRequest req;
    req.mutable_stream()->set_name(name);
    req.mutable_stream()->set_partitions(partitions);
    req.mutable_stream()->set_content_type("text/plain");
    v1::Stream reply;
    return gw.runnel().CreateStream(Context(kCall).get(), req, &reply);
  }

  static absl::StatusOr<liiklus::PublishReply> Publish(GatewayProcess& gw,
                                                       const liiklus::PublishRequest& request) {
    liiklus::PublishReply reply;
    grpc::Status s = gw.liiklus().Publish(Context(kCall).get(), request, &reply);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return reply;
  }

  static grpc::Status Ack(GatewayProcess& gw, const std::string& topic, const std::string& group,
                          uint32_t partition, uint64_t offset) {
    google::protobuf::Empty empty;
    return gw.liiklus().Ack(Context(kCall).get(), AckRequest(topic, group, partition, offset),
                            &empty);
  }

  std::string brokers_;
  TempDir dir_;
  int starts_ = 0;
};

TEST_F(GatewayOnKafka, PublishSubscribeReceiveAckAndOffsets) {
  auto gw = StartGateway();
  ASSERT_NE(gw, nullptr);
  const std::string topic = UniqueName("orders");
  ASSERT_TRUE(CreateStream(*gw, topic).ok());
  for (int i = 0; i < 10; ++i) {
    auto reply = Publish(*gw, Event(topic, absl::StrCat(i)));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->topic(), topic);
    EXPECT_EQ(reply->partition(), 0u);
    EXPECT_EQ(reply->offset(), static_cast<uint64_t>(i));
  }
  {
    Subscription sub(gw->liiklus(), SubscribeRequest(topic, "billing"));
    auto assignments = sub.WaitFor(1, kWait);
    ASSERT_EQ(assignments.size(), 1u) << gw->process().Log();
    Received got = Receive(gw->liiklus(), assignments[0], 10, kEvent, kCall);
    ASSERT_EQ(got.replies.size(), 10u) << got.status.error_message();
    for (int i = 0; i < 10; ++i) {
      const auto& r = got.replies[i].liiklus_event_record();
      EXPECT_EQ(r.offset(), static_cast<uint64_t>(i));
      EXPECT_EQ(r.event().data(), absl::StrCat(i));
      EXPECT_EQ(r.event().id(), absl::StrCat("id-", i));
    }
    ASSERT_TRUE(Ack(*gw, topic, "billing", 0, 4).ok());
  }
  liiklus::GetOffsetsRequest offsets_req;
  offsets_req.set_topic(topic);
  offsets_req.set_group("billing");
  liiklus::GetOffsetsReply offsets;
  ASSERT_TRUE(gw->liiklus().GetOffsets(Context(kCall).get(), offsets_req, &offsets).ok());
  EXPECT_EQ(offsets.offsets().at(0), 4u);
  liiklus::GetEndOffsetsRequest ends_req;
  ends_req.set_topic(topic);
  liiklus::GetEndOffsetsReply ends;
  ASSERT_TRUE(gw->liiklus().GetEndOffsets(Context(kCall).get(), ends_req, &ends).ok());
  EXPECT_EQ(ends.offsets().at(0), 9u);  // liiklus: the last offset, not the next one.

  // A new member of the group resumes after the acknowledged offset.
  Subscription sub(gw->liiklus(), SubscribeRequest(topic, "billing"));
  auto assignments = sub.WaitFor(1, kWait);
  ASSERT_EQ(assignments.size(), 1u);
  Received got = Receive(gw->liiklus(), assignments[0], 5, kEvent, kCall);
  ASSERT_EQ(got.replies.size(), 5u) << got.status.error_message();
  EXPECT_EQ(got.replies[0].liiklus_event_record().offset(), 5u);
}

TEST_F(GatewayOnKafka, EmptyPartitionsReportZeroEndOffsets) {
  auto gw = StartGateway();
  ASSERT_NE(gw, nullptr);
  const std::string topic = UniqueName("lag");
  ASSERT_TRUE(CreateStream(*gw, topic, 2).ok());
  liiklus::GetEndOffsetsRequest req;
  req.set_topic(topic);
  liiklus::GetEndOffsetsReply ends;
  ASSERT_TRUE(gw->liiklus().GetEndOffsets(Context(kCall).get(), req, &ends).ok());
  EXPECT_EQ(ends.offsets().at(0), 0u);
  EXPECT_EQ(ends.offsets().at(1), 0u);
  auto keyed = Publish(*gw, Event(topic, "x", "k"));
  ASSERT_TRUE(keyed.ok()) << keyed.status();
  // The same key lands in the same partition.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Publish(*gw, Event(topic, "y", "k"))->partition(), keyed->partition());
  ASSERT_TRUE(gw->liiklus().GetEndOffsets(Context(kCall).get(), req, &ends).ok());
  EXPECT_EQ(ends.offsets().at(keyed->partition()), 3u);  // The last offset (liiklus).
}

TEST_F(GatewayOnKafka, LatestSkipsOldRecordsAndEarliestReadsThem) {
  auto gw = StartGateway();
  ASSERT_NE(gw, nullptr);
  const std::string topic = UniqueName("news");
  ASSERT_TRUE(CreateStream(*gw, topic).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Publish(*gw, Event(topic, absl::StrCat("old", i))).ok());
  Subscription latest(gw->liiklus(), SubscribeRequest(topic, "late", /*latest=*/true));
  auto a = latest.WaitFor(1, kWait);
  ASSERT_EQ(a.size(), 1u);
  // "Latest" is resolved when the receive opens, which the client cannot observe: keep
  // publishing "new" (bounded) until the receive delivers one; it must never see an "old".
  Received got;
  std::thread receiver([&] { got = Receive(gw->liiklus(), a[0], 1, kEvent, kCall); });
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; i < 50 && !stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      (void)Publish(*gw, Event(topic, "new"));
    }
  });
  receiver.join();
  stop = true;
  publisher.join();
  ASSERT_EQ(got.replies.size(), 1u) << got.status.error_message();
  EXPECT_EQ(got.replies[0].liiklus_event_record().event().data(), "new");
  EXPECT_GE(got.replies[0].liiklus_event_record().offset(), 3u);

  Subscription earliest(gw->liiklus(), SubscribeRequest(topic, "early"));
  auto e = earliest.WaitFor(1, kWait);
  ASSERT_EQ(e.size(), 1u);
  got = Receive(gw->liiklus(), e[0], 4, kEvent, kCall);
  ASSERT_EQ(got.replies.size(), 4u);
  EXPECT_EQ(got.replies[0].liiklus_event_record().event().data(), "old0");
  EXPECT_EQ(got.replies[3].liiklus_event_record().event().data(), "new");
}

// The latest assignment of `partition` among `assignments`, if any.
std::optional<liiklus::Assignment> LatestFor(const std::vector<liiklus::Assignment>& assignments,
                                             uint32_t partition) {
  std::optional<liiklus::Assignment> out;
  for (const auto& a : assignments) {
    if (a.partition() == partition) out = a;
  }
  return out;
}

TEST_F(GatewayOnKafka, TwoReplicasSplitPartitionsAndARebalanceResumesAtTheCommittedOffset) {
  auto first = StartGateway();
  auto second = StartGateway();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  const std::string topic = UniqueName("shared");
  constexpr int kPartitions = 4;
  ASSERT_TRUE(CreateStream(*first, topic, kPartitions).ok());
  // The second replica learns of the stream from _runnel_streams (bounded wait).
  {
    v1::GetStreamRequest req;
    req.set_name(topic);
    v1::Stream s;
    grpc::Status status;
    for (int i = 0; i < 100; ++i) {
      status = second->runnel().GetStream(Context(kCall).get(), req, &s);
      if (status.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // Records in every partition, published through both replicas.
  std::map<uint32_t, int> per_partition;
  for (int i = 0; i < 40; ++i) {
    GatewayProcess& via = i % 2 == 0 ? *first : *second;
    auto reply = Publish(via, Event(topic, absl::StrCat(i), absl::StrCat("key-", i)));
    ASSERT_TRUE(reply.ok()) << reply.status();
    ++per_partition[reply->partition()];
  }

  auto a = std::make_unique<Subscription>(first->liiklus(), SubscribeRequest(topic, "g"));
  ASSERT_EQ(a->WaitFor(kPartitions, kWait).size(), static_cast<size_t>(kPartitions)) << first->process().Log();
  auto b = std::make_unique<Subscription>(second->liiklus(), SubscribeRequest(topic, "g"));
  auto b_assigned = b->WaitFor(kPartitions / 2, kWait);
  ASSERT_EQ(b_assigned.size(), static_cast<size_t>(kPartitions / 2)) << second->process().Log();
  std::set<uint32_t> owned_by_b;
  for (const auto& x : b_assigned) owned_by_b.insert(x.partition());
  EXPECT_EQ(owned_by_b.size(), static_cast<size_t>(kPartitions / 2));

  // The second replica reads one of its partitions, acks part of it, and leaves.
  const uint32_t moved = *owned_by_b.begin();
  const size_t in_moved = static_cast<size_t>(per_partition[moved]);
  ASSERT_GE(in_moved, 2u);
  Received read_by_b = Receive(second->liiklus(), *LatestFor(b_assigned, moved), in_moved, kEvent, kCall);
  ASSERT_EQ(read_by_b.replies.size(), in_moved) << read_by_b.status.error_message();
  const uint64_t acked = in_moved / 2 - 1;
  ASSERT_TRUE(Ack(*second, topic, "g", moved, acked).ok());
  b.reset();

  // The first replica gets the moved partition back and resumes right after the ack.
  std::optional<liiklus::Assignment> regained;
  for (size_t n = kPartitions + 1; n <= kPartitions + 4 && !regained; ++n) {
    auto all = a->WaitFor(n, kWait);
    if (all.size() < n) break;
    for (size_t i = kPartitions; i < all.size(); ++i) {
      if (all[i].partition() == moved) regained = all[i];
    }
  }
  ASSERT_TRUE(regained.has_value()) << first->process().Log();
  Received resumed = Receive(first->liiklus(), *regained, in_moved - acked - 1, kEvent, kCall);
  ASSERT_EQ(resumed.replies.size(), in_moved - acked - 1) << resumed.status.error_message();
  EXPECT_EQ(resumed.replies[0].liiklus_event_record().offset(), acked + 1);
  EXPECT_EQ(resumed.replies.back().liiklus_event_record().offset(), in_moved - 1);

  liiklus::GetOffsetsRequest oreq;
  oreq.set_topic(topic);
  oreq.set_group("g");
  liiklus::GetOffsetsReply offsets;
  ASSERT_TRUE(first->liiklus().GetOffsets(Context(kCall).get(), oreq, &offsets).ok());
  EXPECT_EQ(offsets.offsets().at(moved), acked);
}

TEST_F(GatewayOnKafka, BrokerRestartMidStreamLosesNoAcknowledgedRecord) {
  PrivateKafkaBroker broker;
  ASSERT_EQ(broker.Run("start"), 0);
  auto gw = StartGateway({"--kafka-property", "message.timeout.ms=5000"}, broker.Address());
  ASSERT_NE(gw, nullptr);
  const std::string topic = UniqueName("restart");
  ASSERT_TRUE(CreateStream(*gw, topic).ok());

  // A member that reads and acknowledges part of the stream before the outage.
  Subscription sub(gw->liiklus(), SubscribeRequest(topic, "reader"));
  auto a = sub.WaitFor(1, kWait);
  ASSERT_EQ(a.size(), 1u) << gw->process().Log();

  std::map<uint64_t, std::string> acknowledged;  // offset -> data
  for (int i = 0; i < 50; ++i) {
    auto r = Publish(*gw, Event(topic, absl::StrCat("before-", i)));
    ASSERT_TRUE(r.ok()) << r.status();
    acknowledged[r->offset()] = absl::StrCat("before-", i);
  }
  Received before = Receive(gw->liiklus(), a[0], 50, kEvent, kCall);
  ASSERT_EQ(before.replies.size(), 50u) << before.status.error_message();
  constexpr uint64_t kAcked = 29;
  ASSERT_TRUE(Ack(*gw, topic, "reader", 0, kAcked).ok());

  ASSERT_EQ(broker.Run("stop --keep"), 0);
  // During the outage a publish fails retryably (or, if it was delivered after all, is acked).
  auto during = Publish(*gw, Event(topic, "during"));
  if (during.ok()) {
    acknowledged[during->offset()] = "during";
  } else {
    EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable) << during.status();
  }
  ASSERT_EQ(broker.Run("restart"), 0);

  // Publishes succeed again once the gateway's client has reconnected (bounded retries).
  int after_acked = 0;
  for (int i = 0; i < 60 && after_acked < 20; ++i) {
    auto r = Publish(*gw, Event(topic, absl::StrCat("after-", i)));
    if (r.ok()) {
      acknowledged[r->offset()] = absl::StrCat("after-", i);
      ++after_acked;
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  ASSERT_EQ(after_acked, 20) << gw->process().Log();

  // The member resumes after its committed offset. If the outage outlasted its session, Kafka
  // revoked the partition and the subscription delivers a new assignment for it; a receive on
  // the revoked one ends without records, and we move on to the newest (bounded).
  const uint64_t last = acknowledged.rbegin()->first;
  const size_t expected = last - kAcked;
  Received got;
  for (size_t n = 1; n <= 4; ++n) {
    auto assignments = sub.WaitFor(n, absl::Seconds(30));
    if (assignments.size() < n) break;
    got = Receive(gw->liiklus(), assignments.back(), expected, kEvent, kWait);
    if (got.replies.size() == expected) break;
  }
  ASSERT_EQ(got.replies.size(), expected) << got.status.error_message() << gw->process().Log();
  EXPECT_EQ(got.replies[0].liiklus_event_record().offset(), kAcked + 1);
  std::map<uint64_t, std::string> read;
  for (const auto& reply : before.replies) {
    read[reply.liiklus_event_record().offset()] = reply.liiklus_event_record().event().data();
  }
  for (const auto& reply : got.replies) {
    read[reply.liiklus_event_record().offset()] = reply.liiklus_event_record().event().data();
  }
  // Every acknowledged record is there, at the offset its publish reported.
  for (const auto& [offset, data] : acknowledged) {
    auto it = read.find(offset);
    ASSERT_NE(it, read.end()) << "acknowledged offset " << offset << " missing";
    EXPECT_EQ(it->second, data) << "at offset " << offset;
  }
  EXPECT_TRUE(gw->process().Running());
}

}  // namespace
}  // namespace runnel::testing
