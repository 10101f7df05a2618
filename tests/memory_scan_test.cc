// The scanner's record of each entry's memory file, on real data roots with
// real symlinks and hardlinks, and the reconciler's rules end to end on them.
#include "data_root.h"
#include "gc/reconciler.h"
#include "gc/scanner.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace fj::gc {
namespace {

namespace fs = std::filesystem;
using fj::testing::DataRoot;
using fj::testing::TempDir;

ScanResult scan_ok(const std::string& root) {
  auto r = scan(root);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : ScanResult{};
}

// A copy: the scan result is often a temporary.
Memory memory(const ScanResult& r, const std::string& id) {
  const Memory* m = r.memory_of(id);
  EXPECT_NE(m, nullptr) << id;
  return m != nullptr ? *m : Memory{MemoryKind::unknown, 0, 0, 0, "", "", "no record"};
}

TEST(MemoryScan, PrivateFileHasLinkCountOne) {
  DataRoot root;
  root.instance("a");
  root.memory("a");
  const Memory m = memory(scan_ok(root.path()), "a");
  EXPECT_EQ(m.kind, MemoryKind::private_file);
  EXPECT_EQ(m.links, 1u);
}

TEST(MemoryScan, HardlinksShareDeviceAndInode) {
  DataRoot root;
  root.instance("src");
  root.memory("src");
  root.instance("fork");
  root.memory_hardlink("fork", "src");
  const ScanResult r = scan_ok(root.path());
  const Memory s = memory(r, "src");
  const Memory f = memory(r, "fork");
  EXPECT_EQ(s.kind, MemoryKind::shared_file);
  EXPECT_EQ(f.kind, MemoryKind::shared_file);
  EXPECT_EQ(s.links, 2u);
  EXPECT_EQ(s.inode, f.inode);
  EXPECT_EQ(s.device, f.device);
  struct stat st {};
  ASSERT_EQ(::stat((root.snapshot_dir("src") + "/memory").c_str(), &st), 0);
  EXPECT_EQ(s.inode, st.st_ino);
}

TEST(MemoryScan, AbsoluteSymlinkIntoTheRootIsResolvedNotFollowed) {
  DataRoot root;
  root.instance("fork");
  root.memory_symlink("fork", "src");  // src has no memory file: a dangling link
  const Memory m = memory(scan_ok(root.path()), "fork");
  EXPECT_EQ(m.kind, MemoryKind::symlink);
  EXPECT_EQ(m.target, root.path() + "/guests/src/snapshots/snapshot-latest/memory");
  EXPECT_EQ(m.resolved, memory_path("src"));
}

TEST(MemoryScan, RelativeSymlinkIsResolvedAgainstItsDirectory) {
  DataRoot root;
  fs::create_symlink("../../../src/snapshots/./snapshot-latest/memory",
                     root.snapshot_dir("fork") + "/memory");
  EXPECT_EQ(memory(scan_ok(root.path()), "fork").resolved, memory_path("src"));
}

TEST(MemoryScan, SymlinkOutOfTheRootIsRecordedAsOutside) {
  DataRoot root;
  fs::create_symlink("/var/lib/elsewhere/memory", root.snapshot_dir("a") + "/memory");
  fs::create_symlink("../../../../../memory", root.snapshot_dir("b") + "/memory");
  const ScanResult r = scan_ok(root.path());
  EXPECT_EQ(memory(r, "a").kind, MemoryKind::symlink);
  EXPECT_EQ(memory(r, "a").resolved, "");
  EXPECT_EQ(memory(r, "b").resolved, "");
}

TEST(MemoryScan, RootNamedThroughASymlinkStillContainsTheLinks) {
  DataRoot root;
  TempDir alias_dir;
  const std::string alias = alias_dir.path() + "/vmm";
  fs::create_symlink(root.path(), alias);
  // The VM manager wrote its links through the real path; we scan the alias.
  root.memory_symlink("fork", "src");
  EXPECT_EQ(memory(scan_ok(alias), "fork").resolved, memory_path("src"));
}

TEST(MemoryScan, CompressedAndTemporarySiblingsAreNotTheMemoryFile) {
  DataRoot root;
  root.instance("a");
  for (const char* name : {"memory.lz4", "memory.zst", "memory.tmp", "memory~"}) {
    std::ofstream(root.snapshot_dir("a") + "/" + name) << "x";
  }
  EXPECT_EQ(memory(scan_ok(root.path()), "a").kind, MemoryKind::absent);
}

TEST(MemoryScan, NoSnapshotsDirectoryIsAbsent) {
  DataRoot root;
  root.instance("a");
  EXPECT_EQ(memory(scan_ok(root.path()), "a").kind, MemoryKind::absent);
}

TEST(MemoryScan, SymlinkedSnapshotDirectoryIsNotFollowed) {
  DataRoot root;
  TempDir elsewhere;
  std::ofstream(elsewhere.path() + "/memory") << "x";
  fs::create_directories(root.path() + "/guests/a/snapshots");
  fs::create_directory_symlink(elsewhere.path(),
                               root.path() + "/guests/a/snapshots/snapshot-latest");
  const Memory m = memory(scan_ok(root.path()), "a");
  EXPECT_EQ(m.kind, MemoryKind::unknown);
  EXPECT_NE(m.detail.find("symbolic link"), std::string::npos) << m.detail;
}

TEST(MemoryScan, AMemoryDirectoryIsUnknown) {
  DataRoot root;
  fs::create_directories(root.snapshot_dir("a") + "/memory");
  EXPECT_EQ(memory(scan_ok(root.path()), "a").kind, MemoryKind::unknown);
}

TEST(MemoryScan, HalfMadeForkIsClassifiedWithTheIdItNames) {
  DataRoot root;
  root.raw("frk-new", R"({"Id": "src-web", "IsTemplate": true, "TemplateID": "web"})");
  const ScanResult r = scan_ok(root.path());
  EXPECT_EQ(r.find("frk-new"), nullptr);
  EXPECT_EQ(r.find("src-web"), nullptr);
  EXPECT_EQ(r.find_unreadable("frk-new"), nullptr);
  const HalfMadeFork* h = r.find_half_made("frk-new");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->names, "src-web");
  EXPECT_TRUE(h->is_template);
  EXPECT_EQ(h->template_id, "web");
  EXPECT_TRUE(r.has_entry("frk-new"));
  EXPECT_FALSE(r.has_entry("src-web"));
}

