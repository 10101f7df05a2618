// IdEqual: compares ids (Id or string_view) for the projection's tables.
// Errors: none. Lifetime: stateless. Threads: safe from any thread.
#pragma once

#include "projector/id.h"

#include <cstdint>
#include <cstring>
#include <string_view>

namespace fj {

// Compares in 8-byte words, inline: for ids this short a call to memcmp costs
// more than the comparison.
struct IdEqual {
  using is_transparent = void;
  static std::string_view v(std::string_view s) noexcept { return s; }
  static std::string_view v(const Id& id) noexcept { return id.view(); }
  static bool same(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    const char* p = a.data();
    const char* q = b.data();
    std::size_t n = a.size();
    for (; n >= 8; n -= 8, p += 8, q += 8) {
      std::uint64_t x, y;
      std::memcpy(&x, p, 8);
      std::memcpy(&y, q, 8);
      if (x != y) return false;
    }
    for (; n != 0; --n, ++p, ++q) {
      if (*p != *q) return false;
    }
    return true;
  }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return same(v(a), v(b));
  }
};

}  // namespace fj
