#include "journal/internal/crc32c.h"

#include <boost/crc.hpp>

#include <cstring>

namespace fj {

std::uint32_t crc32c_portable(const void* data, std::size_t size) noexcept {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

#if defined(__x86_64__)
namespace {

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const void* data,
                                                             std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t crc = 0xFFFFFFFFu;
  for (; size >= 8; size -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    crc = __builtin_ia32_crc32di(crc, word);
  }
  // The tail in at most three steps, not up to seven: each step waits on the
  // last, so the byte loop cost as much as the words before it.
  auto crc32 = static_cast<std::uint32_t>(crc);
  if (size & 4) {
    std::uint32_t word;
    std::memcpy(&word, p, sizeof word);
    crc32 = __builtin_ia32_crc32si(crc32, word);
    p += 4;
  }
  if (size & 2) {
    std::uint16_t half;
    std::memcpy(&half, p, sizeof half);
    crc32 = __builtin_ia32_crc32hi(crc32, half);
    p += 2;
  }
  if (size & 1) crc32 = __builtin_ia32_crc32qi(crc32, *p);
  return crc32 ^ 0xFFFFFFFFu;
}

const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size) noexcept {
  return kHaveSse42 ? crc32c_sse42(data, size) : crc32c_portable(data, size);
}
#else
std::uint32_t crc32c(const void* data, std::size_t size) noexcept {
  return crc32c_portable(data, size);
}
#endif

}  // namespace fj
