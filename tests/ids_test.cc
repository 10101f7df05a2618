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

}  // namespace
}  // namespace fj
