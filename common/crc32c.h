#pragma once
// CRC-32C (Castagnoli), as used by iSCSI, ext4 and Kafka's record batches. Uses the SSE4.2
// instruction where the CPU has it and a table otherwise; both give identical results.

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

namespace runnel::crc32c {

// Extends `crc` (the CRC of some earlier bytes, or 0) over `data`.
uint32_t Extend(uint32_t crc, const void* data, size_t size);

inline uint32_t Value(absl::string_view data) { return Extend(0, data.data(), data.size()); }

}  // namespace runnel::crc32c
