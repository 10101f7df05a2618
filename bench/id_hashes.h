// The id hashes the projection's maps were measured with besides fj::IdHash
// (bench/README.md, "The id hash"): each is transparent like IdHash, so it
// can stand in for it in a bench-only build of the projection
// (bench/id_hash/<name>/projector/id_hash.h) and in the hash-only
// micro-benchmarks. Errors: none. Threads: stateless.
#pragma once

#include "projector/id.h"

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/hash_traits.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace fj::bench {

// A hand-written hash for ids: folded 64x64->128-bit
// multiplies (the low half xor the high half) over the id as four 8-byte
// words at a time, so a 24-byte id waits on one multiply. Every fold's inputs
// are a word xor a constant with a byte >= 0x80, so no ASCII word zeroes a
// fold; the length and the 32-byte blocks before the last 1-32 bytes enter
// through `h`, xored in and folded with a constant.
struct FoldIdHash {
  using is_transparent = void;
  using is_avalanching = void;
  static std::uint64_t fold(std::uint64_t a, std::uint64_t b) noexcept {
    const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
  }
  static std::uint64_t word(const char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  }
  std::size_t operator()(std::string_view s) const noexcept {
    constexpr std::uint64_t k0 = 0xA0761D6478BD642Full, k1 = 0xE7037ED1A0B428DBull,
                            k2 = 0x8EBC6AF09C88C6E3ull, k3 = 0x589965CC75374CC3ull;
    const char* p = s.data();
    std::size_t n = s.size();
    std::uint64_t h = k0 ^ n;
    // Whole 32-byte blocks while more than 32 bytes remain (ids over 32).
    for (; n > 32; n -= 32, p += 32) {
      const std::uint64_t block =
          fold(word(p) ^ k1, word(p + 8) ^ k2) ^ fold(word(p + 16) ^ k3, word(p + 24) ^ k0);
      h = fold(h ^ block, k1);
    }
    // The last 0-32 bytes as up to four words that overlap rather than read
    // past the end; under 8 bytes, one word from 4-byte or single-byte loads.
    std::uint64_t a, b = 0, c = 0, d = 0;
    if (n >= 16) {
      a = word(p), b = word(p + 8), c = word(p + n - 16), d = word(p + n - 8);
    } else if (n >= 8) {
      a = word(p), b = word(p + n - 8);
    } else if (n >= 4) {
      std::uint32_t x, y;
      std::memcpy(&x, p, 4);
      std::memcpy(&y, p + n - 4, 4);
      a = std::uint64_t{x} << 32 | y;
    } else if (n != 0) {
      const auto byte = [&](std::size_t i) {
        return std::uint64_t{static_cast<unsigned char>(p[i])};
      };
      a = byte(0) << 16 | byte(n / 2) << 8 | byte(n - 1);
    } else {
      a = 0;
    }
    return static_cast<std::size_t>(h ^ fold(a ^ k1, b ^ k2) ^ fold(c ^ k3, d ^ k0));
  }
  std::size_t operator()(const Id& id) const noexcept { return (*this)(id.view()); }
};

// boost::hash<std::string_view> (Boost 1.81: 4 bytes at a time, each
// combined with an xmxmx mix, so the result is mixed). Boost declares it
// avalanching; the wrapper says so only while Boost does.
struct BoostIdHash {
  using is_transparent = void;
  using is_avalanching = void;
  static_assert(boost::unordered::hash_is_avalanching<boost::hash<std::string_view>>::value);
  std::size_t operator()(std::string_view s) const noexcept {
    return boost::hash<std::string_view>{}(s);
  }
  std::size_t operator()(const Id& id) const noexcept { return (*this)(id.view()); }
};

}  // namespace fj::bench
