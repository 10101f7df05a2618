// The power-loss crash-state model on hand-made traces: what a sync, an
// O_DSYNC write and a directory fsync make durable, which subsets and tears
// a state may hold, sampling, folding, and the traces it refuses.
#include "crashtest/power_loss/crash_model.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

namespace fj::power_loss {
namespace {

constexpr std::uint32_t kF = 1;  // the recorder's id of "f"

// A trace that creates "f" and makes its name durable.
Trace with_file() {
  return {Op::open(kF, "f", true), Op::open(0, ".", false), Op::dir_sync()};
}

CrashModel model_of(Trace t, ModelOptions o = {}) {
  auto m = CrashModel::build(std::move(t), std::move(o));
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error());
  return std::move(*m);
}

// Every state's contents of "f" at points >= from ("<absent>" without it).
std::multiset<std::string> contents(const CrashModel& m, std::size_t from = 0) {
  std::multiset<std::string> out;
  m.for_each_state([&](const CrashState& s) {
    if (s.point < from) return true;
    const auto it = s.files.find("f");
    out.insert(it == s.files.end() ? "<absent>" : it->second);
    return true;
  });
  return out;
}

std::set<std::string> distinct(const std::multiset<std::string>& m) {
  return {m.begin(), m.end()};
}

TEST(CrashModelTest, ASyncedWriteIsInEveryLaterStateAndAnUnsyncedOneMayBeMissing) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, "AAAA"));
  t.push_back(Op::sync(kF));
  t.push_back(Op::mark("synced"));
  t.push_back(Op::write(kF, 0, "BBBB"));
  const CrashModel m = model_of(t);
  // From the point after the mark (the sync had completed) on: A or B.
  EXPECT_EQ(distinct(contents(m, 6)), (std::set<std::string>{"AAAA", "BBBB"}));
}

TEST(CrashModelTest, AnUnsyncedWriteBeforeTheSyncCompletedMayBeMissing) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, "AAAA"));
  t.push_back(Op::sync(kF));  // issued at point 5, completed only by point 6
  const CrashModel m = model_of(t);
  std::set<std::string> at5;
  m.for_each_state([&](const CrashState& s) {
    if (s.point == 5) at5.insert(s.files.at("f"));
    return true;
  });
  EXPECT_EQ(at5, (std::set<std::string>{"", "AAAA"}));
}

TEST(CrashModelTest, AFailedSyncMakesNothingDurable) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, "AAAA"));
  Op failed = Op::sync(kF);
  failed.flags = record::kFailed;
  t.push_back(failed);
  t.push_back(Op::mark("after"));
  EXPECT_TRUE(distinct(contents(model_of(t), 6)).contains(""));
}

TEST(CrashModelTest, AnODsyncWriteIsDurableOnceItReturned) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, "meta", /*dsync=*/true));
  t.push_back(Op::mark("acknowledged"));
  const CrashModel m = model_of(t);
  // Point 4: the write may be in flight; point 5 on: it returned.
  EXPECT_EQ(distinct(contents(m, 5)), (std::set<std::string>{"meta"}));
  EXPECT_EQ(distinct(contents(m, 4)), (std::set<std::string>{"", "meta"}));
}

TEST(CrashModelTest, ANameIsDurableOnlyAfterTheDirectoryIsSynced) {
  Trace t{Op::open(kF, "f", true), Op::write(kF, 0, "AAAA"), Op::sync(kF), Op::mark("synced")};
  const CrashModel without = model_of(t);
  // The contents are durable, the name is not: the file may be missing.
  EXPECT_EQ(distinct(contents(without, 4)), (std::set<std::string>{"<absent>", "AAAA"}));

  t.push_back(Op::open(0, ".", false));
  t.push_back(Op::dir_sync());
  t.push_back(Op::mark("dir synced"));
  EXPECT_EQ(distinct(contents(model_of(t), 7)), (std::set<std::string>{"AAAA"}));
}

TEST(CrashModelTest, PendingWritesLandInIssueOrderNeverOlderOverNewer) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, "old!"));
  t.push_back(Op::write(kF, 0, "new!"));
  ModelOptions o;
  o.tears_per_write = 0;
  const CrashModel m = model_of(t, o);
  // Both, one, the other or neither: "old!" only when "new!" is absent, and
  // with both present the newer bytes win.
  std::multiset<std::string> at_end;
  m.for_each_state([&](const CrashState& s) {
    if (s.point == t.size()) at_end.insert(s.files.at("f"));
    return true;
  });
  EXPECT_EQ(at_end, (std::multiset<std::string>{"", "old!", "new!", "new!"}));
}

TEST(CrashModelTest, TheNewestPendingWriteTearsAtSectorBoundaries) {
  Trace t = with_file();
  const std::string a(1024, 'a'), b(1024, 'b');
  t.push_back(Op::write(kF, 0, a));
  t.push_back(Op::sync(kF));
  t.push_back(Op::mark("synced"));
  t.push_back(Op::write(kF, 0, b));  // two sectors
  const auto seen = distinct(contents(model_of(t), t.size()));
  EXPECT_TRUE(seen.contains(a));
  EXPECT_TRUE(seen.contains(b));
  EXPECT_TRUE(seen.contains(std::string(512, 'b') + std::string(512, 'a')))
      << "the first sector written, the second not";
  for (const std::string& s : seen) EXPECT_EQ(s.size(), 1024u);
}

