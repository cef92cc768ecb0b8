#include "gateway/receive_encoder.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/logging.h"
#include "google/protobuf/io/coded_stream.h"

namespace runnel::gateway {
namespace {

using google::protobuf::io::CodedOutputStream;

// Field numbers of the messages written here (proto/liiklus/LiiklusService.proto,
// proto/runnel/v1/gateway.proto, google/protobuf/timestamp.proto).
constexpr uint32_t kBatchRecords = 1;       // ReceiveBatchesReply.records
constexpr uint32_t kReplyRecord = 1;        // ReceiveReply.record
constexpr uint32_t kReplyEventRecord = 2;   // ReceiveReply.liiklus_event_record
constexpr uint32_t kRecordOffset = 1;       // ReceiveReply.Record and .LiiklusEventRecord
constexpr uint32_t kRecordKey = 2;
constexpr uint32_t kRecordValue = 3;        // ReceiveReply.Record.value
constexpr uint32_t kRecordEvent = 3;        // ReceiveReply.LiiklusEventRecord.event
constexpr uint32_t kRecordTimestamp = 4;
constexpr uint32_t kRecordReplay = 5;
constexpr uint32_t kEventId = 1;            // LiiklusEvent
constexpr uint32_t kEventType = 2;
constexpr uint32_t kEventSource = 3;
constexpr uint32_t kEventTime = 5;
constexpr uint32_t kEventDataContentType = 100;
constexpr uint32_t kEventData = 101;
constexpr uint32_t kEventExtensions = 200;
constexpr uint32_t kMapKey = 1;             // A map entry.
constexpr uint32_t kMapValue = 2;
constexpr uint32_t kTimestampSeconds = 1;   // google.protobuf.Timestamp
constexpr uint32_t kTimestampNanos = 2;

constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;

constexpr uint32_t Tag(uint32_t field, uint32_t wire_type) { return field << 3 | wire_type; }

size_t VarintSize(uint64_t v) { return CodedOutputStream::VarintSize64(v); }

// A length-delimited field of `size` bytes, tag included.
size_t DelimitedSize(uint32_t field, size_t size) {
  return CodedOutputStream::VarintSize32(Tag(field, kLengthDelimited)) + VarintSize(size) + size;
}
// A proto3 bytes/string field: absent when empty.
size_t OptionalSize(uint32_t field, absl::string_view bytes) {
  return bytes.empty() ? 0 : DelimitedSize(field, bytes.size());
}
// A proto3 integer field: absent when zero. Negative values take ten bytes, as protobuf writes
// int32 and int64 alike.
size_t OptionalVarintSize(uint32_t field, int64_t v) {
  return v == 0 ? 0 : CodedOutputStream::VarintSize32(Tag(field, kVarint)) +
                          VarintSize(static_cast<uint64_t>(v));
}

// A google.protobuf.Timestamp from milliseconds, as ToReceiveReply() converts them.
struct Timestamp {
  explicit Timestamp(int64_t ms)
      : seconds(ms / 1000), nanos(static_cast<int32_t>(ms % 1000) * 1'000'000) {}
  size_t Size() const {
    return OptionalVarintSize(kTimestampSeconds, seconds) +
           OptionalVarintSize(kTimestampNanos, nanos);
  }
  int64_t seconds;
  int32_t nanos;
};

class Writer {
 public:
  explicit Writer(char* at) : at_(reinterpret_cast<uint8_t*>(at)) {}

  char* at() const { return reinterpret_cast<char*>(at_); }

  void Header(uint32_t field, size_t size) {
    at_ = CodedOutputStream::WriteVarint32ToArray(Tag(field, kLengthDelimited), at_);
    at_ = CodedOutputStream::WriteVarint64ToArray(size, at_);
  }
  void Bytes(uint32_t field, absl::string_view bytes) {
    Header(field, bytes.size());
    Raw(bytes);
  }
  void OptionalBytes(uint32_t field, absl::string_view bytes) {
    if (!bytes.empty()) Bytes(field, bytes);
  }
  void OptionalVarint(uint32_t field, int64_t v) {
    if (v == 0) return;
    at_ = CodedOutputStream::WriteVarint32ToArray(Tag(field, kVarint), at_);
    at_ = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(v), at_);
  }
  void WriteTimestamp(uint32_t field, const Timestamp& ts) {
    Header(field, ts.Size());
    OptionalVarint(kTimestampSeconds, ts.seconds);
    OptionalVarint(kTimestampNanos, ts.nanos);
  }
  void Raw(absl::string_view bytes) {
    if (bytes.empty()) return;
    std::memcpy(at_, bytes.data(), bytes.size());
    at_ += bytes.size();
  }

