// End-to-end tests of `forkjournal backup` and `forkjournal restore`: the
// built binary (FORKJOURNAL_BIN) copies a journal that this process keeps
// appending to, and the copy is checked with the binary's own audit and
// counts.
#include "journal/journal.h"
#include "projector/ledger.h"
#include "support/event_samples.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace fj::testing;

#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif

Exited forkjournal(const std::string& journal, std::vector<std::string> args) {
  args.insert(args.begin(), {FORKJOURNAL_BIN, "--journal", journal});
  return run(args, {.journal_env = std::nullopt, .timeout = std::chrono::seconds(60)});
}

json::value parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v;
}

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

// Appends fork i of one template, and removes every other fork again.
void append_step(fj::Journal& journal, std::uint64_t i) {
  const fj::Event add = added("tpl1", "frk" + std::to_string(i));
  const fj::Event remove = removed("tpl1", "frk" + std::to_string(i));
  const std::vector<fj::EventView> views =
      i % 2 == 0 ? std::vector{fj::view(add), fj::view(remove)} : std::vector{fj::view(add)};
  ASSERT_TRUE(journal.append(views));
}

// A journal of a few thousand events with snapshots stored and replaced, so
// that it has freed pages for the compacting copy to drop.
void fill(fj::Journal& journal) {
  const fj::Event reg = registered("tpl1");
  const fj::EventView v = fj::view(reg);
  ASSERT_TRUE(journal.append(std::span(&v, 1)));
  for (std::uint64_t i = 0; i < 3000; ++i) {
    append_step(journal, i);
    if (i % 500 == 499) {
      auto ledger = fj::Ledger::open(journal);
      ASSERT_TRUE(ledger);
      ASSERT_TRUE(ledger->snapshot());
    }
  }
}

TEST(Backup, CopyTakenUnderConcurrentAppendsAuditsCleanAndMatchesTheOriginal) {
  TempDir dir;
  const std::string original = dir.sub("journal");
  const std::string dest = dir.sub("backup");
  auto journal = fj::Journal::create(original, fj::JournalOptions{.sync = fj::SyncMode::none});
  ASSERT_TRUE(journal);
  fill(*journal);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> appended{0};
  std::thread writer([&] {
    for (std::uint64_t i = 100'000; !stop; ++i) {
      append_step(*journal, i);
      ++appended;
    }
  });
  const std::uint64_t before = appended;
  const Exited backup = forkjournal(original, {"backup", dest, "--json"});
  const std::uint64_t during = appended - before;
  // One more append, begun after the copy ended, must land past its head.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const std::uint64_t done = appended;
       appended == done && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::yield();
  }
  stop = true;
  writer.join();

  ASSERT_EQ(backup.exit_code, 0) << backup;
  EXPECT_GT(during, 0u) << "the writer never appended while the backup ran";
  const json::object out = parse(backup.out).as_object();
  EXPECT_EQ(out.size(), 5u) << backup.out;
  EXPECT_EQ(out.at("dest").as_string(), dest);
  EXPECT_EQ(out.at("audit").as_string(), "clean");
  const auto head_seq = out.at("head_seq").to_number<std::uint64_t>();
  const std::string chain(out.at("chain_head").as_string());
  const auto bytes = out.at("bytes").to_number<std::uint64_t>();
  EXPECT_GE(head_seq, 4501u);
  EXPECT_GT(*journal->head(), head_seq) << "the copy is not of one moment during the appends";
  EXPECT_EQ(chain.size(), 64u);
  EXPECT_EQ(listing(dest), std::set<std::string>{"data.mdb"});
  EXPECT_EQ(fs::file_size(dest + "/data.mdb"), bytes);
  EXPECT_LE(bytes, fs::file_size(original + "/data.mdb")) << "the copy is not compacted";
  struct stat st {};
  ASSERT_EQ(::stat(dest.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // The printed head proves the copy, and that the original still holds the
  // same history up to it.
  const std::string expect = std::to_string(head_seq) + ":" + chain;
  for (const std::string& j : {dest, original}) {
    const Exited audit = forkjournal(j, {"audit", "--expect-head", expect});
    EXPECT_EQ(audit.exit_code, 0) << j << ": " << audit;
  }
  const Exited copy_counts = forkjournal(dest, {"counts", "--json"});
  const Exited original_counts =
      forkjournal(original, {"counts", "--json", "--as-of", std::to_string(head_seq)});
  ASSERT_EQ(copy_counts.exit_code, 0) << copy_counts;
  ASSERT_EQ(original_counts.exit_code, 0) << original_counts;
  EXPECT_EQ(parse(copy_counts.out), parse(original_counts.out));
  EXPECT_EQ(parse(copy_counts.out).at("seq").to_number<std::uint64_t>(), head_seq);
}

TEST(Backup, RefusesANonEmptyDestinationAndLeavesItUntouched) {
  TempDir dir;
  const std::string original = dir.sub("journal");
  ASSERT_EQ(forkjournal(original, {"init"}).exit_code, 0);
  const std::string dest = dir.sub("full");
  fs::create_directory(dest);
  std::ofstream(dest + "/keep.txt") << "mine";
  const std::string file = dir.sub("file");
  std::ofstream(file) << "a file";

  for (const std::string& target : {dest, file}) {
    const Exited r = forkjournal(original, {"backup", target});
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(target), std::string::npos) << r.err;
  }
  EXPECT_EQ(listing(dest), std::set<std::string>{"keep.txt"});
  std::ifstream kept(dest + "/keep.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "mine");
  std::ifstream same(file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(same), {}), "a file");
}

