// libFuzzer entry point: fj::gc::parse_instance and fj::gc::parse_template (gc/scanner.h).
// The checks are in fuzz/targets.h; fuzz/run.sh builds and runs this target.
#include "fuzz/targets.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fj::fuzz::check_metadata(data, size);
  return 0;
}
