#include "journal/ids.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fj {
namespace {

TEST(Ids, AcceptsTheDesignAlphabet) {
  EXPECT_TRUE(is_valid_id("tpl0web0000000000000001"));
  EXPECT_TRUE(is_valid_id("a.b_c-D9"));
  EXPECT_TRUE(is_valid_id(std::string(64, 'x')));
  EXPECT_TRUE(is_valid_id("..."));
}

TEST(Ids, RefusesEverythingElse) {
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "../x", "a b", "a/b", "é", std::string(65, 'x'),
                                std::string("a\0b", 3), "tab\t"}) {
    EXPECT_FALSE(is_valid_id(bad)) << bad;
    auto r = check_id("fork id", bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_NE(r.error().message.find("fork id"), std::string::npos);
  }
}

// is_valid_id checks 16 bytes at a time (SSE2) for ids of 16 bytes and more
// and through a table below that: every byte value, at every position of ids
// of every length, must get the answer of the plain definition.
TEST(Ids, EveryByteAtEveryPositionOfEveryLengthMatchesTheDefinition) {
  const auto allowed = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  int checked = 0;
  for (std::size_t size = 3; size <= kMaxIdSize; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string id(size, 'k');
        id[at] = static_cast<char>(byte);
        ASSERT_EQ(is_valid_id(id), allowed(static_cast<unsigned char>(byte)))
            << "size " << size << ", byte 0x" << std::hex << byte << " at " << std::dec << at;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 256 * (64 * 65 / 2 - 3));
}

TEST(Ids, NamesAreUtf8WithoutControlCharacters) {
  EXPECT_TRUE(is_valid_name(""));
  EXPECT_TRUE(is_valid_name("web ✓ 日本"));
  EXPECT_TRUE(is_valid_name(std::string(255, 'n')));
  EXPECT_FALSE(is_valid_name(std::string(256, 'n')));
  EXPECT_FALSE(is_valid_name("line\nbreak"));
  EXPECT_FALSE(is_valid_name("\xff"));          // not UTF-8
  EXPECT_FALSE(is_valid_name("\xc0\xaf"));      // overlong
  EXPECT_FALSE(is_valid_name("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_name("\xe2\x9c"));      // truncated
  EXPECT_FALSE(check_name("\x7f"));
}

// C1 controls and bidirectional formatting are refused in new names (one
// could reorder or hide what a terminal shows) but still read in recorded
// ones, which journals written before may hold.
TEST(Ids, NewNamesRefuseC1ControlsAndBidirectionalFormattingRecordedOnesKeepThem) {
  for (const std::string hidden :
       {"\xc2\x80", "\xc2\x85", "\xc2\x9f", "\xd8\x9c", "\xe2\x80\x8e", "\xe2\x80\x8f",
        "\xe2\x80\xaa", "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x81\xa9"}) {
    const std::string name = "a" + hidden + "b";
    EXPECT_FALSE(is_valid_name(name)) << printable(name);
    EXPECT_TRUE(is_recorded_name(name)) << printable(name);
    EXPECT_EQ(hidden_control_at(name, 1), hidden.size()) << printable(name);
    const auto refused = check_name(name);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("bidirectional formatting"), std::string::npos);
  }
  // Their neighbours are ordinary text.
  for (const std::string fine : {"\xc2\xa0", "\xc2\xa9", "\xd8\x9b", "\xe2\x80\x8d", "\xe2\x80\xa9",
                                 "\xe2\x80\xaf", "\xe2\x81\xa5", "\xe2\x81\xaa"}) {
    EXPECT_TRUE(is_valid_name("a" + fine + "b")) << printable(fine);
    EXPECT_EQ(hidden_control_at("a" + fine + "b", 1), 0u) << printable(fine);
  }
  EXPECT_FALSE(is_recorded_name("line\nbreak"));
  EXPECT_EQ(hidden_control_at("\xc2", 0), 0u);  // cut short: never reads past the end
  EXPECT_EQ(hidden_control_at("\xe2\x80", 0), 0u);
}

}  // namespace
}  // namespace fj
