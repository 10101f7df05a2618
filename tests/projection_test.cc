#include "projector/projection.h"

#include "support/event_samples.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace fj {
namespace {

using namespace fj::testing;

class ProjectionTest : public ::testing::Test {
 protected:
  void apply(const Event& e) { state_.apply(state_.seq() + 1, view(e)); }
  std::size_t forks_of(const std::string& tpl) const { return forks(tpl); }
  std::uint32_t forks(const std::string& tpl) const {
    const Template* t = state_.find(tpl);
    return t == nullptr ? 0 : t->forks;
  }
  AnomalyKind last_anomaly() const { return state_.anomalies().back().kind; }

  Projection state_;
};

// Id keeps up to 31 bytes inline and longer ids on the heap: every length,
// copied, moved, assigned and compared, must keep its bytes.
TEST(IdStorage, EveryLengthSurvivesCopiesAndMoves) {
  for (std::size_t size = 0; size <= kMaxIdSize; ++size) {
    std::string text(size, 'x');
    for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + i % 26);
    SCOPED_TRACE(size);
    const Id original(text);
    EXPECT_EQ(original.view(), text);
    EXPECT_EQ(original.size(), size);
    Id copy(original);
    EXPECT_EQ(copy.view(), text);
    EXPECT_TRUE(copy == original);
    Id moved(std::move(copy));
    EXPECT_EQ(moved.view(), text);
    EXPECT_EQ(copy.view(), "");  // NOLINT(bugprone-use-after-move): defined as empty
    Id assigned(std::string_view("short"));
    assigned = original;
    EXPECT_EQ(assigned.view(), text);
    Id long_one(std::string(kMaxIdSize, 'z'));
    long_one = std::move(assigned);
    EXPECT_EQ(long_one.view(), text);
    const Id& same = long_one;
    long_one = same;  // self-assignment keeps the id
    EXPECT_EQ(long_one.view(), text);
  }
}

// At every length, changing any one byte must change the hash (XXH3 reads
// ids in length classes, each its own code), and an Id must hash like its
// bytes (the maps look ids up by string_view).
TEST(IdHash, EveryByteOfEveryLengthCounts) {
  const IdHash hash;
  for (std::size_t size = 1; size <= kMaxIdSize; ++size) {
    std::string id(size, 'a');
    for (std::size_t i = 0; i < size; ++i) id[i] = static_cast<char>('a' + (i * 7) % 26);
    SCOPED_TRACE(id);
    const std::size_t original = hash(id);
    EXPECT_EQ(hash(Id(id)), original);
    EXPECT_NE(hash(id.substr(0, size - 1)), original);
    for (std::size_t i = 0; i < size; ++i) {
      for (const char other : {'0', 'Z', '_'}) {
        std::string changed = id;
        changed[i] = other;
        EXPECT_NE(hash(changed), original) << "byte " << i << " -> " << other;
      }
    }
  }
}

// Two 64-byte ids that differ only in bytes 32..39, with bytes 40..47 equal
// to the hash of their first 32 bytes under a hand-written hash that folded
// that hash with bytes 40..47 and so got zero for both (docs/decisions.md):
// a hash that lets one block cancel the next must not come back.
TEST(IdHash, BytesAfterTheFirstBlockAlwaysCount) {
  const IdHash hash;
  const std::string a = "wB4Q.WnEwbpG79J3LomcWMfr6IOqa7v5Pir.qjm9YcBfP_NTxxxxxxxxxxxxxxxx";
  const std::string b = "wB4Q.WnEwbpG79J3LomcWMfr6IOqa7v5JDY41d36YcBfP_NTxxxxxxxxxxxxxxxx";
  EXPECT_NE(hash(a), hash(b));
}

// IdHash declares itself avalanching, so the maps use its bits unmixed: the
// high bits pick a group of slots and the low byte is the tag compared
// within it. Ids that differ only in a counter must spread evenly over both.
TEST(IdHash, SequentialIdsSpreadOverHighAndLowBits) {
  const IdHash hash;
  constexpr int kIds = 1 << 16;
  std::vector<int> high(256), low(256);
  for (int i = 0; i < kIds; ++i) {
    std::string id = "frk-" + std::to_string(i);
    id.insert(4, 24 - id.size(), '0');
    const std::uint64_t h = hash(id);
    ++high[h >> 56];
    ++low[h & 0xff];
  }
  // 256 ids a bucket expected, standard deviation 16: 5.6 of them either way.
  for (int b = 0; b < 256; ++b) {
    EXPECT_GT(high[b], 166) << "top byte " << b;
    EXPECT_LT(high[b], 346) << "top byte " << b;
    EXPECT_GT(low[b], 166) << "low byte " << b;
    EXPECT_LT(low[b], 346) << "low byte " << b;
  }
}

// Ids around the inline limit (31 bytes) as templates and forks: counts,
// owners, lost forks and a copy of the projection all see the same ids.
TEST_F(ProjectionTest, IdsOfEveryLengthWorkAsTemplatesAndForks) {
  const std::string tpl(kMaxIdSize, 't');
  apply(registered(tpl));
  std::vector<std::string> forks;
  for (std::size_t size = 1; size <= kMaxIdSize; ++size) {
    forks.push_back(std::string(size - 1, 'f') + static_cast<char>('a' + size % 26));
    apply(added(tpl, forks.back()));
  }
  for (std::size_t i = 0; i < forks.size(); i += 2) apply(removed(tpl, forks[i]));
  apply(correction(EventType::fork_lost, tpl, forks[1], Reason::instance_missing));
  EXPECT_TRUE(state_.anomalies().empty());
  EXPECT_EQ(forks_of(tpl), kMaxIdSize / 2 - 1);
  for (std::size_t i = 0; i < forks.size(); ++i) {
    const bool live = i % 2 == 1 && i != 1;
    EXPECT_EQ(state_.owner(forks[i]) != nullptr, live) << forks[i].size();
    if (live) {
      EXPECT_EQ(state_.owner(forks[i])->id.view(), tpl);
    }
  }
  EXPECT_TRUE(state_.lost(forks[1]));
  const Projection copy = state_;
  EXPECT_TRUE(copy == state_);
  EXPECT_EQ(copy.all_live_forks().size(), kMaxIdSize / 2 - 1);
}

