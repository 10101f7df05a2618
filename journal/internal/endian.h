// Little-endian integers and length-prefixed strings: the one byte writer and
// reader for everything the project stores (records, meta values, snapshots).
// Header-only so that decode's hot loop inlines it. No errors are thrown: a
// LeReader that runs out of bytes remembers it (ok() turns false) and returns
// zeros and empty views from then on. Not thread-safe; a LeReader borrows the
// bytes it was given, which must outlive the views it returns.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace fj {

// v's bytes, least significant first, without allocating.
template <class T>
std::array<char, sizeof(T)> le_bytes(T v) {
  std::array<char, sizeof(T)> bytes;
  for (std::size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<char>(v >> (8 * i));
  return bytes;
}

template <class T>
void put_le(std::string& out, T v) {
  const auto bytes = le_bytes(v);
  out.append(bytes.data(), bytes.size());
}

// A u8 length, then the bytes. Precondition: s.size() <= 255.
inline void put_str8(std::string& out, std::string_view s) {
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(s.size()));
  out.append(s);
}

// A u16 length, then the bytes. Precondition: s.size() <= 65535.
inline void put_str16(std::string& out, std::string_view s) {
  put_le<std::uint16_t>(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
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

// Reads what put_le and put_str8/16 wrote, never past the end of its input.
class LeReader {
 public:
  explicit LeReader(std::string_view in) noexcept : p_(in.data()), end_(p_ + in.size()) {}

  template <class T>
  T le() noexcept {
    return take(sizeof(T)) ? load_le<T>(p_ - sizeof(T)) : T{0};
  }
  std::uint8_t u8() noexcept { return le<std::uint8_t>(); }
  // The next n bytes (empty, and failed, when fewer are left).
  std::string_view bytes(std::size_t n) noexcept {
    const char* start = p_;
    return take(n) ? std::string_view(start, n) : std::string_view();
  }
  // A u8 or u16 length, then that many bytes; a length over `max` fails.
  std::string_view str8(std::size_t max = 255) noexcept { return bounded(u8(), max); }
  std::string_view str16(std::size_t max) noexcept { return bounded(le<std::uint16_t>(), max); }

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  // Marks the input malformed (for a caller's own checks on what it read).
  void fail() noexcept { ok_ = false; }
  bool ok() const noexcept { return ok_; }
  // Everything read, and nothing was missing or refused.
  bool done() const noexcept { return ok_ && p_ == end_; }

 private:
  bool take(std::size_t n) noexcept {
    if (!ok_ || remaining() < n) {
      ok_ = false;
      return false;
    }
    p_ += n;
    return true;
  }
  std::string_view bounded(std::size_t n, std::size_t max) noexcept {
    if (n > max) ok_ = false;
    return bytes(n);
  }

  const char* p_;
  const char* end_;
  bool ok_ = true;
};

}  // namespace fj
