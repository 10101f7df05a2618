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
