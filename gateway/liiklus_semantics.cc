#include "gateway/liiklus_semantics.h"

#include <algorithm>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/header_names.h"
#include "common/media_type.h"

namespace runnel::gateway {

GroupId ParseGroupId(absl::string_view group, uint32_t version) {
  if (version != 0) {
    return {std::string(group), version};
  }
  // liiklus's pattern ^(.*)-v(\d+)$: the last "-v" followed only by digits.
  const size_t at = group.rfind("-v");
  if (at != absl::string_view::npos && at + 2 < group.size()) {
    absl::string_view digits = group.substr(at + 2);
    uint32_t parsed = 0;
    if (std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) &&
        absl::SimpleAtoi(digits, &parsed)) {
      return {std::string(group.substr(0, at)), parsed};
    }
  }
  return {std::string(group), 0};
}

StartAt GroupStart(const GroupPositions& positions, uint32_t version, Partition partition,
                   liiklus::SubscribeRequest::AutoOffsetReset reset) {
  const std::map<Partition, Offset>* chosen = nullptr;
  if (version != 0) {
    auto it = positions.find(version);
    if (it != positions.end()) chosen = &it->second;
  } else if (!positions.empty()) {
    chosen = &positions.begin()->second;  // The lowest version; 0 (unversioned) sorts first.
  }
  if (chosen != nullptr) {
    auto it = chosen->find(partition);
    if (it != chosen->end()) {
      return StartAt::At(it->second + 1);
    }
  }
  return reset == liiklus::SubscribeRequest::LATEST ? StartAt::Latest() : StartAt::Earliest();
}

Offset LatestAcked(const GroupPositions& positions, Partition partition) {
  Offset latest = -1;
  for (const auto& [version, offsets] : positions) {
    auto it = offsets.find(partition);
    if (it != offsets.end()) latest = std::max(latest, it->second);
  }
  return latest;
}

namespace {

// Renames extensions CloudEvents would refuse (riff's processor copies function headers such as
// "x-greeted-by" into extensions unchanged) by the header-name rule. Valid names are kept as
// they are, even "h0..." ones: those are what ExtensionName wrote upstream (runnel-processor, the
// CLI), and escaping them again would change the header they present as.
void NormaliseExtensionNames(google::protobuf::Map<std::string, std::string>& extensions) {
  std::vector<std::string> invalid;
  for (const auto& [name, value] : extensions) {
    if (!IsExtensionName(name)) invalid.push_back(name);
  }
  if (invalid.empty()) return;
  // Names that differ only in case become one extension: the one already valid wins, then the
  // first in byte order, so the outcome does not depend on the map's iteration order.
  std::sort(invalid.begin(), invalid.end());
  for (const std::string& name : invalid) {
    auto it = extensions.find(name);
    std::string value = std::move(it->second);
    extensions.erase(it);
    extensions.try_emplace(ExtensionName(name), std::move(value));
  }
}

}  // namespace

std::string NewEventId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  // A version-4 UUID.
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         ((b >> 48) & 0x3fff) | 0x8000, b & 0xffffffffffffull);
}

absl::StatusOr<v1::Record> RecordFromPublish(const liiklus::PublishRequest& request) {
  return RecordFromPublish(liiklus::PublishRequest(request));
}

absl::StatusOr<v1::Record> RecordFromPublish(liiklus::PublishRequest&& request) {
  v1::Record record;
  record.set_key(std::move(*request.mutable_key()));
  if (request.has_liiklusevent()) {
    liiklus::LiiklusEvent& e = *request.mutable_liiklusevent();
    // liiklus stores events without id, type or source, and riff's clients rely on it. An empty
    // id marks a raw `value` record in every store, so an event gets one here: stored with the
    // record, every reader sees the same id on every read. Type and source stay as published.
    if (e.id().empty()) e.set_id(NewEventId());
    // Moved, not copied: the publish path handles every record's payload once.
    record.set_id(std::move(*e.mutable_id()));
    record.set_type(std::move(*e.mutable_type()));
    record.set_source(std::move(*e.mutable_source()));
    record.set_time(std::move(*e.mutable_time()));
    record.set_data_content_type(std::move(*e.mutable_data_content_type()));
    record.set_data(std::move(*e.mutable_data()));
    if (!e.extensions().empty()) {
      record.mutable_extensions()->swap(*e.mutable_extensions());
      NormaliseExtensionNames(*record.mutable_extensions());
    }
  } else {
    // liiklus deprecated `value`, but old clients still publish raw bytes this way.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    record.set_data(std::move(*request.mutable_value()));
#pragma GCC diagnostic pop
  }
  return record;
}

