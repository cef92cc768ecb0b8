#include "gateway/liiklus_semantics.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

// Tests exercise liiklus's deprecated publish form on purpose.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace runnel::gateway {
namespace {

TEST(ParseGroupId, ExplicitVersionWins) {
  EXPECT_EQ(ParseGroupId("avg-v2", 5), (GroupId{"avg-v2", 5}));
}

TEST(ParseGroupId, LegacyNameCarriesVersion) {
  EXPECT_EQ(ParseGroupId("avg-v2", 0), (GroupId{"avg", 2}));
  EXPECT_EQ(ParseGroupId("a-v-v10", 0), (GroupId{"a-v", 10}));
}

TEST(ParseGroupId, OtherNamesAreUnversioned) {
  EXPECT_EQ(ParseGroupId("avg", 0), (GroupId{"avg", 0}));
  EXPECT_EQ(ParseGroupId("avg-v", 0), (GroupId{"avg-v", 0}));
  EXPECT_EQ(ParseGroupId("avg-vx1", 0), (GroupId{"avg-vx1", 0}));
}

TEST(GroupStart, ResumesAfterTheAckedOffset) {
  GroupPositions positions{{0, {{0, 41}}}};
  StartAt s = GroupStart(positions, 0, 0, liiklus::SubscribeRequest::LATEST);
  EXPECT_EQ(s.kind, StartAt::Kind::kOffset);
  EXPECT_EQ(s.offset, 42);
}

TEST(GroupStart, FallsBackToAutoOffsetReset) {
  GroupPositions positions{{0, {{1, 5}}}};
  EXPECT_EQ(GroupStart(positions, 0, 0, liiklus::SubscribeRequest::LATEST).kind,
            StartAt::Kind::kLatest);
  EXPECT_EQ(GroupStart({}, 0, 0, liiklus::SubscribeRequest::EARLIEST).kind,
            StartAt::Kind::kEarliest);
}

TEST(GroupStart, UnversionedUsesTheLowestVersionAndVersionedItsOwn) {
  GroupPositions positions{{2, {{0, 10}}}, {3, {{0, 20}}}};
  EXPECT_EQ(GroupStart(positions, 0, 0, liiklus::SubscribeRequest::EARLIEST).offset, 11);
  EXPECT_EQ(GroupStart(positions, 3, 0, liiklus::SubscribeRequest::EARLIEST).offset, 21);
  EXPECT_EQ(GroupStart(positions, 4, 0, liiklus::SubscribeRequest::EARLIEST).kind,
            StartAt::Kind::kEarliest);
}

TEST(LatestAcked, IsTheMaximumOverVersions) {
  GroupPositions positions{{0, {{0, 3}}}, {1, {{0, 9}, {1, 2}}}};
  EXPECT_EQ(LatestAcked(positions, 0), 9);
  EXPECT_EQ(LatestAcked(positions, 1), 2);
  EXPECT_EQ(LatestAcked(positions, 2), -1);
}

TEST(RecordFromPublish, KeepsEveryEventAttribute) {
  liiklus::PublishRequest req;
  req.set_key("k");
  auto* e = req.mutable_liiklusevent();
  e->set_id("1");
  e->set_type("t");
  e->set_source("/s");
  e->set_time("2026-01-01T00:00:00Z");
  e->set_data_content_type("application/json");
  e->set_data("{}");
  (*e->mutable_extensions())["trace"] = "x";
  auto r = RecordFromPublish(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->key(), "k");
  EXPECT_EQ(r->id(), "1");
  EXPECT_EQ(r->extensions().at("trace"), "x");
  EXPECT_EQ(r->data(), "{}");
}

// liiklus stores events without id, type or source; riff's clients publish them.
TEST(RecordFromPublish, StoresEventsWithoutIdTypeOrSource) {
  liiklus::PublishRequest req;
  req.mutable_liiklusevent()->set_data("{}");
  auto r = RecordFromPublish(req);
  ASSERT_TRUE(r.ok()) << r.status();
  // An id, so that every store keeps it an event (an empty id means raw bytes): a UUID.
  EXPECT_EQ(r->id().size(), 36u);
  EXPECT_EQ(r->id()[14], '4');
  EXPECT_TRUE(r->type().empty());
  EXPECT_TRUE(r->source().empty());
  EXPECT_EQ(r->data(), "{}");
  auto again = RecordFromPublish(req);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->id(), r->id());
  // The stored id is what readers see, every time.
  StoredRecord s{.offset = 3, .record = *r};
  auto event = ToReceiveReply(s, "topic", 0, liiklus::ReceiveRequest::LIIKLUS_EVENT, false);
  EXPECT_EQ(event.liiklus_event_record().event().id(), r->id());
  EXPECT_EQ(event.liiklus_event_record().event().data(), "{}");
}

