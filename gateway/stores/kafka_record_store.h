#pragma once
// The Kafka record store: each stream is a Kafka topic; stream metadata lives in the compacted
// topic `_runnel_streams`; groups are Kafka consumer groups and group positions are their
// committed offsets. See kafka_record_store.cc for the mapping and
// docs/decisions/0002-kafka-stream-metadata.md for why.
//
// Thread-safety: as RecordStore. Append and CommitPosition call back on store threads (the
// producer's delivery-report thread, the commit thread); readers call back on their own thread.
// Unlike the in-process stores, OpenReader may wait for one bounded broker round trip (to
// resolve kLatest and check offsets beyond the end).

#include <memory>

#include "absl/status/statusor.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

// Connects to the brokers, creates `_runnel_streams` if needed and loads the stream list.
// Errors: INVALID_ARGUMENT (bad options or librdkafka property), UNAVAILABLE (no broker answered
// within the start-up timeout).
absl::StatusOr<std::unique_ptr<RecordStore>> OpenKafkaRecordStore(
    const RecordStoreOptions::Kafka& options);

}  // namespace runnel::gateway
