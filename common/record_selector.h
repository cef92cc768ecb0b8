#pragma once
// What a processor reads out of a record besides its payload: the key it groups by (--key-by) and
// the event time it windows on (--event-time). Shared by runnel-processor, which applies them to
// every record, and the runnel CLI, which checks them when a processor is created. Pure.
//
// Key selectors (--key-by):
//   "key"                    the key the record was published with: windows per published key
//   "/licenseId", "/a/b/0"   a JSON Pointer (RFC 6901, "~0" and "~1" escapes) into the JSON payload
//   ".licenseId", ".a.b"     Argo Streams' shorthand for the same ("/licenseId", "/a/b")
//   "ce:subject", "ce:NAME"  a CloudEvent attribute: id, source, type, subject, time, or an
//                            extension NAME
// A string value is the key as it is; a number, boolean or null is its JSON text; an object or
// array is refused.
//
// Event-time selectors (--event-time):
//   "arrival" (default)      processing time: when the processor reads the record (windows as
//                            before event time existed; no watermarks, no late records)
//   "cloudevent"             the CloudEvent `time` attribute (RFC 3339)
//   "broker"                 the time the gateway's store stamped on the record
//   "/ts", ".ts"             a JSON Pointer into the payload: an RFC 3339 string, or a number of
//                            milliseconds since the Unix epoch
// A record whose key or time cannot be read is that record's error (the processor dead-letters
// it with the message), never the processor's.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "liiklus/LiiklusService.pb.h"

namespace runnel {

// The parts of a received record a selector may read. Views: valid while the record is.
struct RecordView {
  std::string_view key;
  const ::com::github::bsideup::liiklus::LiiklusEvent* event = nullptr;  // Never null.
  absl::Time broker_time = absl::InfinitePast();  // InfinitePast: the store gave none.
};

class KeySelector {
 public:
  // An empty selector: records keep the key they were published with.
  KeySelector() = default;
  // INVALID_ARGUMENT naming `spec` and the grammar when it is not one of the forms above.
  static absl::StatusOr<KeySelector> Parse(std::string_view spec);

  bool empty() const { return kind_ == Kind::kNone; }
  // Whether it gives records a key other than the one they were published with (a pointer or an
  // attribute): records of one key may then sit in any partition.
  bool rekeys() const { return kind_ == Kind::kPointer || kind_ == Kind::kAttribute; }
  // The canonical spec ("/a/b" for ".a.b"); "" when empty.
  std::string spec() const;
  // The key of `record`: INVALID_ARGUMENT when the payload is not JSON or lacks the field, or
  // the field is an object or array; NOT_FOUND when the attribute is absent.
  absl::StatusOr<std::string> Select(const RecordView& record) const;

 private:
  enum class Kind { kNone, kRecordKey, kPointer, kAttribute };
  Kind kind_ = Kind::kNone;
  std::vector<std::string> pointer_;  // Unescaped reference tokens.
  std::string attribute_;
};

class TimeSelector {
 public:
  enum class Kind { kArrival, kCloudEvent, kBroker, kPointer };
  TimeSelector() = default;  // Arrival.
  static absl::StatusOr<TimeSelector> Parse(std::string_view spec);

  Kind kind() const { return kind_; }
  bool arrival() const { return kind_ == Kind::kArrival; }
  std::string spec() const;
  // The event time of `record`. REQUIRES: !arrival(). INVALID_ARGUMENT when it is missing or
  // unreadable, naming what was expected.
  absl::StatusOr<absl::Time> Select(const RecordView& record) const;

 private:
  Kind kind_ = Kind::kArrival;
  std::vector<std::string> pointer_;
};

// Parses an RFC 3339 time ("2026-12-04T10:00:00Z", fractions and offsets allowed).
absl::StatusOr<absl::Time> ParseRfc3339(std::string_view text);
// RFC 3339 with milliseconds in UTC ("2026-12-04T10:00:00.250Z"): the form the processor writes
// for window bounds and output event times.
std::string FormatRfc3339Millis(absl::Time t);

}  // namespace runnel
