// --sync as both binaries parse it (present/sync_option.h): the three names map
// to their modes; anything else, numbers included, is CLI11's one-line usage
// error with exit code 2, before anything is created.
#include "support/process.h"
#include "support/temp_dir.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace {

using fj::testing::contains;
using fj::testing::Exited;
using fj::testing::file_text;
using fj::testing::run;
using fj::testing::TempDir;

#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif
#ifndef FORKJOURNALD_BIN
#error "FORKJOURNALD_BIN must name the forkjournald binary"
#endif

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(SyncOption, ForkjournalAcceptsEachModeByName) {
  TempDir dir;
  for (const std::string mode : {"full", "nometa", "none"}) {
    const std::string journal = dir.sub(mode);
    const Exited init = run({FORKJOURNAL_BIN, "--journal", journal, "--sync", mode, "init"});
    EXPECT_EQ(init.exit_code, 0) << mode << "\n" << init;
    const Exited reg = run({FORKJOURNAL_BIN, "--journal", journal, "--sync", mode, "register", "t1",
                            "--source", "s1"});
    EXPECT_EQ(reg.exit_code, 0) << mode << "\n" << reg;
    EXPECT_TRUE(contains(reg.out, "seq 1: template_registered")) << reg;
  }
}

TEST(SyncOption, ForkjournalRefusesOtherValuesWithOneUsageLine) {
  TempDir dir;
  for (const std::string bad : {"sometimes", "0", "1", "2", "FULL", ""}) {
    const std::string journal = dir.sub("j");
    const Exited r = run({FORKJOURNAL_BIN, "--journal", journal, "--sync", bad, "init"});
    EXPECT_EQ(r.exit_code, 2) << "'" << bad << "'\n" << r;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines(r.err), 1u) << r;
    EXPECT_TRUE(r.err.starts_with("forkjournal: --sync")) << r;
    EXPECT_TRUE(contains(r.err, "{full,nometa,none}")) << r;
    EXPECT_FALSE(std::filesystem::exists(journal)) << "'" << bad << "' created the journal";
  }
}

TEST(SyncOption, BothBinariesShowTheSameHelp) {
  const Exited cli = run({FORKJOURNAL_BIN, "--help"});
  const Exited daemon = run({FORKJOURNALD_BIN, "--help"});
  for (const Exited* r : {&cli, &daemon}) {
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
    const Exited r =
        run({FORKJOURNALD_BIN, "--journal", dir.sub("j"), "--socket", dir.sub("s"), "--sync", bad});
    EXPECT_EQ(r.exit_code, 2) << "'" << bad << "'\n" << r;
    // Logged like every start error: "<time> forkjournald: error: ...".
    EXPECT_TRUE(r.err.ends_with(" forkjournald: error: --sync: " + bad +
                                " not in {full,nometa,none} (see 'forkjournald --help')\n"))
        << r;
    EXPECT_EQ(lines(r.err), 1u) << r;
    EXPECT_FALSE(std::filesystem::exists(dir.sub("j")));
    EXPECT_FALSE(std::filesystem::exists(dir.sub("s")));
  }
}

TEST(SyncOption, ForkjournaldServesInTheModeNamed) {
  TempDir dir;
  for (const std::string mode : {"nometa", "none", "full"}) {
    const std::string err = dir.sub("d-" + mode + ".err");
    const pid_t daemon = fj::testing::spawn_logged(
        {FORKJOURNALD_BIN, "--journal", dir.sub("j"), "--socket", dir.sub("s"), "--sync", mode},
        dir.sub("d-" + mode + ".out"), err);
    ASSERT_GT(daemon, 0);
    const std::string serving = " on " + dir.sub("s") + " (sync " + mode + ")";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!contains(file_text(err), serving) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(contains(file_text(err), serving)) << file_text(err);
    ::kill(daemon, SIGTERM);
    const auto status = fj::testing::wait_exit(daemon, fj::testing::kExitTimeout);
    ASSERT_TRUE(status.has_value()) << "forkjournald did not exit on SIGTERM";
    const Exited r{WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, "", file_text(err)};
    EXPECT_EQ(r.exit_code, 0) << r;
  }
}

}  // namespace
