#include "sidecar/record_mapping.h"

#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/header_names.h"
#include "common/record_selector.h"

namespace runnel::sidecar {
namespace {

std::string FormatUuid(uint64_t hi, uint64_t lo) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int pos = 0;
  auto put = [&](uint64_t bits, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) id[pos++] = kHex[(bits >> (4 * i)) & 0xf];
  };
  put(hi >> 32, 8);
  ++pos;
  put(hi >> 16, 4);
  ++pos;
  put(hi, 4);
  ++pos;
  put(lo >> 48, 4);
  ++pos;
  put(lo, 12);
  return id;
}

bool IsKeyHeader(const std::string& name) {
  return absl::EqualsIgnoreCase(absl::string_view(name), kKeyHeader) ||
         absl::EqualsIgnoreCase(name, "key");
}

}  // namespace

std::string NewEventId() {
  // Written by hand: it runs once per output record.
  thread_local std::mt19937_64 random{std::random_device{}()};
  uint64_t hi = random(), lo = random();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // Version 4.
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // Variant 1.
  return FormatUuid(hi, lo);
}

std::string StableEventId(const std::string& name) {
  // Two FNV-1a 64 passes with different offsets: stable across builds and platforms (unlike
  // std::hash), and collisions among one processor's outputs are out of reach.
  uint64_t hi = 0xcbf29ce484222325ULL, lo = 0x84222325cbf29ce4ULL;
  for (unsigned char c : name) {
    hi = (hi ^ c) * 0x100000001b3ULL;
    lo = (lo ^ c) * 0x100000001b3ULL;
    lo ^= lo >> 29;
  }
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000008000ULL;  // Version 8 (custom).
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return FormatUuid(hi, lo);
}

streaming::InputFrame ToFrame(const InputRecord& record, const std::string& key,
                              const FrameContext& context) {
  streaming::InputFrame frame;
  frame.set_payload(record.event.data());
  frame.set_contenttype(record.event.data_content_type().empty()
                            ? "application/octet-stream"
                            : record.event.data_content_type());
  frame.set_argindex(record.input);
  auto& headers = *frame.mutable_headers();
  for (const auto& [name, value] : record.event.extensions()) {
    std::string header = HeaderName(name);
    // x-runnel-* headers are the processor's: an extension that decodes to one ("h0x0runnel0key")
    // must not pass for the record's key or window.
    if (absl::StartsWith(header, "x-runnel-")) continue;
    headers[std::move(header)] = value;
  }
  if (!key.empty()) headers[kKeyHeader] = key;
  if (context.event_time) headers[kEventTimeHeader] = FormatRfc3339Millis(*context.event_time);
  if (!context.window_start.empty()) headers[kWindowStartHeader] = context.window_start;
  if (!context.window_end.empty()) headers[kWindowEndHeader] = context.window_end;
  if (context.update) headers[kUpdateHeader] = "true";
  return frame;
}

bool HasKeyHeader(const streaming::OutputFrame& frame) {
  for (const auto& [name, value] : frame.headers()) {
    if (IsKeyHeader(name)) return true;
  }
  return false;
}

liiklus::PublishRequest ToPublish(streaming::OutputFrame frame, const OutputContext& context) {
  liiklus::PublishRequest request;
  liiklus::LiiklusEvent& event = *request.mutable_liiklusevent();
  event.set_id(context.id.empty() ? NewEventId() : context.id);
  event.set_type("riff-event");
  event.set_source(context.source);
  event.set_time(context.time_text.empty() ? FormatRfc3339Millis(context.time) : context.time_text);
  event.set_data_content_type(frame.contenttype());
  event.set_data(std::move(*frame.mutable_payload()));
  if (context.key) request.set_key(*context.key);
  auto& ext = *event.mutable_extensions();
  for (auto& [name, value] : *frame.mutable_headers()) {
    if (IsKeyHeader(name)) {
      request.set_key(value);  // The function's own key wins over the inherited one.
    } else {
      ext[ExtensionName(name)] = value;
    }
  }
  if (context.window_start) ext["runnelwindowstart"] = FormatRfc3339Millis(*context.window_start);
  if (context.window_end) ext["runnelwindowend"] = FormatRfc3339Millis(*context.window_end);
  if (context.update) ext["runnelupdate"] = "true";
  return request;
}

liiklus::PublishRequest ToDeadLetter(const InputRecord& record, const DeadLetterContext& context) {
  liiklus::PublishRequest request;
  request.set_key(record.key);
  liiklus::LiiklusEvent& event = *request.mutable_liiklusevent();
  event = record.event;
  auto& ext = *event.mutable_extensions();
  ext.insert(context.detail.begin(), context.detail.end());
  ext["runnelerror"] = context.error;
  ext["runnelattempts"] = absl::StrCat(context.attempts);
  ext["runnelstream"] = context.stream;
  ext["runnelpartition"] = absl::StrCat(record.partition);
  ext["runneloffset"] = absl::StrCat(record.offset);
  ext["runnelprocessor"] = context.processor;
  return request;
}

}  // namespace runnel::sidecar
