#include "journal/internal/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace fj {
namespace {

TEST(Crc32c, KnownVector) {
  // The CRC-32C check value (RFC 3720, appendix B.4).
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c_portable("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Crc32c, HardwareAndPortableAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(42);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t size = 0; size + offset <= data.size(); size += 7) {
      ASSERT_EQ(crc32c(data.data() + offset, size), crc32c_portable(data.data() + offset, size))
          << "offset " << offset << " size " << size;
    }
  }
}

}  // namespace
}  // namespace fj
