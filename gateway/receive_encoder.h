#pragma once
// The receive paths' replies (liiklus ReceiveReply, runnel.v1 ReceiveBatchesReply), serialized
// straight from a store's RecordViews: the bytes protobuf would write for the replies
// ToReceiveReply() builds, without a v1::Record, a reply message or a heap string per record on
// the way (docs/perf/kafka.md). Pure functions: no I/O, no gRPC; gateway/partition_stream.h
// hands the bytes to gRPC.
//
// The two hot shapes are written field by field: BINARY replies of records without an id (raw
// bytes), and LIIKLUS_EVENT replies of events (what the sidecar reads). The rest (BINARY of an
// event: structured-mode JSON; LIIKLUS_EVENT of raw bytes: a derived id) goes through
// ToReceiveReply() and protobuf, one record at a time.

#include <string>

#include "absl/types/span.h"
#include "gateway/liiklus_semantics.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

// What the replies of one receive stream share.
struct ReceiveContext {
  absl::string_view topic;
  Partition partition = 0;
  liiklus::ReceiveRequest::ContentFormat format = liiklus::ReceiveRequest::BINARY;
  // A record at or below this offset is a replay (LatestAcked()); -1: none is.
  Offset latest_acked = -1;
};

// The serialized v1::ReceiveBatchesReply whose records are ToReceiveReply() of each record.
std::string EncodeReceiveBatchesReply(absl::Span<const RecordView> records,
                                      const ReceiveContext& context);

// The serialized liiklus::ReceiveReply of one record (what Receive sends per record).
std::string EncodeReceiveReply(const RecordView& record, const ReceiveContext& context);

}  // namespace runnel::gateway
