// The scanner's record of each entry's memory file, on real data roots with
// real symlinks and hardlinks (the reconciler on them: reconciler_test.cc).
#include "gc/scanner.h"
#include "support/data_root.h"
#include "support/temp_dir.h"

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

// A delete that died part-way may leave the memory link behind it, and that
// link still says which template the entry may need.
TEST(MemoryScan, ALeftoversMemoryLinkIsStillRecorded) {
  DataRoot root;
  root.leftover("LEAK");
  root.memory_symlink("LEAK", "src-web");  // src-web itself is gone
  const ScanResult r = scan_ok(root.path());
  ASSERT_NE(r.find_unreadable("LEAK"), nullptr);
  EXPECT_EQ(r.find_unreadable("LEAK")->reason, Unreadable::missing);
  const Memory m = memory(r, "LEAK");
  EXPECT_EQ(m.kind, MemoryKind::symlink);
  EXPECT_EQ(m.resolved, memory_path("src-web"));
}

}  // namespace
}  // namespace fj::gc
