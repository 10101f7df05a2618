#include "projector/fork_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fj {
namespace {

// What the table holds, read by iteration, as a std::unordered_map.
std::unordered_map<std::string, std::uint32_t> contents(const ForkTable& t) {
  std::unordered_map<std::string, std::uint32_t> out;
  for (const auto& [fork, index] : t) {
    EXPECT_TRUE(out.emplace(fork.str(), index).second) << fork.str();
  }
  return out;
}

TEST(ForkTable, InsertFindEraseKeepTheIndex) {
  ForkTable t;
  EXPECT_FALSE(t.contains("frk-a"));  // an empty table has no slots
  EXPECT_EQ(t.begin(), t.end());
  EXPECT_TRUE(t.insert("frk-a", 7));
  EXPECT_FALSE(t.insert("frk-a", 9));  // present: unchanged
  ASSERT_NE(t.find("frk-a"), t.end());
  EXPECT_EQ(t.find("frk-a")->second, 7u);
  EXPECT_EQ(t.size(), 1u);
  t.erase(t.find("frk-a"));
  EXPECT_FALSE(t.contains("frk-a"));
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.begin(), t.end());
}

TEST(ForkTable, StaysAtMostAQuarterFull) {
  ForkTable t;
  for (int i = 0; i < 20'000; ++i) {
    ASSERT_TRUE(t.insert("frk-" + std::to_string(i), 1));
    ASSERT_LE(4 * t.size(), t.bucket_count()) << i;
  }
  EXPECT_EQ(t.bucket_count(), 131'072u) << "the smallest power of two of at least 80,000";
}

TEST(ForkTable, ReserveMakesRoomOnce) {
  ForkTable t;
  t.reserve(60'000);
  EXPECT_EQ(t.bucket_count(), 262'144u);
  for (int i = 0; i < 65'536; ++i) ASSERT_TRUE(t.insert("frk-" + std::to_string(i), 1));
  EXPECT_EQ(t.bucket_count(), 262'144u) << "no growth up to a quarter full";
  t.reserve(10);
  EXPECT_EQ(t.bucket_count(), 262'144u) << "reserve never shrinks";
  ASSERT_TRUE(t.insert("frk-one-more", 2));
  EXPECT_EQ(t.bucket_count(), 524'288u);
  EXPECT_EQ(contents(t).size(), 65'537u);
}

// Why the table exists: under a replay's steady fork/unfork churn it never
// rebuilds itself (a rebuild would move every entry and, while it ran,
// hold two tables), so its memory follows the live forks, not the events.
TEST(ForkTable, SteadyChurnNeverRebuildsTheTable) {
  ForkTable t;
  std::vector<std::string> live;
  std::uint64_t next = 0;
  const auto fork_id = [](std::uint64_t n) {
    std::string id = "frk-" + std::to_string(n * 0x9E3779B97F4A7C15ull);
    id.resize(24, 'x');
    return id;
  };
  for (; live.size() < 10'000; ++next) {
    live.push_back(fork_id(next));
    ASSERT_TRUE(t.insert(live.back(), 1));
  }
  const std::size_t buckets = t.bucket_count();
  std::mt19937_64 rng(1);
  for (int step = 0; step < 1'000'000; ++step, ++next) {
    const std::size_t k = rng() % live.size();
    t.erase(t.find(live[k]));
    live[k] = fork_id(next);
    ASSERT_TRUE(t.insert(live[k], 2));
  }
  EXPECT_EQ(t.bucket_count(), buckets) << "it rebuilds only to grow";
  EXPECT_EQ(t.size(), live.size());
  for (const std::string& id : live) ASSERT_TRUE(t.contains(id)) << id;
}

// Random inserts, repeated inserts and erases against std::unordered_map,
// in tables small enough that probe runs often wrap past the last slot; ids
// of 2 to 64 bytes, longer than 31 on the heap. After every step the two
// agree on size, and every few steps on every entry, by lookup and by
// iteration.
TEST(ForkTable, AgreesWithAStandardMapUnderRandomChurn) {
  for (const std::size_t universe : {std::size_t{6}, std::size_t{40}, std::size_t{3'000}}) {
    std::mt19937_64 rng(universe);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < universe; ++i) {
      // "<i>-" then letters: distinct, 2 to 64 bytes.
      std::string id = std::to_string(i) + "-";
      id.resize(id.size() + rng() % (65 - id.size()), static_cast<char>('a' + i % 26));
      ids.push_back(id);
    }
    ForkTable t;
    std::unordered_map<std::string, std::uint32_t> model;
    for (int step = 0; step < 60'000; ++step) {
      const std::string& id = ids[rng() % ids.size()];
      const auto index = static_cast<std::uint32_t>(rng() % 1000);
      if (rng() % 2 == 0) {
        ASSERT_EQ(t.insert(id, index), model.emplace(id, index).second) << id;
      } else {
        const auto it = t.find(id);
        ASSERT_EQ(it != t.end(), model.contains(id)) << id;
        if (it != t.end()) {
          ASSERT_EQ(it->second, model.at(id)) << id;
          t.erase(it);
          model.erase(id);
        }
      }
      ASSERT_EQ(t.size(), model.size());
      ASSERT_LE(4 * t.size(), t.bucket_count());
      if (step % 97 == 0) {
        for (const std::string& each : ids) {
          const auto it = t.find(each);
          ASSERT_EQ(it != t.end(), model.contains(each)) << each << " at step " << step;
          if (it != t.end()) {
            ASSERT_EQ(it->second, model.at(each));
          }
        }
        ASSERT_EQ(contents(t), model) << "at step " << step;
      }
    }
  }
}

// A run that wraps past the last slot, and an erase that shifts it back
// across the end: three keys whose home is the last of 16 slots fill slots
// 15, 0 and 1, and a key whose home is slot 0 lands in slot 2. Erasing the
// first must move each of the others one slot back, or a lookup stops at
// the gap.
TEST(ForkTable, AnEraseShiftsARunBackAcrossTheEnd) {
  std::vector<std::string> last, first;
  for (int n = 0; last.size() < 3 || first.empty(); ++n) {
    std::string id = "wrap-" + std::to_string(n);
    const std::size_t home = IdHash{}(id) % 16;
    if (home == 15 && last.size() < 3) last.push_back(id);
    if (home == 0 && first.empty()) first.push_back(id);
  }
  ForkTable t;
  for (const std::string& id : last) ASSERT_TRUE(t.insert(id, 1));
  ASSERT_TRUE(t.insert(first[0], 2));
  ASSERT_EQ(t.bucket_count(), 16u) << "the test needs the smallest table";
  t.erase(t.find(last[0]));
  EXPECT_FALSE(t.contains(last[0]));
  for (const std::string& id : {last[1], last[2], first[0]}) EXPECT_TRUE(t.contains(id)) << id;
  EXPECT_EQ(t.find(first[0])->second, 2u);
  t.erase(t.find(last[1]));
  EXPECT_TRUE(t.contains(last[2]));
  EXPECT_TRUE(t.contains(first[0]));
  EXPECT_EQ(contents(t).size(), 2u);
}

// Inserting a present fork changes nothing, also when the table is exactly
// a quarter full and a new fork would make it grow.
TEST(ForkTable, APresentForkNeverGrowsTheTable) {
  ForkTable t;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(t.insert("frk-" + std::to_string(i), 1));
  ASSERT_EQ(t.bucket_count(), 16u);
  const ForkTable::Slot* slot = &*t.find("frk-0");
  EXPECT_FALSE(t.insert("frk-0", 9));
  EXPECT_EQ(t.bucket_count(), 16u);
  EXPECT_EQ(&*t.find("frk-0"), slot);
  EXPECT_EQ(t.find("frk-0")->second, 1u);
  EXPECT_TRUE(t.insert("frk-4", 1));
  EXPECT_EQ(t.bucket_count(), 32u);
}

TEST(ForkTable, CopiesAndMovesKeepEveryEntry) {
  ForkTable t;
  const std::string heap_id(40, 'h');  // past the 31 inline bytes
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(t.insert("frk-" + std::to_string(i), i));
  ASSERT_TRUE(t.insert(heap_id, 100));
  const auto expected = contents(t);

  ForkTable copy(t);
  EXPECT_EQ(contents(copy), expected);
  copy.erase(copy.find(heap_id));
  EXPECT_TRUE(t.contains(heap_id)) << "the copy owns its own heap ids";

  ForkTable assigned;
  ASSERT_TRUE(assigned.insert("frk-other", 1));
  assigned = t;
  EXPECT_EQ(contents(assigned), expected);

  ForkTable moved(std::move(copy));
  EXPECT_EQ(moved.size(), expected.size() - 1);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(copy.begin(), copy.end());
  EXPECT_TRUE(copy.insert("frk-again", 3)) << "a moved-from table is usable";

  ForkTable target;
  target = std::move(assigned);
  EXPECT_EQ(contents(target), expected);
  ForkTable empty;
  ForkTable empty_copy(empty);
  EXPECT_TRUE(empty_copy.empty());
  EXPECT_EQ(empty_copy.bucket_count(), 0u);
}

// prefetch only hints: on an empty table and a full one, present and absent
// keys alike, it changes nothing.
TEST(ForkTable, PrefetchChangesNothing) {
  ForkTable t;
  t.prefetch("frk-a");
  EXPECT_EQ(t.bucket_count(), 0u);
  ASSERT_TRUE(t.insert("frk-a", 4));
  const auto before = contents(t);
  t.prefetch("frk-a");
  t.prefetch("frk-absent");
  t.prefetch("");
  EXPECT_EQ(contents(t), before);
}

}  // namespace
}  // namespace fj
