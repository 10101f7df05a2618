// The help of forkjournal-crashtest and forkjournal-bench: the defaults and
// choices a person needs to run them, in the words of the README.
#include "support/process.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace {

using namespace fj::testing;

#ifndef CRASHTEST_BIN
#error "CRASHTEST_BIN must name the forkjournal-crashtest binary"
#endif

TEST(CrashtestHelp, ShowsTheDefaultOfEveryNumericOption) {
  const Exited r = run({CRASHTEST_BIN, "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  for (const auto& [option, value] :
       {std::pair{"--iterations", "100"}, std::pair{"--clients", "3"},
        std::pair{"--max-kill-ms", "100"}, std::pair{"--full-check-every", "500"}}) {
    // "--clients INT:INT in [1 - 32]=3": the default closes the option's
    // line, before its description.
    EXPECT_TRUE(
        std::regex_search(r.out, std::regex(std::string(option) + R"( [^\n]*=)" + value + R"(\n)")))
        << option << " shows no default " << value << "\n"
        << r;
  }
}

#ifdef BENCH_BIN
TEST(BenchHelp, ReplayShapeShowsItsNamesOnly) {
  const Exited r = run({BENCH_BIN, "replay", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "--shape ENUM:{steady,growing,soak}\n")) << r;
  EXPECT_FALSE(contains(r.out, "->")) << r;
}
#endif

}  // namespace