 private:
  uint8_t* at_;
};

// One record's reply, measured once and written once.
class ReplyPlan {
 public:
  ReplyPlan(const RecordView& r, const ReceiveContext& context)
      : record_(&r), timestamp_(r.timestamp_ms), replay_(r.offset <= context.latest_acked) {
    const bool event = !r.id.empty();
    if (context.format == liiklus::ReceiveRequest::BINARY && !event) {
      // ReceiveReply.Record: the raw bytes as the value.
      kind_ = Kind::kValue;
      inner_ = OptionalVarintSize(kRecordOffset, r.offset) + OptionalSize(kRecordKey, r.key) +
               OptionalSize(kRecordValue, r.data) +
               DelimitedSize(kRecordTimestamp, timestamp_.Size()) + (replay_ ? 2 : 0);
      reply_ = DelimitedSize(kReplyRecord, inner_);
    } else if (context.format == liiklus::ReceiveRequest::LIIKLUS_EVENT && event) {
      // ReceiveReply.LiiklusEventRecord with the event's attributes.
      kind_ = Kind::kEvent;
      event_ = OptionalSize(kEventId, r.id) + OptionalSize(kEventType, r.type) +
               OptionalSize(kEventSource, r.source) + OptionalSize(kEventTime, r.time) +
               OptionalSize(kEventDataContentType, r.data_content_type) +
               OptionalSize(kEventData, r.data);
      for (const auto& [name, value] : r.extensions) {
        // Map entries carry key and value even when empty, as protobuf writes them.
        event_ += DelimitedSize(kEventExtensions, DelimitedSize(kMapKey, name.size()) +
                                                      DelimitedSize(kMapValue, value.size()));
      }
      inner_ = OptionalVarintSize(kRecordOffset, r.offset) + OptionalSize(kRecordKey, r.key) +
               DelimitedSize(kRecordEvent, event_) +
               DelimitedSize(kRecordTimestamp, timestamp_.Size()) + (replay_ ? 2 : 0);
      reply_ = DelimitedSize(kReplyEventRecord, inner_);
    } else {
      // Structured-mode JSON or a derived event: rare, and costly anyway; protobuf writes it.
      kind_ = Kind::kSerialized;
      serialized_ = ToReceiveReply(ToStoredRecord(r), context.topic, context.partition,
                                   context.format, replay_)
                        .SerializeAsString();
      reply_ = serialized_.size();
    }
  }

  // The serialized ReceiveReply's size.
  size_t size() const { return reply_; }

  void Write(Writer& w) const {
    const RecordView& r = *record_;
    switch (kind_) {
      case Kind::kValue:
        w.Header(kReplyRecord, inner_);
        w.OptionalVarint(kRecordOffset, r.offset);
        w.OptionalBytes(kRecordKey, r.key);
        w.OptionalBytes(kRecordValue, r.data);
        w.WriteTimestamp(kRecordTimestamp, timestamp_);
        if (replay_) w.OptionalVarint(kRecordReplay, 1);
        break;
      case Kind::kEvent:
        w.Header(kReplyEventRecord, inner_);
        w.OptionalVarint(kRecordOffset, r.offset);
        w.OptionalBytes(kRecordKey, r.key);
        w.Header(kRecordEvent, event_);
        w.OptionalBytes(kEventId, r.id);
        w.OptionalBytes(kEventType, r.type);
        w.OptionalBytes(kEventSource, r.source);
        w.OptionalBytes(kEventTime, r.time);
        w.OptionalBytes(kEventDataContentType, r.data_content_type);
        w.OptionalBytes(kEventData, r.data);
        for (const auto& [name, value] : r.extensions) {
          w.Header(kEventExtensions,
                   DelimitedSize(kMapKey, name.size()) + DelimitedSize(kMapValue, value.size()));
          w.Bytes(kMapKey, name);
          w.Bytes(kMapValue, value);
        }
        w.WriteTimestamp(kRecordTimestamp, timestamp_);
        if (replay_) w.OptionalVarint(kRecordReplay, 1);
        break;
      case Kind::kSerialized:
        w.Raw(serialized_);
        break;
    }
  }

 private:
  enum class Kind { kValue, kEvent, kSerialized };

  const RecordView* record_;
  Timestamp timestamp_;
  bool replay_;
  Kind kind_;
  size_t event_ = 0;  // kEvent: the LiiklusEvent's size.
  size_t inner_ = 0;  // The Record or LiiklusEventRecord's size.
  size_t reply_ = 0;  // The ReceiveReply's size.
  std::string serialized_;  // kSerialized only.
};

// A string of `size` bytes to be overwritten.
std::string Uninitialized(size_t size) {
  std::string out;
  out.resize(size);
  return out;
}

}  // namespace

std::string EncodeReceiveBatchesReply(absl::Span<const RecordView> records,
                                      const ReceiveContext& context) {
  std::vector<ReplyPlan> plans;
  plans.reserve(records.size());
  size_t size = 0;
  for (const RecordView& r : records) {
    plans.emplace_back(r, context);
    size += DelimitedSize(kBatchRecords, plans.back().size());
  }
  std::string out = Uninitialized(size);
  Writer w(out.data());
  for (const ReplyPlan& plan : plans) {
    w.Header(kBatchRecords, plan.size());
    plan.Write(w);
  }
  // The sizes above and the bytes written must agree, or the reply is garbage.
  RUNNEL_CHECK(w.at() == out.data() + out.size()) << "receive reply size mismatch";
  return out;
}

std::string EncodeReceiveReply(const RecordView& record, const ReceiveContext& context) {
  const ReplyPlan plan(record, context);
  std::string out = Uninitialized(plan.size());
  Writer w(out.data());
  plan.Write(w);
  RUNNEL_CHECK(w.at() == out.data() + out.size()) << "receive reply size mismatch";
  return out;
}

}  // namespace runnel::gateway
