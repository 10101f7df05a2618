#include "journal/internal/endian.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace fj {
namespace {

TEST(LittleEndian, WritesLowByteFirstAndReadsItBack) {
  std::string out;
  put_le<std::uint32_t>(out, 0x04030201u);
  put_le<std::uint16_t>(out, 0xBEEF);
  put_str8(out, "ab");
  put_str16(out, "xyz");
  EXPECT_EQ(out, std::string("\x01\x02\x03\x04\xEF\xBE\x02"
                             "ab\x03\x00xyz",
                             14));
  LeReader in(out);
  EXPECT_EQ(in.le<std::uint32_t>(), 0x04030201u);
  EXPECT_EQ(in.le<std::uint16_t>(), 0xBEEF);
  EXPECT_EQ(in.str8(), "ab");
  EXPECT_FALSE(in.done());
  EXPECT_EQ(in.str16(3), "xyz");
  EXPECT_TRUE(in.done());
}

TEST(LittleEndian, ReadingPastTheEndFailsAndStaysFailed) {
  const std::string bytes("\x05\x01\x02", 3);
  LeReader in(bytes);
  EXPECT_EQ(in.str8(), "");  // claims 5 bytes, 2 are left
  EXPECT_FALSE(in.ok());
  EXPECT_EQ(in.u8(), 0);
  EXPECT_FALSE(in.done());

  LeReader whole(bytes);
  EXPECT_EQ(whole.bytes(3).size(), 3u);
  EXPECT_TRUE(whole.done());
  EXPECT_EQ(whole.le<std::uint64_t>(), 0u);
  EXPECT_FALSE(whole.ok());
}

TEST(LittleEndian, ALengthOverTheBoundFails) {
  const std::string bytes("\x02xy", 3);
  LeReader in(bytes);
  in.str8(1);
  EXPECT_FALSE(in.ok());
  LeReader fits(bytes);
  EXPECT_EQ(fits.str8(2), "xy");
  EXPECT_TRUE(fits.done());
  fits.fail();
  EXPECT_FALSE(fits.done());
}

}  // namespace
}  // namespace fj
