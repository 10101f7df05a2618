// The help of forkjournal-crashtest and forkjournal-bench: the defaults and
// choices a person needs to run them, in the words of the README; and the
// crash tester's refusals of a command line it cannot run.
#include "support/process.h"
#include "support/temp_dir.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>
#include <vector>

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

// Says what a run needs and what a usage error costs: the scratch
// directories it refuses, exit 2 for a run that cannot be made.
TEST(CrashtestHelp, SaysItRefusesANonEmptyJournalOrDataRootWithExitTwo) {
  const Exited r = run({CRASHTEST_BIN, "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "a --journal or --data-root that exists and is not empty is refused"))
      << r;
  EXPECT_TRUE(contains(r.out, "2 a usage\nerror or a run that cannot be made")) << r;
  for (const char* option : {"--journal TEXT ", "--data-root TEXT "}) {
    const auto at = r.out.find(option);
    ASSERT_NE(at, std::string::npos) << option << "\n" << r;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_TRUE(contains(line, "one that exists and is not empty is refused (exit 2)")) << line;
  }
}

// A usage error is exit 2 and one line naming the option, not CLI11's own
// exit codes (105, 109) and a second line.
TEST(CrashtestCommandLine, UsageErrorsExitTwoWithOneReadableLine) {
  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--iterations", "0"}, "--iterations: '0' is not a whole number from 1"},
           {{"--full-check-every", "0"}, "--full-check-every: '0' is not a whole number from 1"},
           {{"--states", "-1"}, "--states: '-1' is not a whole number"},
           {{"--seed", "abc"}, "--seed: 'abc' is not a whole number"},
           {{"--iterations", "99999999999999999999"}, "out of range"},
           {{"--clients", "40"}, "--clients: Value 40 not in range 1 to 32"},
           {{"--no-such-option"}, "unknown option '--no-such-option'"},
           {{"extra"}, "unexpected argument 'extra'"},
           {{"--iterations", "3", "--iterations", "4"}, "--iterations given twice"},
           {{"--clients"}, "--clients needs a value"},
           // Not the next word as the journal's directory.
           {{"--journal=", "--iterations", "1"}, "--journal= has no value after '='"}}) {
    std::vector<std::string> argv{CRASHTEST_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = run(argv);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
    EXPECT_TRUE(r.err.starts_with("forkjournal-crashtest: ")) << r;
    EXPECT_TRUE(contains(r.err, says)) << r;
  }
}

// --journal and --data-root name scratch directories the test fills with
// fake events and guests: an existing one that holds anything (a journal a
// daemon serves, a real data root) is refused untouched.
TEST(CrashtestCommandLine, ANonEmptyJournalOrDataRootIsRefusedUntouched) {
  const TempDir tmp;
  const std::string journal = tmp.sub("journal");
  std::filesystem::create_directories(journal);
  { std::ofstream(journal + "/data.mdb") << "not touched"; }
  const std::string root = tmp.sub("root");
  std::filesystem::create_directories(root + "/guests/vm1");
  const std::string file = tmp.sub("file");
  { std::ofstream(file) << "a file"; }
  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--journal", journal}, "--journal " + journal + " is not empty"},
           {{"--data-root", root}, "--data-root " + root + " is not empty"},
           {{"--journal", file}, "--journal " + file + " exists and is not a directory"}}) {
    std::vector<std::string> argv{CRASHTEST_BIN, "--iterations", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = run(argv, {.journal_env = std::nullopt, .timeout = 60s});
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
    EXPECT_TRUE(contains(r.err, says)) << r;
    EXPECT_TRUE(contains(r.err, "creates its own scratch")) << r;
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmp.path())) {
    names.push_back(std::filesystem::relative(e.path(), tmp.path()).string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"file", "journal", "journal/data.mdb", "root",
                                             "root/guests", "root/guests/vm1"}));
  EXPECT_EQ(file_text(journal + "/data.mdb"), "not touched");
}

#ifdef BENCH_BIN
TEST(BenchHelp, ReplayShapeShowsItsNamesOnly) {
  const Exited r = run({BENCH_BIN, "replay", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "--shape ENUM:{steady,growing,soak}\n")) << r;
  EXPECT_FALSE(contains(r.out, "->")) << r;
}

// A command line the bench cannot run is exit 2 and one line naming what is
// wrong, before anything is measured.
TEST(BenchCommandLine, UsageErrorsExitTwoWithOneReadableLine) {
  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"bogus"}, "unknown command 'bogus' (commands: replay, append"},
           {{}, "a command is required"},
           {{"replay", "--events", "500", "--shape", "weird"},
            "--shape: 'weird' is not one of steady, growing, soak"},
           {{"replay", "--events", "500", "--shape", "1"},
            "--shape: '1' is not one of steady, growing, soak"},
           {{"replay", "--events", "100", "--templates", "1000000"},
            "--templates: 1000000 is more than --events 100"},
           {{"replay", "--events", "500", "--nope"}, "unknown option '--nope'"},
           {{"replay", "--events", "500", "--events", "600"}, "--events given twice"},
           {{"replay", "--events="}, "--events= has no value after '='"},
           {{"scaling", "--max-events", "100"}, "--max-events: Value 100 not in range 10000"},
           {{"scaling", "--max-events", "20000", "--plot", "/proc/nope/s.png"},
            "scaling --plot /proc/nope/s.png: /proc/nope does not exist"}}) {
    std::vector<std::string> argv{BENCH_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = run(argv, {.journal_env = std::nullopt, .timeout = 20s});
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
    EXPECT_TRUE(r.err.starts_with("forkjournal-bench: ")) << r;
    EXPECT_TRUE(contains(r.err, says)) << r;
  }
}
#endif

}  // namespace
