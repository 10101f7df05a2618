// Derives independent seeds from one run seed (splitmix64's finaliser), so
// that each iteration, thread or crash point draws its own reproducible
// sequence from --seed alone. Pure.
#pragma once

#include <cstdint>

namespace fj::crashtest {

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a + 0x9e3779b97f4a7c15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace fj::crashtest
