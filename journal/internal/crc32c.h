// CRC32C (Castagnoli), the record checksum. Uses the SSE4.2 crc32 instruction
// when the CPU has it (a few ns per record) and Boost.CRC otherwise; both give
// identical results (tests/crc32c_test.cc checks them against each other).
// Thread-safe; no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fj {

std::uint32_t crc32c(const void* data, std::size_t size) noexcept;

// The portable table-driven implementation, exposed for tests and for CPUs
// without SSE4.2.
std::uint32_t crc32c_portable(const void* data, std::size_t size) noexcept;

}  // namespace fj