// A .partial in DEST is someone else's: a backup killed before it moved its
// copy into place, one still copying, or the operator's own file. backup and
// restore refuse it and change nothing in DEST, whatever it is.
TEST(Backup, ADestinationHoldingAPartialIsRefusedAndLeftUntouched) {
  TempDir dir;
  const std::string original = dir.sub("journal");
  ASSERT_EQ(forkjournal(original, {"init"}).exit_code, 0);
  const std::string backup = dir.sub("backup");
  ASSERT_EQ(forkjournal(original, {"backup", backup}).exit_code, 0);
  const std::string elsewhere = dir.sub("elsewhere");
  fs::create_directory(elsewhere);
  std::ofstream(elsewhere + "/notes.txt") << "important";

  for (const std::string kind : {"directory", "file", "symlink", "with-more"}) {
    SCOPED_TRACE(kind);
    const std::string dest = dir.sub("dest-" + kind);
    fs::create_directory(dest);
    const std::string partial = dest + "/.partial";
    if (kind == "file") {
      std::ofstream(partial) << "important";
    } else if (kind == "symlink") {
      fs::create_directory_symlink(elsewhere, partial);
    } else {
      fs::create_directory(partial);
      std::ofstream(partial + "/notes.txt") << "important";
      if (kind == "with-more") std::ofstream(dest + "/other") << "mine";
    }
    const std::set<std::string> before = listing(dest);
    // backup DEST, and restore into --journal DEST.
    for (const auto& [journal, args, what] :
         std::vector<std::tuple<std::string, std::vector<std::string>, std::string>>{
             {original, {"backup", dest}, "backup"}, {dest, {"restore", backup}, "restore"}}) {
      SCOPED_TRACE(what);
      const Exited r = forkjournal(journal, args);
      EXPECT_EQ(r.exit_code, 2) << r;
      EXPECT_EQ(r.out, "");
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_NE(r.err.find(dest), std::string::npos) << r.err;
      if (kind == "with-more") {
        EXPECT_NE(r.err.find(dest + " is not empty"), std::string::npos) << r.err;
      } else {
        EXPECT_NE(r.err.find("left by an interrupted " + what + " (or one still running)"),
                  std::string::npos)
            << r.err;
        EXPECT_NE(r.err.find("remove " + partial + " by hand once no " + what), std::string::npos)
            << r.err;
      }
      EXPECT_EQ(listing(dest), before);
      const std::string notes = kind == "file"      ? partial
                                : kind == "symlink" ? elsewhere + "/notes.txt"
                                                    : partial + "/notes.txt";
      std::ifstream kept(notes);
      EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "important");
    }
    if (kind == "symlink") {
      EXPECT_TRUE(fs::is_symlink(partial));
    }
  }
  // Once the .partial is removed by hand, the same command goes through.
  fs::remove_all(dir.sub("dest-directory/.partial"));
  EXPECT_EQ(forkjournal(original, {"backup", dir.sub("dest-directory")}).exit_code, 0);
  EXPECT_EQ(listing(dir.sub("dest-directory")), std::set<std::string>{"data.mdb"});
}

