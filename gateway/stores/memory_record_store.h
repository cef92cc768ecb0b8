#pragma once
// A bounded, in-process record store: for tests and throwaway runs. Everything is lost when the
// process ends. Each partition keeps at most `max_records_per_partition` records and about
// `max_bytes_per_partition` bytes; the oldest records are dropped past that (the partition's
// start offset moves up, exactly like retention in the durable stores).
//
// Thread-safety: as RecordStore. Append, CommitPosition and readers call back inline.

#include <cstdint>
#include <memory>

#include "common/clock.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

struct MemoryRecordStoreOptions {
  uint64_t max_records_per_partition = 1'000'000;
  uint64_t max_bytes_per_partition = 256ull << 20;
  const Clock* clock = nullptr;  // Record timestamps; SystemClock when null.
};

std::unique_ptr<RecordStore> NewMemoryRecordStore(const MemoryRecordStoreOptions& options);

}  // namespace runnel::gateway
