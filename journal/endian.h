// Little-endian integer encoding for everything the journal writes to disk.
#pragma once

#include <bit>
#include <cstddef>
#include <cstring>
#include <string>

namespace fj {

template <class T>
void put_le(std::string& out, T v) {
  char bytes[sizeof(T)];
  for (std::size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<char>(v >> (8 * i));
  out.append(bytes, sizeof(T));
}

template <class T>
T load_le(const char* p) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    T v;  // one unaligned load: decode reads two of these per record
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<T>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

}  // namespace fj
