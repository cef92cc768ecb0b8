#include "gateway/record_store_conformance.h"
#include "gateway/stores/file_record_store.h"
#include "gateway/stores/memory_record_store.h"

namespace runnel::gateway {

std::vector<StoreFactory> AllStoreFactories() {
  std::vector<StoreFactory> factories;
  factories.push_back({.name = "Memory",
                       .open = [](const std::string&) -> absl::StatusOr<std::unique_ptr<RecordStore>> {
                         return NewMemoryRecordStore({});
                       },
                       .durable = false});
  factories.push_back({.name = "File",
                       .open = [](const std::string& dir) {
                         return OpenFileRecordStore({.data_dir = dir});
                       },
                       .durable = true});
  return factories;
}

}  // namespace runnel::gateway
