#include "bench/memory_probe.h"

#include "bench/measure.h"

#include <algorithm>
#include <random>
#include <utility>

namespace fj::bench {

MemoryProbe::MemoryProbe(std::size_t bytes) : lines_(std::max<std::size_t>(bytes / 64, 2)) {
  // Sattolo's shuffle: a random permutation that is one cycle, so the walk
  // visits every line before it repeats one.
  for (std::size_t i = 0; i < lines_.size(); ++i) lines_[i].next = static_cast<std::uint32_t>(i);
  std::mt19937_64 rng(0x5eed);
  for (std::size_t i = lines_.size() - 1; i > 0; --i) {
    std::swap(lines_[i].next,
              lines_[std::uniform_int_distribution<std::size_t>(0, i - 1)(rng)].next);
  }
}

double MemoryProbe::ns_per_load(std::size_t loads) {
  // Each load's address is the value of the one before, so the processor
  // cannot overlap them: the time per step is the latency of one load.
  std::uint32_t at = at_;
  for (std::size_t i = 0; i < lines_.size(); ++i) at = lines_[at].next;
  Stopwatch clock;
  for (std::size_t i = 0; i < loads; ++i) at = lines_[at].next;
  const double seconds = clock.seconds();
  at_ = at;  // kept, so that the walk is not dead code
  return seconds * 1e9 / static_cast<double>(loads);
}

}  // namespace fj::bench
