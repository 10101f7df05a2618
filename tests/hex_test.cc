#include "journal/hex.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace fj {
namespace {

TEST(Hex, EncodesEveryByteAsTwoLowercaseDigits) {
  const std::array<std::uint8_t, 5> bytes{0x00, 0x09, 0xA0, 0x7f, 0xFF};
  EXPECT_EQ(to_hex(bytes), "0009a07fff");
  EXPECT_EQ(to_hex({}), "");
  std::string out = "\\x";
  append_hex(out, std::array<std::uint8_t, 1>{0x1b});
  EXPECT_EQ(out, "\\x1b");
}

TEST(Hex, DecodesWhatItEncodesInEitherCase) {
  std::array<std::uint8_t, 256> all{};
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
  std::array<std::uint8_t, 256> back{};
  ASSERT_TRUE(from_hex(to_hex(all), back));
  EXPECT_EQ(back, all);
  std::array<std::uint8_t, 2> two{};
  ASSERT_TRUE(from_hex("aBCd", two));
  EXPECT_EQ(two, (std::array<std::uint8_t, 2>{0xAB, 0xCD}));
}

TEST(Hex, RefusesAWrongLengthOrANonHexCharacter) {
  std::array<std::uint8_t, 2> two{};
  EXPECT_FALSE(from_hex("abc", two));
  EXPECT_FALSE(from_hex("abcdef", two));
  EXPECT_FALSE(from_hex("abcg", two));
  EXPECT_FALSE(from_hex("ab c", two));
  EXPECT_FALSE(from_hex("0x12", two));
}

}  // namespace
}  // namespace fj
