#pragma once
// Which partition a published record goes to.
//
// Keyed records: Kafka's default partitioner (murmur2 of the key, made positive, modulo the
// partition count), so a key lands in the same partition through Runnel on any store as through
// a Java Kafka producer. Keyless records: partition 0 of a one-partition stream (order kept),
// else round-robin (liiklus's in-memory store scattered them at random; round-robin spreads
// load the same while staying predictable).

#include <atomic>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

// Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2), as a signed 32-bit value.
int32_t Murmur2(absl::string_view data);

// The partition of `key` among `partitions` (> 0), as Kafka's default partitioner picks it.
Partition PartitionForKey(absl::string_view key, int32_t partitions);

// Thread-safe. One per stream.
class KeylessPartitioner {
 public:
  Partition Next(int32_t partitions) {
    if (partitions <= 1) return 0;
    return static_cast<Partition>(next_.fetch_add(1, std::memory_order_relaxed) %
                                  static_cast<uint32_t>(partitions));
  }

 private:
  std::atomic<uint32_t> next_{0};
};

}  // namespace runnel::gateway
