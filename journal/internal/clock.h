// The wall clock every event, meta value and log line is stamped with.
// Thread-safe; it can step back or jump when the system time is set.
#pragma once

#include <cstdint>

namespace fj {

// Now, in nanoseconds since the Unix epoch (UTC).
std::uint64_t wall_clock_ns();

}  // namespace fj
