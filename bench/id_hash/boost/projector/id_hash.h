// Stands in for projector/id_hash.h in the bench-only build of the
// projection with BoostIdHash (bench/CMakeLists.txt, FJ_BENCH_ID_HASHES).
#pragma once

#include "bench/id_hashes.h"

namespace fj {
using IdHash = bench::BoostIdHash;
}  // namespace fj
