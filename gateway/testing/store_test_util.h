#pragma once
// Test helpers that turn the RecordStore's asynchronous calls into blocking ones, with a bound
// on how long they wait so that a broken store fails a test instead of hanging it.

#include <future>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gateway/record_store.h"

namespace runnel::gateway::testing {

inline v1::Record MakeRecord(std::string data, std::string key = "") {
  v1::Record r;
  r.set_data(std::move(data));
  r.set_key(std::move(key));
  r.set_id("id");
  r.set_type("test");
  r.set_source("/test");
  r.set_data_content_type("text/plain");
  return r;
}

inline absl::StatusOr<Offset> AppendSync(RecordStore& store, absl::string_view stream,
                                         Partition partition, std::vector<v1::Record> records,
                                         absl::Duration timeout = absl::Seconds(20)) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Offset>>>();
  auto future = promise->get_future();
  store.Append(stream, partition, std::move(records),
               [promise](absl::StatusOr<Offset> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(absl::ToChronoSeconds(timeout)) != std::future_status::ready) {
    return absl::DeadlineExceededError("append did not complete in time");
  }
  return future.get();
}

inline absl::StatusOr<Offset> AppendOne(RecordStore& store, absl::string_view stream,
                                        Partition partition, std::string data) {
  std::vector<v1::Record> records;
  records.push_back(MakeRecord(std::move(data)));
  return AppendSync(store, stream, partition, std::move(records));
}

inline absl::Status CommitSync(RecordStore& store, absl::string_view stream, const GroupId& group,
                               Partition partition, Offset offset) {
  auto promise = std::make_shared<std::promise<absl::Status>>();
  auto future = promise->get_future();
  store.CommitPosition(stream, group, partition, offset,
                       [promise](absl::Status s) { promise->set_value(std::move(s)); });
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    return absl::DeadlineExceededError("commit did not complete in time");
  }
  return future.get();
}

// Waits for the reader's next batch. DEADLINE_EXCEEDED if none comes within `timeout`; the
// pending Next() then stays pending (destroy the reader to cancel it).
inline absl::StatusOr<std::vector<StoredRecord>> NextSync(PartitionReader& reader,
                                                          absl::Duration timeout,
                                                          size_t max_records = 1000,
                                                          size_t max_bytes = 1 << 20) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::vector<StoredRecord>>>>();
  auto future = promise->get_future();
  reader.Next(max_records, max_bytes, [promise](absl::StatusOr<std::vector<StoredRecord>> r) {
    promise->set_value(std::move(r));
  });
  if (future.wait_for(absl::ToChronoMilliseconds(timeout)) != std::future_status::ready) {
    return absl::DeadlineExceededError("no records arrived in time");
  }
  return future.get();
}

// Reads exactly `count` records with `next(remaining_time, max_records)` (in as many calls as
// it takes) or fails.
template <typename Next>
absl::StatusOr<std::vector<StoredRecord>> ReadNWith(Next next, size_t count,
                                                    absl::Duration timeout) {
  std::vector<StoredRecord> all;
  const absl::Time deadline = absl::Now() + timeout;
  while (all.size() < count) {
    absl::StatusOr<std::vector<StoredRecord>> batch = next(deadline - absl::Now(),
                                                           count - all.size());
    if (!batch.ok()) {
      return absl::Status(batch.status().code(),
                          absl::StrCat("after ", all.size(), " of ", count, " records: ",
                                       batch.status().message()));
    }
    for (auto& r : *batch) all.push_back(std::move(r));
  }
  return all;
}

// Reads exactly `count` records (in as many batches as it takes) or fails.
inline absl::StatusOr<std::vector<StoredRecord>> ReadN(PartitionReader& reader, size_t count,
                                                       absl::Duration timeout = absl::Seconds(20)) {
  return ReadNWith([&](absl::Duration left, size_t max) { return NextSync(reader, left, max); },
                   count, timeout);
}

// NextSync through NextBatch: the batch's records, copied out of it.
inline absl::StatusOr<std::vector<StoredRecord>> NextBatchSync(PartitionReader& reader,
                                                               absl::Duration timeout,
                                                               size_t max_records = 1000,
                                                               size_t max_bytes = 1 << 20) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::vector<StoredRecord>>>>();
  auto future = promise->get_future();
  reader.NextBatch(max_records, max_bytes, [promise](absl::StatusOr<RecordBatch> batch) {
    if (!batch.ok()) {
      promise->set_value(batch.status());
      return;
    }
    std::vector<StoredRecord> records;
    for (const RecordView& r : batch->records()) records.push_back(ToStoredRecord(r));
    promise->set_value(std::move(records));
  });
  if (future.wait_for(absl::ToChronoMilliseconds(timeout)) != std::future_status::ready) {
    return absl::DeadlineExceededError("no records arrived in time");
  }
  return future.get();
}

// ReadN through NextBatch.
inline absl::StatusOr<std::vector<StoredRecord>> ReadBatchesN(
    PartitionReader& reader, size_t count, absl::Duration timeout = absl::Seconds(20)) {
  return ReadNWith(
      [&](absl::Duration left, size_t max) { return NextBatchSync(reader, left, max); }, count,
      timeout);
}

}  // namespace runnel::gateway::testing
