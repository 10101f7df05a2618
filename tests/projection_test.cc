#include "projector/projection.h"

#include "event_samples.h"

#include <gtest/gtest.h>

namespace fj {
namespace {

using namespace fj::testing;

class ProjectionTest : public ::testing::Test {
 protected:
  void apply(const Event& e) { state_.apply(state_.seq() + 1, view(e)); }
  std::uint32_t forks(const std::string& tpl) const {
    const Template* t = state_.find(tpl);
    return t == nullptr ? 0 : t->forks;
  }
  AnomalyKind last_anomaly() const { return state_.anomalies().back().kind; }

  Projection state_;
};

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
