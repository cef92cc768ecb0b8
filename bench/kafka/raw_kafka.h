#pragma once
// Raw librdkafka, the limit the Kafka benchmarks compare Runnel against (bench-only): produce N
// records to partition 0 of a topic and consume them back, with no Runnel code in between.
//
// Producer settings (kept fixed so rounds and documents stay comparable): idempotent,
// acks=all, linger.ms=5, batch.num.messages=10000, a 1M-message / 256 MiB local queue; payload
// only, no key, no headers. The consumer is a plain KafkaConsumer assigned partition 0 from
// offset 0 (no group join, no commits), prefetching up to 1M messages as the Kafka store's
// readers do (librdkafka's default of 100,000 let it stall for up to a second per refill).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace runnel::bench {

// Produces `records` records of `record_bytes` bytes to partition 0 of `topic` (which must
// exist) and waits until every one is acknowledged; returns the seconds it took. An error if
// any delivery failed.
absl::StatusOr<double> RawKafkaProduce(const std::string& brokers, const std::string& topic,
                                       int64_t records, size_t record_bytes);

// Reads `records` records of partition 0 of `topic` from offset 0; returns the seconds it took.
// An error if they do not all arrive within `timeout_s`.
absl::StatusOr<double> RawKafkaConsume(const std::string& brokers, const std::string& topic,
                                       int64_t records, double timeout_s = 300);

}  // namespace runnel::bench
