#pragma once
// The durable file-log RecordStore: the gateway's default store.
//
// On disk, under `data_dir`:
//   LOCK                                 flock()ed while a store has the directory open
//   streams/<name>/stream.meta           name, partitions, content type, created time
//                                        (replaced atomically: temp file + rename + fsync)
//   streams/<name>/positions.log         group positions, append-only, compacted when it grows
//   streams/<name>/<partition>/<base>.log    append-only segment, named by its first offset
//   streams/<name>/<partition>/<base>.index  sparse offset index of that segment
//   tmp/, trash/                         scratch for create/delete; emptied on open
//
// Each Append is written as one batch (a CRC-protected header, then every record framed by its
// length and CRC32C) with a single write(), so after a crash a batch is visible whole or not at
// all. Segments roll at `segment_bytes`; retention (by size per partition and by age) deletes
// whole segments from a background thread and moves the partition's start offset up.
//
// Durability: with Fsync::kAlways an Append's `done` runs only after the batch is fdatasync()ed
// (concurrent appends share one fsync: group commit). With Fsync::kInterval `done` runs after
// write() and a background fsync runs every `fsync_interval_ms`. CommitPosition's `done` always
// runs after the position is fsync()ed. Readers see only what Append has acknowledged.
//
// Recovery on open: the last segment of every partition is read and CRC-checked whole; a torn
// tail (an incomplete batch) is truncated with a warning; a corrupt batch is logged as an error
// with its file and byte offset, and the segment is truncated there (the readable prefix stays).
//
// Threading: as RecordStore. One store-owned writer thread does all writes and fsyncs; Append
// and CommitPosition callbacks run on it (or inline for errors found before queueing). Readers'
// callbacks run inline or on the writer thread. One retention thread deletes expired segments.
// Destroying the store completes every queued operation, fsyncs and closes the files; readers
// still open afterwards fail with UNAVAILABLE.

#include <memory>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

// Opens the file log in `options.data_dir`, creating the directory if needed and recovering
// what is there. `clock` stamps records and drives age retention (SystemClock when null); it
// must outlive the store. Errors: INVALID_ARGUMENT (bad options), UNAVAILABLE (the directory
// cannot be created, read or locked: another store has it open).
absl::StatusOr<std::unique_ptr<RecordStore>> OpenFileRecordStore(
    const RecordStoreOptions::File& options, const Clock* clock = nullptr);

}  // namespace runnel::gateway