TEST(CrashModelTest, ATornExtensionEndsAtTheLastSectorPresent) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, std::string(1536, 'x')));  // three sectors, a new file
  const auto seen = distinct(contents(model_of(t), t.size()));
  EXPECT_TRUE(seen.contains(std::string(512, 'x')));
  EXPECT_TRUE(seen.contains(std::string(1024, 'x')));
  EXPECT_TRUE(seen.contains(std::string(1536, 'x')));
  EXPECT_TRUE(seen.contains(""));
}

TEST(CrashModelTest, SmallPointsAreExhaustive) {
  Trace t = with_file();
  for (int i = 0; i < 4; ++i) t.push_back(Op::write(kF, i * 512, std::string(512, 'a' + i)));
  ModelOptions o;
  o.tears_per_write = 0;
  const CrashModel m = model_of(t, o);
  std::size_t at_end = 0;
  std::set<std::string> distinct_at_end;
  m.for_each_state([&](const CrashState& s) {
    if (s.point == t.size()) {
      ++at_end;
      distinct_at_end.insert(s.files.at("f"));
    }
    return true;
  });
  EXPECT_EQ(at_end, 16u);
  EXPECT_EQ(distinct_at_end.size(), 16u);
}

TEST(CrashModelTest, LargePointsAreSampledAndASeededSampleRepeats) {
  Trace t = with_file();
  for (int i = 0; i < 20; ++i) t.push_back(Op::write(kF, i * 512, std::string(512, 'a')));
  ModelOptions o;
  o.exhaustive_pending = 8;
  o.max_states = 25;
  o.seed = 7;
  const CrashModel m = model_of(t, o);
  EXPECT_EQ(m.max_pending(), 20u);
  std::vector<std::string> first, second;
  m.for_each_state([&](const CrashState& s) {
    first.push_back(s.description);
    return true;
  });
  m.for_each_state([&](const CrashState& s) {
    second.push_back(s.description);
    return true;
  });
  EXPECT_EQ(first.size(), 25u);
  EXPECT_EQ(first, second);
  EXPECT_LT(25u, m.candidates());
}

TEST(CrashModelTest, MarksAndSyncsThatChangeNothingAreFoldedIntoTheNextPoint) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, "AAAA"));
  t.push_back(Op::mark("one"));
  t.push_back(Op::mark("two"));
  t.push_back(Op::mark("three"));
  const CrashModel m = model_of(t);
  std::set<std::size_t> points;
  m.for_each_state([&](const CrashState& s) {
    points.insert(s.point);
    return true;
  });
  EXPECT_FALSE(points.contains(5));
  EXPECT_FALSE(points.contains(6));
  EXPECT_TRUE(points.contains(t.size())) << "the last point carries every acknowledgement";
}

TEST(CrashModelTest, RenamesAndUnlinksArePendingUntilTheDirectoryIsSynced) {
  Trace t = with_file();
  t.push_back(Op::write(kF, 0, "AAAA", true));
  t.push_back(Op::rename("f", "g"));
  std::set<std::string> names;
  model_of(t).for_each_state([&](const CrashState& s) {
    if (s.point == t.size()) {
      for (const auto& [name, bytes] : s.files) names.insert(name + "=" + bytes);
    }
    return true;
  });
  EXPECT_EQ(names, (std::set<std::string>{"f=AAAA", "g=AAAA"}));

  Trace u = with_file();
  u.push_back(Op::unlink("f"));
  EXPECT_EQ(distinct(contents(model_of(u), u.size())), (std::set<std::string>{"", "<absent>"}));
}

TEST(CrashModelTest, FinalFilesApplyEverythingAndLeaveIgnoredNamesOut) {
  Trace t = with_file();
  t.push_back(Op::open(2, "lock.mdb", true));
  t.push_back(Op::write(2, 0, "lock"));
  t.push_back(Op::write(kF, 4, "tail"));
  t.push_back(Op::truncate(kF, 6));
  const Files files = model_of(t).final_files();
  EXPECT_EQ(files, (Files{{"f", std::string(4, '\0') + "ta"}}));
}

TEST(CrashModelTest, RefusesWhatItCannotModel) {
  auto existed = CrashModel::build({Op::open(kF, "f", false)});
  ASSERT_FALSE(existed);
  EXPECT_NE(existed.error().find("existed before the recording"), std::string::npos);

  Trace mapped = with_file();
  mapped.push_back(Op{record::OpKind::shared_map, kF, 0, 0, {}});
  auto refused = CrashModel::build(mapped);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("mapped writable and shared"), std::string::npos);

  Trace lock{Op::open(2, "lock.mdb", true), Op{record::OpKind::shared_map, 2, 0, 0, {}}};
  EXPECT_TRUE(CrashModel::build(lock)) << "lock.mdb is left out of the states";
}

TEST(TraceTest, ReadsWhatTheRecorderWritesAndRefusesACutTrace) {
  const std::string path = ::testing::TempDir() + "/trace-test";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(record::kTraceMagic.data(), record::kTraceMagic.size());
    record::TraceOp h{record::OpKind::write, 3, 4096, record::kDsync, 5};
    out.write(reinterpret_cast<const char*>(&h), sizeof h);
    out.write("hello", 5);
  }
  auto trace = read_trace(path);
  ASSERT_TRUE(trace) << trace.error();
  ASSERT_EQ(trace->size(), 1u);
  EXPECT_EQ((*trace)[0].data, "hello");
  EXPECT_EQ((*trace)[0].offset, 4096u);
  EXPECT_EQ((*trace)[0].flags, record::kDsync);

  std::filesystem::resize_file(path, record::kTraceMagic.size() + sizeof(record::TraceOp) + 2);
  auto cut = read_trace(path);
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().find("cut short"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace fj::power_loss