TEST(RecordFromPublish, KeepsAGivenIdAndEmptyTypeAndSource) {
  liiklus::PublishRequest req;
  req.mutable_liiklusevent()->set_id("given");
  auto r = RecordFromPublish(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id(), "given");
  EXPECT_TRUE(r->type().empty());
}

// riff's processor copies function headers into extensions as they are; liiklus stores them.
TEST(RecordFromPublish, RenamesInvalidExtensionNamesByTheHeaderRule) {
  liiklus::PublishRequest req;
  auto& ext = *req.mutable_liiklusevent()->mutable_extensions();
  ext["x-greeted-by"] = "runnel-greet";
  ext["Tenant"] = "acme";
  ext["traceparent"] = "00-ab";
  ext["h0x0already"] = "escaped upstream";
  auto r = RecordFromPublish(req);
  ASSERT_TRUE(r.ok()) << r.status();
  std::map<std::string, std::string> got(r->extensions().begin(), r->extensions().end());
  EXPECT_EQ(got, (std::map<std::string, std::string>{{"h0x0greeted0by", "runnel-greet"},
                                                     {"tenant", "acme"},
                                                     {"traceparent", "00-ab"},
                                                     {"h0x0already", "escaped upstream"}}));
}

TEST(RecordFromPublish, NamesDifferingOnlyInCaseBecomeOneExtensionDeterministically) {
  for (int i = 0; i < 2; ++i) {
    liiklus::PublishRequest req;
    auto& ext = *req.mutable_liiklusevent()->mutable_extensions();
    if (i == 0) {
      ext["tenant"] = "valid";
      ext["Tenant"] = "upper";
      ext["X-A"] = "X";
      ext["x-A"] = "x";
    } else {
      ext["x-A"] = "x";
      ext["X-A"] = "X";
      ext["Tenant"] = "upper";
      ext["tenant"] = "valid";
    }
    auto r = RecordFromPublish(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->extensions_size(), 2);
    EXPECT_EQ(r->extensions().at("tenant"), "valid");
    EXPECT_EQ(r->extensions().at("h0x0a"), "X");  // "X-A" sorts before "x-A".
  }
}

TEST(RecordFromPublish, LegacyValueBecomesRawRecord) {
  liiklus::PublishRequest req;
  req.set_value("raw");
  auto r = RecordFromPublish(req);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->id().empty());
  EXPECT_EQ(r->data(), "raw");
}

TEST(ToReceiveReply, BinaryOfAnEventIsStructuredJson) {
  StoredRecord s{.offset = 7};
  s.record.set_id("1");
  s.record.set_type("t");
  s.record.set_source("/s");
  s.record.set_data_content_type("application/json");
  s.record.set_data("{\"a\":1}");
  auto reply = ToReceiveReply(s, "topic", 0, liiklus::ReceiveRequest::BINARY, false);
  ASSERT_TRUE(reply.has_record());
  EXPECT_EQ(reply.record().offset(), 7u);
  EXPECT_NE(reply.record().value().find("\"data\":{\"a\":1}"), std::string::npos);
  EXPECT_NE(reply.record().value().find("\"specversion\":\"1.0\""), std::string::npos);
  auto event = ToReceiveReply(s, "topic", 0, liiklus::ReceiveRequest::LIIKLUS_EVENT, true);
  ASSERT_TRUE(event.has_liiklus_event_record());
  EXPECT_EQ(event.liiklus_event_record().event().data(), "{\"a\":1}");
  EXPECT_TRUE(event.liiklus_event_record().replay());
}

TEST(ConformContentType, FillsMissingAndRejectsMismatch) {
  StreamSpec json{.name = "s", .content_type = "application/json"};
  v1::Record r;
  r.set_id("1");
  ASSERT_TRUE(ConformContentType(json, r).ok());
  EXPECT_EQ(r.data_content_type(), "application/json");
  r.set_data_content_type("application/json; charset=utf-8");
  EXPECT_TRUE(ConformContentType(json, r).ok());
  r.set_data_content_type("text/plain");
  absl::Status s = ConformContentType(json, r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasReason(s, kReasonContentType));
  StreamSpec any{.name = "a", .content_type = "*/*"};
  EXPECT_TRUE(ConformContentType(any, r).ok());
  StreamSpec text{.name = "t", .content_type = "text/*"};
  EXPECT_TRUE(ConformContentType(text, r).ok());
}

}  // namespace
}  // namespace runnel::gateway
