// libFuzzer entry point: fj::decode (journal/codec.h): records, and records with a recomputed
// checksum. The checks are in fuzz/targets.h; fuzz/run.sh builds and runs this target.
#include "fuzz/targets.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fj::fuzz::check_record(data, size);
  return 0;
}
