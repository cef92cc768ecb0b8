#pragma once
// liiklus's semantics as pure functions: group ids, start positions, the replay flag, and the
// mapping between liiklus messages and stored records. No I/O; used by the gRPC and HTTP fronts.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/record_store.h"
#include "liiklus/LiiklusService.pb.h"

namespace runnel::gateway {

namespace liiklus = ::com::github::bsideup::liiklus;

// liiklus's GroupId: (group, version) when version != 0; otherwise the legacy form
// "<name>-v<digits>" is parsed into name and version, and any other name is unversioned.
GroupId ParseGroupId(absl::string_view group, uint32_t version);

// Where a group member starts reading `partition`, given every version's positions of the
// group's name: the positions of the member's own version when it has one, else those of the
// lowest stored version (liiklus's rule); acked + 1 if the partition has a position, else the
// auto_offset_reset rule.
StartAt GroupStart(const GroupPositions& positions, uint32_t version, Partition partition,
                   liiklus::SubscribeRequest::AutoOffsetReset reset);

// The highest offset acknowledged in `partition` by any version of the group, or -1. A record
// at or below it is a replay.
Offset LatestAcked(const GroupPositions& positions, Partition partition);

// Builds the stored record for a liiklus publish (both fronts' gRPC publishes: liiklus's Publish
// and runnel.v1 PublishBatches). The CloudEvent's attributes are kept, normalised the way
// liiklus clients need rather than refused: an event without an id gets a random one
// (NewEventId; an empty id means "raw bytes" to every store), a missing type or source stays
// empty, and an extension name CloudEvents does not allow is renamed by the header-name rule
// (common/header_names.h: "x-greeted-by" is stored as "h0x0greeted0by"; valid names, "h0..."
// included, are kept). A legacy `value` publish becomes a record with no id. Never fails today;
// the status is for checks to come.
absl::StatusOr<v1::Record> RecordFromPublish(const liiklus::PublishRequest& request);
// The same, moving the payload and attributes out of `request` rather than copying them.
absl::StatusOr<v1::Record> RecordFromPublish(liiklus::PublishRequest&& request);

// A fresh version-4 UUID: the id of an event published without one.
std::string NewEventId();

// The CloudEvent structured-mode JSON of a record (what BINARY readers get for events).
std::string StructuredJson(const v1::Record& record);

// The event view of a stored record. Legacy records become events with a derived id
// "<topic>-<partition>-<offset>", type "runnel.legacy" and content type
// application/octet-stream. Pass an rvalue to move the payload instead of copying it.
liiklus::LiiklusEvent ToEvent(v1::Record record, absl::string_view topic, Partition partition,
                              Offset offset);

// The reply a Receive in `format` sends for `stored` (moved from when passed an rvalue: the
// read path hands every record over once).
liiklus::ReceiveReply ToReceiveReply(StoredRecord stored, absl::string_view topic,
                                     Partition partition,
                                     liiklus::ReceiveRequest::ContentFormat format, bool replay);

// Status payload keys that let the HTTP front pick 415 and 413 over 400 and 429.
inline constexpr char kReasonPayload[] = "runnel.dev/reason";
inline constexpr char kReasonContentType[] = "content-type";
inline constexpr char kReasonTooLarge[] = "too-large";
absl::Status WithReason(absl::Status status, absl::string_view reason);
bool HasReason(const absl::Status& status, absl::string_view reason);

// Checks and completes a record's content type against its stream's: an empty one gets the
// stream's; otherwise its media type must be accepted by the stream's (INVALID_ARGUMENT).
absl::Status ConformContentType(const StreamSpec& stream, v1::Record& record);

}  // namespace runnel::gateway
