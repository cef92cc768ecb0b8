#pragma once
// A lane's checkpoint on event time: what makes a restarted processor give the same answers.
//
// Acknowledging an input position P says "every record up to P is done". A window that completed
// can still hold records after P (a record between them belongs to a window not yet complete),
// and after a restart those records are read again: without knowing the window already fired,
// the processor would fire it again with only part of its records, a different answer. So before
// a lane acknowledges positions on event time, it stores a checkpoint:
//   complete_through   every window whose end plus the allowed lateness is at or before this
//                      completed (its outputs are durable), and every late record of such a
//                      window was handled
//   read_through       per input partition, the last offset the lane had read
// After a restart a record read before the checkpoint whose window is complete by it is skipped,
// and the watermark starts at complete_through. Stored as JSON in the processor's state stream
// (checkpoint_store.h). Pure.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sidecar/ack_tracker.h"

namespace runnel::sidecar {

struct Checkpoint {
  absl::Time complete_through = absl::InfinitePast();
  std::map<PartitionKey, int64_t> read_through;
  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// {"lane":3,"completeThroughNanos":...,"readThrough":[{"input":0,"partition":3,"offset":41}]}
std::string EncodeCheckpoint(uint32_t lane, const Checkpoint& checkpoint);
// INVALID_ARGUMENT for anything else; `lane` receives the lane it was written for.
absl::StatusOr<Checkpoint> DecodeCheckpoint(const std::string& json, uint32_t* lane);

}  // namespace runnel::sidecar
