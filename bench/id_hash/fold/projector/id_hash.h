// Stands in for projector/id_hash.h in the bench-only build of the
// projection with FoldIdHash (bench/CMakeLists.txt, FJ_BENCH_ID_HASHES).
#pragma once

#include "bench/id_hashes.h"

namespace fj {
using IdHash = bench::FoldIdHash;
}  // namespace fj