TEST_F(ProjectionTest, ForksAndUnforksMoveTheCount) {
  apply(registered("web"));
  apply(added("web", "a"));
  apply(added("web", "b"));
  apply(removed("web", "a"));
  EXPECT_EQ(forks("web"), 1u);
  EXPECT_EQ(state_.seq(), 4u);
  EXPECT_EQ(state_.owner("b")->id.view(), "web");
  EXPECT_EQ(state_.owner("a"), nullptr);
  EXPECT_EQ(state_.live_forks("web"), std::vector<std::string>{"b"});
  EXPECT_EQ(state_.find("web")->last_seq, 4u);
  EXPECT_TRUE(state_.anomalies().empty());
}

TEST_F(ProjectionTest, CorrectionsCountLikeForksAndUnforks) {
  apply(registered("web"));
  apply(correction(EventType::fork_recovered, "web", "a", Reason::untracked_fork));
  EXPECT_EQ(forks("web"), 1u);
  apply(correction(EventType::fork_lost, "web", "a", Reason::instance_missing));
  EXPECT_EQ(forks("web"), 0u);
  auto lost = state_.lost("a");
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->second, 3u);
  // Forking the same id again clears the lost record.
  apply(added("web", "a"));
  EXPECT_FALSE(state_.lost("a"));
}

TEST_F(ProjectionTest, RemovingANonMemberIsAnAnomalyAndNeverGoesNegative) {
  apply(registered("web"));
  apply(removed("web", "ghost"));
  EXPECT_EQ(forks("web"), 0u);
  ASSERT_EQ(state_.anomalies().size(), 1u);
  EXPECT_EQ(state_.anomalies()[0].seq, 2u);
  EXPECT_EQ(last_anomaly(), AnomalyKind::not_a_member);
  EXPECT_EQ(state_.anomalies()[0].fork, "ghost");
}

TEST_F(ProjectionTest, RemovingAForkFromTheWrongTemplateIsAnAnomaly) {
  apply(registered("web"));
  apply(registered("db"));
  apply(added("web", "a"));
  apply(removed("db", "a"));
  EXPECT_EQ(forks("web"), 1u);
  EXPECT_EQ(last_anomaly(), AnomalyKind::not_a_member);
}

TEST_F(ProjectionTest, ForkOfAnUnknownTemplateIsAnAnomaly) {
  apply(added("nobody", "a"));
  EXPECT_EQ(state_.owner("a"), nullptr);
  EXPECT_EQ(last_anomaly(), AnomalyKind::unknown_template);
}

TEST_F(ProjectionTest, ForkOfARetiredTemplateIsAnAnomaly) {
  apply(registered("web"));
  apply(retired("web"));
  apply(added("web", "a"));
  EXPECT_EQ(forks("web"), 0u);
  EXPECT_EQ(last_anomaly(), AnomalyKind::retired_template);
}

TEST_F(ProjectionTest, AForkLiveElsewhereIsNotAddedTwice) {
  apply(registered("web"));
  apply(registered("db"));
  apply(added("web", "a"));
  apply(added("db", "a"));
  EXPECT_EQ(forks("web"), 1u);
  EXPECT_EQ(forks("db"), 0u);
  EXPECT_EQ(last_anomaly(), AnomalyKind::fork_already_live);
}

TEST_F(ProjectionTest, RetireWithLiveForksRetiresButKeepsCountingThem) {
  apply(registered("web"));
  apply(added("web", "a"));
  apply(retired("web"));
  EXPECT_EQ(state_.find("web")->state, TemplateState::retired);
  EXPECT_EQ(forks("web"), 1u);
  EXPECT_EQ(last_anomaly(), AnomalyKind::retire_with_live_forks);
  apply(removed("web", "a"));  // the fork can still go away
  EXPECT_EQ(forks("web"), 0u);
}

TEST_F(ProjectionTest, DuplicateRegistrationAndDoubleRetireAreAnomalies) {
  apply(registered("web", "src1", "first"));
  apply(registered("web", "src2", "second"));
  EXPECT_EQ(state_.find("web")->name, "first");
  EXPECT_EQ(last_anomaly(), AnomalyKind::duplicate_template);
  apply(retired("web"));
  apply(retired("web"));
  EXPECT_EQ(last_anomaly(), AnomalyKind::already_retired);
  EXPECT_EQ(state_.template_count(), 1u);
}

TEST_F(ProjectionTest, TemplatesAreListedSortedById) {
  for (const char* id : {"c", "a", "b"}) apply(registered(id));
  std::vector<std::string> ids;
  for (const Template* t : state_.templates()) ids.push_back(t->id.str());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(ProjectionTest, EqualityComparesState) {
  apply(registered("web"));
  apply(added("web", "a"));
  Projection other;
  other.apply(1, view(registered("web")));
  EXPECT_FALSE(other == state_);
  other.apply(2, view(added("web", "a")));
  EXPECT_TRUE(other == state_);
}

}  // namespace
}  // namespace fj
