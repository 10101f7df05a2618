// IdHash: the hash of the projection's id maps (boost::unordered_flat_map),
// transparent so that they are looked up by string_view without building an
// Id. Errors: none. Threads: stateless.
#pragma once

#include "projector/id.h"

#include <cstdint>
#include <cstring>
#include <string_view>

namespace fj {

// Folded 64x64->128-bit multiplies (the low half xor the high half), over
// the id's bytes as four 8-byte words at a time: each fold mixes every bit of
// both inputs into its result, and the two folds for an id of up to 32 bytes
// do not wait on each other. A 24-byte id then waits on one multiply instead
// of the five in a row of the word-by-word multiply-xorshift this replaced,
// and a replay hashes two or three ids an event: 8 % more events/s, paired
// runs (bench/README.md). Both inputs of every fold are a word of the id xor
// a constant with a byte >= 0x80, so no word of id characters (ASCII) can
// zero a fold and wipe out its other word; the length and the 32-byte blocks
// before the last 1-32 bytes (ids over 32) enter through `h`, xored in and
// folded with a constant, never as a fold's input beside a word. (With `h`
// as that input, a 64-byte id whose bytes 40..47 equal `h` made bytes 32..39
// count for nothing: 2^48 ids with one hash.) Declared avalanching so the
// map adds no second mix.
struct IdHash {
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

}  // namespace fj
