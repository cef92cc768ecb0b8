#pragma once
// The stores the conformance suite runs against. Each store adds itself in
// record_store_conformance_stores.cc; Kafka only when a broker address is configured.

#include <functional>
#include <ostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

struct StoreFactory {
  std::string name;
  // Opens a store whose files (if any) live under `dir`, an empty temp directory per test.
  std::function<absl::StatusOr<std::unique_ptr<RecordStore>>(const std::string& dir)> open;
  bool durable = false;
};

std::vector<StoreFactory> AllStoreFactories();

// Names the store in test output instead of dumping the struct's bytes.
inline void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

}  // namespace runnel::gateway