TEST(MemoryScan, DirectoryWithoutMetadataIsALeftover) {
  DataRoot root;
  root.leftover("LEAK");
  const ScanResult r = scan_ok(root.path());
  const UnreadableFile* u = r.find_unreadable("LEAK");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->reason, Unreadable::missing);
}

// End to end: the reconciler on real links.
class MemoryReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto j = Journal::create(journal_dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j);
    journal_ = std::make_unique<Journal>(std::move(*j));
    auto l = Ledger::open(*journal_);
    ASSERT_TRUE(l);
    ledger_ = std::make_unique<Ledger>(std::move(*l));
  }
  void ok(const Command& c) {
    auto r = ledger_->execute(c, Origin::api);
    ASSERT_TRUE(r) << r.error().message;
  }
  ReconcileReport run() {
    auto r = reconcile(*ledger_, root_.path());
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : ReconcileReport{};
  }
  const Template* tpl(const std::string& id) { return ledger_->projection().find(id); }

  TempDir journal_dir_;
  DataRoot root_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(MemoryReconcileTest, LeftoverDirectoryNoLongerStopsTheSweep) {
  ok(RegisterTemplate{"db", "src-db", "db"});  // its source is gone: an orphan
  root_.leftover("LEAK");
  const auto r = run();
  ASSERT_EQ(r.appended.size(), 1u);
  EXPECT_EQ(r.appended[0].type, EventType::template_retired);
  EXPECT_EQ(tpl("db")->state, TemplateState::retired);
  EXPECT_EQ(r.plan.leftovers, std::vector<std::string>{"LEAK"});
  EXPECT_TRUE(r.plan.needs_attention());
}

