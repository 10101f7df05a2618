// Seqs number a journal's records from 1, gap-free, in append order.
#pragma once

#include <cstdint>
#include <limits>

namespace fj {

// As the upper bound of a seq range: through the newest record, wherever the
// head is when the range is read.
inline constexpr std::uint64_t kHead = std::numeric_limits<std::uint64_t>::max();

}  // namespace fj
