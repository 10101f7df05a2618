// The id hashes the projection's maps were measured with besides fj::IdHash
// (bench/README.md, "The id hash"): each is transparent like IdHash, so it
// can stand in for it in a bench-only build of the projection
// (bench/id_hash/<name>/projector/id_hash.h) and in the hash-only
// micro-benchmarks. Errors: none. Threads: stateless.
#pragma once

#include "projector/id.h"

#include <xxhash.h>
#include <boost/container_hash/hash.hpp>
#include <boost/unordered/hash_traits.hpp>

#include <cstddef>
#include <string_view>

namespace fj::bench {

// XXH3, 64-bit, through libxxhash. Its output is fully mixed, so the map
// adds no second mix.
struct Xxh3IdHash {
  using is_transparent = void;
  using is_avalanching = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return static_cast<std::size_t>(XXH3_64bits(s.data(), s.size()));
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
