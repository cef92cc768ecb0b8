#include "gateway/receive_encoder.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "google/protobuf/util/message_differencer.h"
#include "runnel/v1/gateway.pb.h"

namespace runnel::gateway {
namespace {

using google::protobuf::util::MessageDifferencer;

StoredRecord Raw(Offset offset, std::string data, std::string key = "", int64_t ts = 0) {
  StoredRecord s{.offset = offset};
  s.record.set_data(std::move(data));
  s.record.set_key(std::move(key));
  s.record.set_timestamp_ms(ts);
  return s;
}

StoredRecord Event(Offset offset, std::string data) {
  StoredRecord s{.offset = offset};
  v1::Record& r = s.record;
  r.set_data(std::move(data));
  r.set_key("k");
  r.set_timestamp_ms(1'764'590'000'123);
  r.set_id("id-1");
  r.set_type("com.example.order");
  r.set_source("/orders");
  r.set_time("2026-12-01T12:00:00Z");
  r.set_data_content_type("application/json");
  (*r.mutable_extensions())["traceparent"] = "00-abc-def-01";
  (*r.mutable_extensions())["empty"] = "";
  return s;
}

// Records covering every branch: raw bytes (empty, keyed, offset 0, negative and large
// timestamps, a payload longer than one varint byte of length) and events (all attributes,
// none but the required ones).
std::vector<StoredRecord> Records() {
  std::vector<StoredRecord> out;
  out.push_back(Raw(0, "", "", 0));
  out.push_back(Raw(1, "payload", "key", 1'764'590'000'999));
  out.push_back(Raw(2, std::string(300, 'x'), "", -1));
  out.push_back(Raw(int64_t{1} << 40, "late", "", 5));
  out.push_back(Event(7, R"({"n":1})"));
  StoredRecord bare{.offset = 8};
  bare.record.set_id("i");
  bare.record.set_type("t");
  bare.record.set_source("s");
  out.push_back(std::move(bare));
  return out;
}

// What the reply-building path (ToReceiveReply and protobuf) makes of `records`.
v1::ReceiveBatchesReply Expected(const std::vector<StoredRecord>& records,
                                 const ReceiveContext& context) {
  v1::ReceiveBatchesReply reply;
  for (const StoredRecord& r : records) {
    *reply.add_records() = ToReceiveReply(r, context.topic, context.partition, context.format,
                                          r.offset <= context.latest_acked);
  }
  return reply;
}

class ReceiveEncoderTest
    : public ::testing::TestWithParam<liiklus::ReceiveRequest::ContentFormat> {};

TEST_P(ReceiveEncoderTest, BatchParsesToTheRepliesToReceiveReplyBuilds) {
  const std::vector<StoredRecord> records = Records();
  const RecordBatch batch = RecordBatch::FromStored(records);
  for (Offset acked : {Offset{-1}, Offset{1}, Offset{100}}) {
    const ReceiveContext context{
        .topic = "orders", .partition = 3, .format = GetParam(), .latest_acked = acked};
    v1::ReceiveBatchesReply got;
    ASSERT_TRUE(got.ParseFromString(EncodeReceiveBatchesReply(batch.records(), context)));
    std::string diff;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differencer.Compare(Expected(records, context), got)) << diff;
  }
}

TEST_P(ReceiveEncoderTest, SingleRepliesParseToWhatToReceiveReplyBuilds) {
  const ReceiveContext context{.topic = "orders", .partition = 0, .format = GetParam(),
                               .latest_acked = 1};
  for (const StoredRecord& r : Records()) {
    RecordBatch batch = RecordBatch::FromStored({r});
    liiklus::ReceiveReply got;
    ASSERT_TRUE(got.ParseFromString(EncodeReceiveReply(batch.records()[0], context)));
    EXPECT_TRUE(MessageDifferencer::Equals(
        ToReceiveReply(r, context.topic, context.partition, context.format, r.offset <= 1), got))
        << "offset " << r.offset << ": " << got.DebugString();
  }
}

TEST_P(ReceiveEncoderTest, RecordsWithoutExtensionsEncodeAsProtobufWouldByteForByte) {
  // With no map field the serialization is deterministic: the bytes themselves must match.
  std::vector<StoredRecord> records = Records();
  for (StoredRecord& r : records) r.record.clear_extensions();
  const RecordBatch batch = RecordBatch::FromStored(records);
  const ReceiveContext context{.topic = "t", .partition = 1, .format = GetParam(),
                               .latest_acked = 1};
  EXPECT_EQ(EncodeReceiveBatchesReply(batch.records(), context),
            Expected(records, context).SerializeAsString());
}

INSTANTIATE_TEST_SUITE_P(Formats, ReceiveEncoderTest,
                         ::testing::Values(liiklus::ReceiveRequest::BINARY,
                                           liiklus::ReceiveRequest::LIIKLUS_EVENT));

TEST(ReceiveEncoder, EmptyBatchIsAnEmptyReply) {
  EXPECT_EQ(EncodeReceiveBatchesReply({}, ReceiveContext{}), "");
}

TEST(RecordBatch, BuilderCopiesEveryFieldAndSurvivesSmallHintsAndMoves) {
  const std::vector<StoredRecord> records = Records();
  const RecordBatch source = RecordBatch::FromStored(records);
  RecordBatch::Builder builder(/*records_hint=*/1, /*bytes_hint=*/1);
  for (const RecordView& v : source.records()) builder.Add(v);
  RecordBatch built = std::move(builder).Finish();
  RecordBatch moved = std::move(built);
  ASSERT_EQ(moved.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const StoredRecord copy = ToStoredRecord(moved.records()[i]);
    EXPECT_EQ(copy.offset, records[i].offset);
    EXPECT_TRUE(MessageDifferencer::Equals(copy.record, records[i].record))
        << copy.record.DebugString();
  }
}

}  // namespace
}  // namespace runnel::gateway
