// --sync as both binaries parse it (cli/sync_option.h): the three names map
// to their modes; anything else, numbers included, is CLI11's one-line usage
// error with exit code 2, before anything is created.
#include "binary_run.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace {

using fj::testing::Child;
using fj::testing::Ran;
using fj::testing::run_binary;
using fj::testing::TempDir;

#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif
#ifndef FORKJOURNALD_BIN
#error "FORKJOURNALD_BIN must name the forkjournald binary"
#endif

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(SyncOption, ForkjournalAcceptsEachModeByName) {
  TempDir dir;
  for (const std::string mode : {"full", "nometa", "none"}) {
    const std::string journal = dir.sub(mode);
    const Ran init =
        run_binary({FORKJOURNAL_BIN, "--journal", journal, "--sync", mode, "init"}, dir.sub("i"));
    EXPECT_EQ(init.exit_code, 0) << mode << "\n" << init;
    const Ran reg = run_binary(
        {FORKJOURNAL_BIN, "--journal", journal, "--sync", mode, "register", "t1", "--source", "s1"},
        dir.sub("r"));
    EXPECT_EQ(reg.exit_code, 0) << mode << "\n" << reg;
    EXPECT_TRUE(contains(reg.out, "seq 1: template_registered")) << reg;
  }
}

TEST(SyncOption, ForkjournalRefusesOtherValuesWithOneUsageLine) {
  TempDir dir;
  for (const std::string bad : {"sometimes", "0", "1", "2", "FULL", ""}) {
    const std::string journal = dir.sub("j");
    const Ran r =
        run_binary({FORKJOURNAL_BIN, "--journal", journal, "--sync", bad, "init"}, dir.sub("o"));
    EXPECT_EQ(r.exit_code, 2) << "'" << bad << "'\n" << r;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines(r.err), 1u) << r;
    EXPECT_TRUE(r.err.starts_with("forkjournal: --sync")) << r;
    EXPECT_TRUE(contains(r.err, "{full,nometa,none}")) << r;
    EXPECT_FALSE(std::filesystem::exists(journal)) << "'" << bad << "' created the journal";
  }
}

TEST(SyncOption, BothBinariesShowTheSameHelp) {
  TempDir dir;
  const Ran cli = run_binary({FORKJOURNAL_BIN, "--help"}, dir.sub("c"));
  const Ran daemon = run_binary({FORKJOURNALD_BIN, "--help"}, dir.sub("d"));
  for (const Ran* r : {&cli, &daemon}) {
    EXPECT_EQ(r->exit_code, 0) << *r;
    EXPECT_TRUE(contains(r->out, "--sync TEXT:{full,nometa,none}")) << *r;
    EXPECT_TRUE(contains(r->out,
                         "Durability of writes: full (fsync every commit, the default), "
                         "nometa (skip the meta-page fsync), none (no fsync: benchmarks "
                         "only)"))
        << *r;
  }
}

TEST(SyncOption, ForkjournaldRefusesOtherValuesBeforeCreatingAnything) {
  TempDir dir;
  for (const std::string bad : {"bogus", "0"}) {
    const Ran r = run_binary(
        {FORKJOURNALD_BIN, "--journal", dir.sub("j"), "--socket", dir.sub("s"), "--sync", bad},
        dir.sub("o"));
    EXPECT_EQ(r.exit_code, 2) << "'" << bad << "'\n" << r;
    EXPECT_EQ(r.err, "forkjournald: --sync: " + bad +
                         " not in {full,nometa,none} (see 'forkjournald --help')\n");
    EXPECT_FALSE(std::filesystem::exists(dir.sub("j")));
    EXPECT_FALSE(std::filesystem::exists(dir.sub("s")));
  }
}

TEST(SyncOption, ForkjournaldServesInTheModeNamed) {
  TempDir dir;
  for (const std::string mode : {"nometa", "none", "full"}) {
    Child daemon(
        {FORKJOURNALD_BIN, "--journal", dir.sub("j"), "--socket", dir.sub("s"), "--sync", mode},
        dir.sub("d-" + mode));
    const std::string serving = " on " + dir.sub("s") + " (sync " + mode + ")";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!contains(daemon.err_so_far(), serving) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(contains(daemon.err_so_far(), serving)) << daemon.err_so_far();
    ::kill(daemon.pid(), SIGTERM);
    const Ran r = daemon.wait();
    EXPECT_EQ(r.exit_code, 0) << r;
  }
}

}  // namespace
