// libFuzzer entry point: fj::protocol::parse_request and its replies (daemon/protocol.h).
// The checks are in fuzz/targets.h; fuzz/run.sh builds and runs this target.
#include "fuzz/targets.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fj::fuzz::check_request(data, size);
  return 0;
}
