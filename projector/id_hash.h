// IdHash: the hash of the projection's id maps (boost::unordered_flat_map),
// transparent so that they are looked up by string_view without building an
// Id. Errors: none. Threads: stateless.
#pragma once

#include "projector/id.h"

#include <xxhash.h>

#include <cstddef>
#include <string_view>

namespace fj {

// XXH3 (libxxhash): replays as fast as a hand-written hash did, within the
// noise, and a third faster than boost::hash (bench/README.md); its output
// is fully mixed, so the map adds no second mix.
struct IdHash {
  using is_transparent = void;
  using is_avalanching = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return static_cast<std::size_t>(XXH3_64bits(s.data(), s.size()));
  }
  std::size_t operator()(const Id& id) const noexcept { return (*this)(id.view()); }
};

}  // namespace fj
