// libFuzzer entry point: fj::SnapshotCodec::decode (projector/internal/snapshot.h).
// The checks are in fuzz/targets.h; fuzz/run.sh builds and runs this target.
#include "fuzz/targets.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fj::fuzz::check_snapshot(data, size);
  return 0;
}
