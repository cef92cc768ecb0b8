#pragma once
// How records cross the function boundary: an input record becomes a riff-rpc InputFrame, a
// function's OutputFrame becomes a record to publish, a failed record becomes a dead letter.
// One place for the header rules docs/function-authors.md states (common/header_names.h): the
// key travels as "x-runnel-key", CloudEvent extensions as header names, and what the processor
// adds (event time, window bounds, update marks) as "x-runnel-*" headers on inputs and
// "runnel*" extensions on outputs. Pure.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "riff/riff-rpc.pb.h"
#include "sidecar/gateway_client.h"

namespace runnel::sidecar {

// Headers the processor adds to input frames.
inline constexpr char kEventTimeHeader[] = "x-runnel-event-time";
inline constexpr char kWindowStartHeader[] = "x-runnel-window-start";
inline constexpr char kWindowEndHeader[] = "x-runnel-window-end";
inline constexpr char kUpdateHeader[] = "x-runnel-update";

// What the processor knows about the window a frame belongs to.
struct FrameContext {
  std::optional<absl::Time> event_time;  // The record's event time (event-time processors).
  std::string window_start;  // Event-time windows: the bounds, formatted once per window.
  std::string window_end;
  bool update = false;  // A refire of late records.
};

// `record` as the function sees it: payload, content type (octet-stream when none), its
// extensions under their header names, its key (when it has one) under kKeyHeader, and the
// context headers.
streaming::InputFrame ToFrame(const InputRecord& record, const std::string& key,
                              const FrameContext& context);

// How an output record is stamped.
struct OutputContext {
  std::string source;     // CloudEvent source: the processor's name.
  std::string id;         // CloudEvent id; empty: a random one.
  absl::Time time;        // CloudEvent time.
  std::string time_text;  // When set, the CloudEvent time as it is (an input's, unparsed).
  // The key when the function set none; nullopt leaves the record without a key.
  std::optional<std::string> key;
  std::optional<absl::Time> window_start;  // Extensions runnelwindowstart/runnelwindowend.
  std::optional<absl::Time> window_end;
  bool update = false;  // Extension runnelupdate=true.
};

// The function's output `frame` as a record to publish: headers become extensions
// (ExtensionName), except kKeyHeader (and the legacy "key"), which become the key.
liiklus::PublishRequest ToPublish(streaming::OutputFrame frame, const OutputContext& context);

// Whether the function set a key on `frame`.
bool HasKeyHeader(const streaming::OutputFrame& frame);

// Where a dead letter came from and why.
struct DeadLetterContext {
  std::string error;
  int attempts = 0;
  std::string stream;  // The input stream's name.
  std::string processor;
  std::map<std::string, std::string> detail;  // Extra extensions (e.g. runnelhttpstatus).
};
// `record` unchanged (key, event) plus runnelerror, runnelattempts, runnelstream,
// runnelpartition, runneloffset, runnelprocessor extensions.
liiklus::PublishRequest ToDeadLetter(const InputRecord& record, const DeadLetterContext& context);

// A random (version 4) UUID in its text form.
std::string NewEventId();
// A name-based UUID (hash of `name`): the same outputs of the same window get the same id on
// every replay, so consumers can drop duplicates.
std::string StableEventId(const std::string& name);

}  // namespace runnel::sidecar