// Two backups started at once into one DEST: one makes the copy, the other
// is refused and removes nothing of the first's (it used to remove the
// first's .partial, which then failed to move its copy into place).
TEST(Backup, TwoBackupsIntoOneDestinationAtOnceLeaveOneGoodCopy) {
  TempDir dir;
  const std::string original = dir.sub("journal");
  {
    auto journal = fj::Journal::create(original, fj::JournalOptions{.sync = fj::SyncMode::none});
    ASSERT_TRUE(journal);
    fill(*journal);
  }
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string dest = dir.sub("dest" + std::to_string(round));
    // Into a new DEST in even rounds, an existing empty one in odd rounds.
    if (round % 2 == 1) fs::create_directory(dest);
    std::vector<pid_t> pids;
    for (int i = 0; i < 2; ++i) {
      const std::string log = dir.sub("log" + std::to_string(round) + "-" + std::to_string(i));
      pids.push_back(spawn_logged({FORKJOURNAL_BIN, "--journal", original, "backup", dest},
                                  log + ".out", log + ".err"));
      ASSERT_GT(pids.back(), 0);
    }
    std::vector<int> codes;
    std::string errors;
    for (int i = 0; i < 2; ++i) {
      const auto status = wait_exit(pids[i], std::chrono::seconds(60));
      ASSERT_TRUE(status && WIFEXITED(*status));
      codes.push_back(WEXITSTATUS(*status));
      errors += fj::testing::file_text(
          dir.sub("log" + std::to_string(round) + "-" + std::to_string(i) + ".err"));
    }
    std::sort(codes.begin(), codes.end());
    EXPECT_EQ(codes, (std::vector<int>{0, 2})) << errors;
    EXPECT_EQ(errors.find("cannot move the copy"), std::string::npos) << errors;
    EXPECT_EQ(listing(dest), std::set<std::string>{"data.mdb"});
    const Exited audit = forkjournal(dest, {"audit"});
    EXPECT_EQ(audit.exit_code, 0) << audit;
  }
}

// Runs forkjournal as user nobody when this process is root (for whom no
// mode bars a listing), else as this user.
Exited forkjournal_unprivileged(const std::string& journal, std::vector<std::string> args) {
  args.insert(args.begin(), {FORKJOURNAL_BIN, "--journal", journal});
  if (::geteuid() == 0) {
    args.insert(args.begin(),
                {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"});
  }
  return run(args, {.journal_env = std::nullopt, .timeout = std::chrono::seconds(60)});
}

// A target directory the user may not list is reported as that, naming it,
// not as "not empty" (backup's DEST, restore's and init's --journal).
TEST(Backup, ATargetThatCannotBeListedIsReportedAsSuchNotAsNotEmpty) {
  TempDir dir;
  // Others may pass through the test's directory, not list it.
  fs::permissions(dir.path(), fs::perms::others_exec, fs::perm_options::add);
  const std::string original = dir.sub("journal");
  ASSERT_EQ(forkjournal(original, {"init"}).exit_code, 0);
  const std::string backup = dir.sub("backup");
  ASSERT_EQ(forkjournal(original, {"backup", backup}).exit_code, 0);
  if (::geteuid() == 0) {
    for (const std::string& d : {original, backup}) {
      for (const auto& entry : fs::recursive_directory_iterator(d)) {
        ASSERT_EQ(::chown(entry.path().c_str(), 65534, 65534), 0);
      }
      ASSERT_EQ(::chown(d.c_str(), 65534, 65534), 0);
    }
  }
  const std::string locked = dir.sub("locked");
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::none);

  for (const auto& [journal, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {original, {"backup", locked}}, {locked, {"restore", backup}}, {locked, {"init"}}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = forkjournal_unprivileged(journal, args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "forkjournal: cannot list " + locked + ": Permission denied\n") << r;
  }
  fs::permissions(locked, fs::perms::owner_all);
  EXPECT_TRUE(fs::is_empty(locked));
  // The same user goes through in a directory of its own.
  const std::string own = dir.sub("own");
  fs::create_directory(own);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(own.c_str(), 65534, 65534), 0);
  }
  const Exited ok = forkjournal_unprivileged(original, {"backup", own + "/backup"});
  EXPECT_EQ(ok.exit_code, 0) << ok;
}

TEST(Backup, AFailedBackupLeavesNothingBehind) {
  TempDir dir;
  const std::string dest = dir.sub("backup");
  const Exited r = forkjournal(dir.sub("no-journal"), {"backup", dest});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_FALSE(fs::exists(dest));

  // An empty destination that existed stays, empty.
  fs::create_directory(dest);
  EXPECT_EQ(forkjournal(dir.sub("no-journal"), {"backup", dest}).exit_code, 2);
  EXPECT_TRUE(fs::is_directory(dest));
  EXPECT_TRUE(fs::is_empty(dest));
}

