#include "gateway/record_store.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/stores/file_record_store.h"
#include "gateway/stores/memory_record_store.h"
#if RUNNEL_WITH_KAFKA
#include "gateway/stores/kafka_record_store.h"
#endif

namespace runnel::gateway {

absl::Status ValidateStreamName(absl::string_view name) {
  if (name.empty() || name.size() > 249) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream name '", name, "' must have 1 to 249 characters"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("stream name '", name, "' is reserved"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("stream name '", name,
                       "' may only contain letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateStreamSpec(const StreamSpec& spec) {
  if (absl::Status s = ValidateStreamName(spec.name); !s.ok()) {
    return s;
  }
  if (spec.partitions < 1 || spec.partitions > kMaxPartitions) {
    return absl::InvalidArgumentError(absl::StrCat("stream '", spec.name, "': partitions must be 1 to ",
                                                   kMaxPartitions, ", got ", spec.partitions));
  }
  const size_t slash = spec.content_type.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == spec.content_type.size() ||
      spec.content_type.find_first_of(" \t\r\n,") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("stream '", spec.name, "': content type '",
                                                   spec.content_type,
                                                   "' is not a media type like 'application/json'"));
  }
  return absl::OkStatus();
}

StoredRecord ToStoredRecord(const RecordView& view) {
  StoredRecord out{.offset = view.offset};
  v1::Record& r = out.record;
  r.set_key(view.key.data(), view.key.size());
  r.set_data(view.data.data(), view.data.size());
  r.set_timestamp_ms(view.timestamp_ms);
  r.set_id(view.id.data(), view.id.size());
  r.set_type(view.type.data(), view.type.size());
  r.set_source(view.source.data(), view.source.size());
  r.set_time(view.time.data(), view.time.size());
  r.set_data_content_type(view.data_content_type.data(), view.data_content_type.size());
  for (const auto& [name, value] : view.extensions) {
    (*r.mutable_extensions())[std::string(name)] = std::string(value);
  }
  return out;
}

RecordBatch RecordBatch::FromStored(std::vector<StoredRecord> records) {
  RecordBatch batch;
  batch.views_.reserve(records.size());
  size_t extensions = 0;
  for (const StoredRecord& s : records) extensions += s.record.extensions_size();
  // Reserved up front: the views' spans point into it.
  batch.extensions_.reserve(extensions);
  for (const StoredRecord& s : records) {
    const v1::Record& r = s.record;
    const size_t first = batch.extensions_.size();
    for (const auto& [name, value] : r.extensions()) batch.extensions_.emplace_back(name, value);
    batch.views_.push_back({.offset = s.offset,
                            .timestamp_ms = r.timestamp_ms(),
                            .key = r.key(),
                            .data = r.data(),
                            .id = r.id(),
                            .type = r.type(),
                            .source = r.source(),
                            .time = r.time(),
                            .data_content_type = r.data_content_type(),
                            .extensions = absl::MakeConstSpan(batch.extensions_.data() + first,
                                                              batch.extensions_.size() - first)});
  }
  // The views point into the records' strings, which live in this vector's heap buffer (moving
  // the vector moves the buffer, not the strings).
  batch.stored_ = std::move(records);
  return batch;
}

RecordBatch::Builder::Builder(size_t records_hint, size_t bytes_hint) : bytes_hint_(bytes_hint) {
  views_.reserve(records_hint);
  extension_starts_.reserve(records_hint);
}

absl::string_view RecordBatch::Builder::Copy(absl::string_view bytes) {
  if (bytes.empty()) return {};
  if (bytes.size() > left_) {
    // A new buffer; the old ones stay, so earlier views stay valid.
    const size_t size = std::max({bytes.size(), bytes_hint_, size_t{64} << 10});
    buffers_.push_back(std::make_unique_for_overwrite<char[]>(size));
    free_ = buffers_.back().get();
    left_ = size;
    bytes_hint_ = 0;  // Used up: later buffers are sized by the default.
  }
  std::memcpy(free_, bytes.data(), bytes.size());
  absl::string_view copy(free_, bytes.size());
  free_ += bytes.size();
  left_ -= bytes.size();
  return copy;
}

void RecordBatch::Builder::Add(const RecordView& r) {
  extension_starts_.push_back(extensions_.size());
  for (const auto& [name, value] : r.extensions) extensions_.emplace_back(Copy(name), Copy(value));
  views_.push_back({.offset = r.offset,
                    .timestamp_ms = r.timestamp_ms,
                    .key = Copy(r.key),
                    .data = Copy(r.data),
                    .id = Copy(r.id),
                    .type = Copy(r.type),
                    .source = Copy(r.source),
                    .time = Copy(r.time),
                    .data_content_type = Copy(r.data_content_type)});
}

RecordBatch RecordBatch::Builder::Finish() && {
  for (size_t i = 0; i < views_.size(); ++i) {
    const size_t first = extension_starts_[i];
    const size_t end = i + 1 < views_.size() ? extension_starts_[i + 1] : extensions_.size();
    views_[i].extensions = absl::MakeConstSpan(extensions_.data() + first, end - first);
  }
  RecordBatch batch;
  batch.views_ = std::move(views_);
  batch.extensions_ = std::move(extensions_);
  batch.buffers_ = std::move(buffers_);
  return batch;
}

void PartitionReader::NextBatch(size_t max_records, size_t max_bytes, BatchDone done) {
  Next(max_records, max_bytes,
       [done = std::move(done)](absl::StatusOr<std::vector<StoredRecord>> records) mutable {
         if (!records.ok()) {
           std::move(done)(records.status());
           return;
         }
         std::move(done)(RecordBatch::FromStored(*std::move(records)));
       });
}

absl::StatusOr<std::unique_ptr<RecordStore>> OpenRecordStore(const RecordStoreOptions& options) {
  switch (options.kind) {
    case RecordStoreOptions::Kind::kMemory:
      return NewMemoryRecordStore({.max_records_per_partition = options.memory.max_records_per_partition,
                                   .max_bytes_per_partition = options.memory.max_bytes_per_partition});
    case RecordStoreOptions::Kind::kFile:
      return OpenFileRecordStore(options.file);
    case RecordStoreOptions::Kind::kKafka:
#if RUNNEL_WITH_KAFKA
      return OpenKafkaRecordStore(options.kafka);
#else
      return absl::UnimplementedError("this build of runnel-gateway has no Kafka record store");
#endif
  }
  return absl::InvalidArgumentError("unknown record store kind");
}

}  // namespace runnel::gateway