TEST_F(MemoryReconcileTest, TornForkIsKeptAndProvenByItsSymlink) {
  root_.instance("src-web", "", true, "web");
  root_.memory("src-web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  ok(AddFork{"web", "frk-a"});
  root_.raw("frk-a", R"({"Id": "frk-a", "ForkOf)");  // torn mid-write
  root_.memory_symlink("frk-a", "src-web");
  const auto r = run();
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(tpl("web")->forks, 1u);
  ASSERT_EQ(r.plan.kept_forks.size(), 1u);
  EXPECT_NE(r.plan.kept_forks[0].proven_by.find(memory_path("src-web")), std::string::npos);
}

TEST_F(MemoryReconcileTest, TornUntrackedForkIsRecoveredByItsHardlink) {
  root_.instance("src-web", "", true, "web");
  root_.memory("src-web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  root_.raw("frk-x", "");
  root_.memory_hardlink("frk-x", "src-web");
  const auto r = run();
  ASSERT_EQ(r.appended.size(), 1u);
  EXPECT_EQ(r.appended[0].type, EventType::fork_recovered);
  EXPECT_EQ(r.appended[0].reason, Reason::memory_link);
  EXPECT_EQ(r.appended[0].fork, "frk-x");
  EXPECT_EQ(tpl("web")->forks, 1u);
}

TEST_F(MemoryReconcileTest, LeftoverLinkingATemplatesMemoryHoldsOnlyItsSweep) {
  ok(RegisterTemplate{"web", "src-web", "web"});  // both sources gone
  ok(RegisterTemplate{"db", "src-db", "db"});
  root_.leftover("LEAK");
  root_.memory_symlink("LEAK", "src-web");  // the path web's source memory had
  const auto r = run();
  ASSERT_EQ(r.plan.held.size(), 1u);
  EXPECT_EQ(r.plan.held[0].template_id, "web");
  EXPECT_EQ(tpl("web")->state, TemplateState::active);
  EXPECT_EQ(tpl("db")->state, TemplateState::retired);
}

TEST_F(MemoryReconcileTest, SymlinkedGuestsEntryHoldsTheSweep) {
  ok(RegisterTemplate{"web", "src-web", "web"});  // its source is gone: an orphan
  TempDir elsewhere;
  fs::create_directory_symlink(elsewhere.path(), root_.path() + "/guests/frk-s");
  const auto r = run();
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(tpl("web")->state, TemplateState::active);
  ASSERT_EQ(r.plan.held.size(), 1u);
  ASSERT_EQ(r.plan.holders.size(), 1u);
  EXPECT_EQ(r.plan.holders[0].instance, "frk-s");
}

TEST_F(MemoryReconcileTest, RetiredTemplatesFilesStayWhileAnEntryMayShareItsMemory) {
  root_.instance("src-web", "", true, "web");
  root_.memory("src-web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  ok(RetireTemplate{"web"});
  root_.template_dir("web", "src-web");
  root_.raw("frk-t", "{");
  root_.memory_symlink("frk-t", "src-web");
  std::vector<std::string> removed;
  ReconcileOptions options;
  options.remove_template_files = [&](const std::string& id) -> Result<void> {
    removed.push_back(id);
    return {};
  };
  auto r = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(r);
  EXPECT_TRUE(removed.empty());
  ASSERT_EQ(r->plan.held.size(), 1u);
  EXPECT_TRUE(r->plan.held[0].retired);
  EXPECT_TRUE(r->plan.retired_with_files.empty());

  root_.remove("frk-t");  // the doubt is gone: the files may go
  r = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(r);
  EXPECT_EQ(removed, std::vector<std::string>{"web"});
}

TEST_F(MemoryReconcileTest, FilesAreRemovedOnlyForRetiredTemplatesWithoutForks) {
  root_.instance("src-web", "", true, "web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  root_.template_dir("web", "src-web");
  auto scanned = scan(root_.path());
  ASSERT_TRUE(scanned);
  ReconcilePlan plan = plan_reconcile(ledger_->projection(), *scanned, 1);
  plan.retired_with_files.push_back("web");  // a wrong plan: web is active
  std::vector<std::string> removed;
  ReconcileOptions options;
  options.remove_template_files = [&](const std::string& id) -> Result<void> {
    removed.push_back(id);
    return {};
  };
  auto r = apply_plan(*ledger_, plan, *scanned, options);
  ASSERT_TRUE(r);
  EXPECT_TRUE(removed.empty());
  EXPECT_TRUE(root_.has_template_dir("web"));
}

}  // namespace
}  // namespace fj::gc