std::string StructuredJson(const v1::Record& record) {
  nlohmann::json j;
  j["specversion"] = "1.0";
  j["id"] = record.id();
  j["type"] = record.type();
  j["source"] = record.source();
  if (!record.time().empty()) j["time"] = record.time();
  if (!record.data_content_type().empty()) j["datacontenttype"] = record.data_content_type();
  for (const auto& [k, v] : record.extensions()) j[k] = v;
  // Structured mode carries JSON data inline, text as a string and anything else in base64.
  const std::string& ct = record.data_content_type();
  bool inlined = false;
  if (ct.find("json") != std::string::npos) {
    auto parsed = nlohmann::json::parse(record.data(), nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) {
      j["data"] = std::move(parsed);
      inlined = true;
    }
  }
  if (!inlined) {
    if (absl::StartsWith(ct, "text/")) {
      j["data"] = record.data();
    } else {
      j["data_base64"] = absl::Base64Escape(record.data());
    }
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

liiklus::LiiklusEvent ToEvent(v1::Record record, absl::string_view topic, Partition partition,
                              Offset offset) {
  liiklus::LiiklusEvent e;
  if (record.id().empty()) {
    e.set_id(absl::StrCat(topic, "-", partition, "-", offset));
    e.set_type("runnel.legacy");
    e.set_source(absl::StrCat("/runnel/streams/", topic));
    e.set_data_content_type("application/octet-stream");
  } else {
    e.set_id(std::move(*record.mutable_id()));
    e.set_type(std::move(*record.mutable_type()));
    e.set_source(std::move(*record.mutable_source()));
    e.set_time(std::move(*record.mutable_time()));
    e.set_data_content_type(std::move(*record.mutable_data_content_type()));
    if (!record.extensions().empty()) e.mutable_extensions()->swap(*record.mutable_extensions());
  }
  e.set_data(std::move(*record.mutable_data()));
  return e;
}

liiklus::ReceiveReply ToReceiveReply(StoredRecord stored, absl::string_view topic,
                                     Partition partition,
                                     liiklus::ReceiveRequest::ContentFormat format, bool replay) {
  liiklus::ReceiveReply reply;
  google::protobuf::Timestamp ts;
  ts.set_seconds(stored.record.timestamp_ms() / 1000);
  ts.set_nanos(static_cast<int32_t>(stored.record.timestamp_ms() % 1000) * 1'000'000);
  if (format == liiklus::ReceiveRequest::LIIKLUS_EVENT) {
    auto* r = reply.mutable_liiklus_event_record();
    r->set_offset(static_cast<uint64_t>(stored.offset));
    r->set_key(std::move(*stored.record.mutable_key()));
    *r->mutable_event() = ToEvent(std::move(stored.record), topic, partition, stored.offset);
    *r->mutable_timestamp() = ts;
    r->set_replay(replay);
  } else {
    auto* r = reply.mutable_record();
    r->set_offset(static_cast<uint64_t>(stored.offset));
    r->set_key(std::move(*stored.record.mutable_key()));
    r->set_value(stored.record.id().empty() ? std::move(*stored.record.mutable_data())
                                            : StructuredJson(stored.record));
    *r->mutable_timestamp() = ts;
    r->set_replay(replay);
  }
  return reply;
}

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  status.SetPayload(kReasonPayload, absl::Cord(reason));
  return status;
}

bool HasReason(const absl::Status& status, absl::string_view reason) {
  auto payload = status.GetPayload(kReasonPayload);
  return payload.has_value() && *payload == reason;
}

absl::Status ConformContentType(const StreamSpec& stream, v1::Record& record) {
  if (record.id().empty()) {
    return absl::OkStatus();  // Legacy raw bytes: no content type to check.
  }
  if (record.data_content_type().empty()) {
    if (stream.content_type != "*/*") record.set_data_content_type(stream.content_type);
    return absl::OkStatus();
  }
  // The common case, a record carrying exactly its stream's type, needs no parsing (this runs
  // for every published record).
  if (record.data_content_type() == stream.content_type) {
    return absl::OkStatus();
  }
  auto declared = ParseMediaType(stream.content_type);
  auto actual = ParseMediaType(record.data_content_type());
  if (!actual.ok()) {
    return WithReason(absl::InvalidArgumentError(
                          absl::StrCat("record content type: ", actual.status().message())),
                      kReasonContentType);
  }
  if (declared.ok() && !MediaTypeAccepts(*declared, *actual)) {
    return WithReason(absl::InvalidArgumentError(absl::StrCat(
                          "content type '", record.data_content_type(), "' does not match stream '",
                          stream.name, "', which carries '", stream.content_type, "'")),
                      kReasonContentType);
  }
  return absl::OkStatus();
}

}  // namespace runnel::gateway