TEST(Backup, RestoreIntoAnEmptyDirectoryPassesTheBackupsExpectHead) {
  TempDir dir;
  const std::string original = dir.sub("journal");
  {
    auto journal = fj::Journal::create(original, fj::JournalOptions{.sync = fj::SyncMode::none});
    ASSERT_TRUE(journal);
    fill(*journal);
  }
  const Exited backup = forkjournal(original, {"backup", dir.sub("backup"), "--json"});
  ASSERT_EQ(backup.exit_code, 0) << backup;
  const json::object out = parse(backup.out).as_object();
  const std::string expect = std::to_string(out.at("head_seq").to_number<std::uint64_t>()) + ":" +
                             std::string(out.at("chain_head").as_string());

  const std::string restored = dir.sub("restored");
  const Exited restore = forkjournal(restored, {"restore", dir.sub("backup")});
  ASSERT_EQ(restore.exit_code, 0) << restore;
  EXPECT_NE(restore.out.find(expect), std::string::npos) << restore.out;
  EXPECT_EQ(forkjournal(restored, {"audit", "--expect-head", expect}).exit_code, 0);
  EXPECT_EQ(parse(forkjournal(restored, {"counts", "--json"}).out),
            parse(forkjournal(original, {"counts", "--json"}).out));
  // The restored journal takes appends again.
  EXPECT_EQ(forkjournal(restored, {"fork", "tpl1", "frk-new"}).exit_code, 0);
  // Restoring over a journal is refused.
  EXPECT_EQ(forkjournal(restored, {"restore", dir.sub("backup")}).exit_code, 2);
}

// restore from a directory without data.mdb says that it holds no backup,
// not to create a journal there with init; nothing is created.
TEST(Backup, RestoreFromADirectoryWithoutDataMdbSaysItHoldsNoBackup) {
  TempDir dir;
  const std::string empty = dir.sub("empty");
  fs::create_directory(empty);
  const std::string interrupted = dir.sub("interrupted");
  fs::create_directories(interrupted + "/.partial");
  for (const std::string& src : {empty, interrupted}) {
    SCOPED_TRACE(src);
    const Exited r = forkjournal(dir.sub("restored"), {"restore", src});
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(src + " holds no journal to restore (no data.mdb): a backup directory "
                               "holds the data.mdb that 'forkjournal backup' wrote"),
              std::string::npos)
        << r;
    EXPECT_EQ(r.err.find("init"), std::string::npos) << r;
    EXPECT_EQ(r.err.find(".partial was left by a backup that did not finish") != std::string::npos,
              src == interrupted)
        << r;
    EXPECT_FALSE(fs::exists(dir.sub("restored")));
  }
  EXPECT_TRUE(fs::is_empty(empty));
  EXPECT_EQ(listing(interrupted), std::set<std::string>{".partial"});
}

// An empty journal's anchor is 0:<its chain seed> (what backup and audit print
// for it): an expect-head at seq 0 is checked like any other, so a wrong seed,
// or another journal's, is a finding.
TEST(Backup, AnEmptyJournalsAnchorIsItsChainSeedAndOnlyThatSeedPasses) {
  TempDir dir;
  const std::string original = dir.sub("journal");
  ASSERT_EQ(forkjournal(original, {"init"}).exit_code, 0);
  const Exited backup = forkjournal(original, {"backup", dir.sub("backup"), "--json"});
  ASSERT_EQ(backup.exit_code, 0) << backup;
  const json::object out = parse(backup.out).as_object();
  EXPECT_EQ(out.at("head_seq").to_number<std::uint64_t>(), 0u);
  const std::string seed = "0:" + std::string(out.at("chain_head").as_string());

  EXPECT_EQ(forkjournal(original, {"audit", "--expect-head", seed}).exit_code, 0);
  EXPECT_EQ(forkjournal(dir.sub("backup"), {"audit", "--expect-head", seed}).exit_code, 0);
  ASSERT_EQ(forkjournal(original, {"register", "t1", "--source", "s1"}).exit_code, 0);
  EXPECT_EQ(forkjournal(original, {"audit", "--expect-head", seed}).exit_code, 0);

  const std::string other = dir.sub("other");
  ASSERT_EQ(forkjournal(other, {"init"}).exit_code, 0);
  const std::string wrong = "0:" + std::string(64, '0');
  for (const auto& [journal, expect] : std::vector<std::pair<std::string, std::string>>{
           {original, wrong}, {other, seed}, {dir.sub("backup"), wrong}}) {
    SCOPED_TRACE(journal + " --expect-head " + expect);
    const Exited text = forkjournal(journal, {"audit", "--expect-head", expect});
    EXPECT_EQ(text.exit_code, 1) << text;
    EXPECT_NE(text.out.find("seq 0  expect_head: the chain seed (seq 0) is "), std::string::npos)
        << text;
    EXPECT_NE(text.out.find("not the journal that head was taken from"), std::string::npos) << text;
    const Exited js = forkjournal(journal, {"audit", "--json", "--expect-head", expect});
    EXPECT_EQ(js.exit_code, 1) << js;
    const json::object report = parse(js.out).as_object();
    EXPECT_FALSE(report.at("ok").as_bool());
    ASSERT_EQ(report.at("findings").as_array().size(), 1u) << js;
    EXPECT_EQ(report.at("findings").at(0).at("kind").as_string(), "expect_head");
    EXPECT_EQ(report.at("findings").at(0).at("seq").to_number<std::uint64_t>(), 0u);
  }
}

}  // namespace
