// CRC32C (Castagnoli), the checksum of log batches. Uses the SSE4.2 crc32 instruction
// when the CPU has it, else a table; both give identical results.
#pragma once

#include <cstddef>
#include <cstdint>

namespace segflow::log {

// CRC32C of `n` bytes continuing from `crc` (0 to start): Crc32c(Crc32c(0, a), b) == Crc32c(0, ab).
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32c(0, data, n); }

namespace internal {
uint32_t Crc32cPortable(uint32_t crc, const void* data, size_t n);
// Requires Crc32cHardwareAvailable().
uint32_t Crc32cHardware(uint32_t crc, const void* data, size_t n);
bool Crc32cHardwareAvailable();
}  // namespace internal

}  // namespace segflow::log
