#include "gateway/record_store.h"

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
