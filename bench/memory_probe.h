// MemoryProbe: how long one load from memory takes at this moment, for a
// given working set. A replay waits on its tables' cache misses, and on a
// shared host the last-level cache is shared with other tenants: how much of
// it this process gets changes from minute to minute. When the share is
// smaller than a replay's tables (about 15 MB on the soak shape) nearly every
// event waits on DRAM, while the bare scan, which reads in order and is
// prefetched, is not slowed. The replay report runs the probe in every
// first-pass round so that its ratios come with the regime they were measured
// in (bench/README.md, "The host's cache share").
//
// Errors: the constructor throws std::bad_alloc. Lifetime: owns its buffer.
// Threads: one at a time.
#pragma once

#include "projector/huge_page_allocator.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fj::bench {

class MemoryProbe {
 public:
  // A chain through every 64-byte line of a buffer of `bytes` (at least two
  // lines), in one random cycle drawn from a fixed seed, on huge pages as the
  // projection's tables are, so that the walk measures cache misses and not
  // TLB misses.
  explicit MemoryProbe(std::size_t bytes);

  // Walks the chain once untimed (so that whatever share of the cache the
  // buffer can hold is filled), then `loads` dependent loads, and returns
  // the nanoseconds per load. Precondition: loads > 0.
  double ns_per_load(std::size_t loads);

 private:
  struct alignas(64) Line {
    std::uint32_t next;
  };
  std::vector<Line, HugePageAllocator<Line>> lines_;
  std::uint32_t at_ = 0;
};

}  // namespace fj::bench
