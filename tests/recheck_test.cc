// The commit-time re-check on values: a plan made at seq H, the projection
// at a later head, and what the events after H touched. No journal.
#include "gc/internal/recheck.h"
#include "support/event_samples.h"

#include <gtest/gtest.h>

namespace fj::gc {
namespace {

using fj::testing::added;
using fj::testing::registered;
using fj::testing::removed;
using fj::testing::retired;
using Strings = std::vector<std::string>;

Event lost(const std::string& tpl, const std::string& fork) {
  return fj::testing::correction(EventType::fork_lost, tpl, fork, Reason::instance_missing);
}
Event recovered(const std::string& tpl, const std::string& fork) {
  return fj::testing::correction(EventType::fork_recovered, tpl, fork, Reason::untracked_fork);
}
Event sweep(const std::string& tpl) {
  Event e = retired(tpl, Reason::orphaned);
  e.origin = Origin::sweep;
  return e;
}

class RecheckTest : public ::testing::Test {
 protected:
  // Appends to the head; events before mark_plan() are what the plan saw.
  void apply(const Event& e) { head_.apply(++seq_, view(e)); }
  void mark_plan() { plan_.based_on_seq = seq_; }
  // An event appended after the plan's seq, by another writer.
  void meanwhile(const Event& e) {
    apply(e);
    if (has_fork(e.type)) touched_.forks.emplace(e.fork);
    if (!e.template_id.empty()) touched_.templates.emplace(e.template_id);
  }
  Recheck run() { return recheck(plan_, head_, touched_, 99); }

  Projection head_;
  std::uint64_t seq_ = 0;
  ReconcilePlan plan_;
  TouchedSince touched_;
};

TEST_F(RecheckTest, ACorrectionOfAForkTouchedSinceThePlanIsLeftAlone) {
  apply(registered("web", "src-web"));
  apply(added("web", "a"));
  mark_plan();
  plan_.corrections.push_back(lost("web", "a"));
  meanwhile(removed("web", "a"));
  meanwhile(added("web", "a"));  // live again under web: still "true", but not the plan's a
  const Recheck r = run();
  EXPECT_TRUE(r.still_right.empty());
  EXPECT_EQ(r.left_alone, Strings{"fork_lost of fork a: changed after seq 2"});
  EXPECT_TRUE(r.decision.events.empty());
}

TEST_F(RecheckTest, ASweepOfATemplateTouchedSinceThePlanIsLeftAlone) {
  apply(registered("db", "src-db"));
  mark_plan();
  plan_.sweeps.push_back(sweep("db"));
  meanwhile(added("db", "fresh"));
  meanwhile(removed("db", "fresh"));  // no forks again at the head: touched all the same
  const Recheck r = run();
  EXPECT_TRUE(r.still_right.empty());
  EXPECT_EQ(r.left_alone, Strings{"sweep of template db: changed after seq 1"});
  EXPECT_TRUE(r.decision.events.empty());
}

// A sweep is weighed against holds that assume the plan's recoveries (an
// instance being recovered holds nothing): when a recovery is left alone,
// no sweep commits either.
TEST_F(RecheckTest, ASweepPlannedBesideARecoveryLeftAloneIsLeftAlone) {
  apply(registered("u", "src-u"));
  apply(registered("w", "src-w"));
  mark_plan();
  plan_.corrections.push_back(recovered("u", "x"));
  plan_.sweeps.push_back(sweep("w"));
  meanwhile(retired("u"));  // x is no longer recoverable under u
  const Recheck r = run();
  EXPECT_TRUE(r.still_right.empty());
  EXPECT_EQ(r.left_alone, (Strings{"fork_recovered of fork x: no longer true at seq 3",
                                   "sweep of template w: planned beside a recovery left alone"}));
  EXPECT_TRUE(r.decision.events.empty());
}

TEST_F(RecheckTest, ACorrectionNoLongerTrueAtTheHeadIsLeftAlone) {
  apply(registered("web", "src-web"));
  apply(added("web", "a"));
  apply(removed("web", "a"));  // already gone when the plan was made from a stale state
  mark_plan();
  plan_.corrections.push_back(lost("web", "a"));
  plan_.corrections.push_back(recovered("old", "b"));  // no such template
  const Recheck r = run();
  EXPECT_TRUE(r.still_right.empty());
  EXPECT_EQ(r.left_alone, (Strings{"fork_lost of fork a: no longer true at seq 3",
                                   "fork_recovered of fork b: no longer true at seq 3"}));
  EXPECT_TRUE(r.decision.events.empty());
}

TEST_F(RecheckTest, RecoveryUnderARetiredTemplateOrOfALiveForkIsNoLongerTrue) {
  apply(registered("web", "src-web"));
  apply(registered("old", "src-old"));
  apply(retired("old"));
  apply(added("web", "a"));
  mark_plan();
  plan_.corrections.push_back(recovered("old", "b"));
  plan_.corrections.push_back(recovered("web", "a"));
  const Recheck r = run();
  EXPECT_TRUE(r.still_right.empty());
  EXPECT_EQ(r.left_alone.size(), 2u);
}

TEST_F(RecheckTest, ASweepOfATemplateWithForksAtTheHeadIsNoLongerTrue) {
  apply(registered("db", "src-db"));
  apply(added("db", "a"));
  mark_plan();
  plan_.sweeps.push_back(sweep("db"));
  const Recheck r = run();
  EXPECT_TRUE(r.still_right.empty());
  EXPECT_EQ(r.left_alone, Strings{"sweep of template db: no longer true at seq 2"});
}

TEST_F(RecheckTest, SurvivorsAreFollowedByOneMarkerWithTheirCounts) {
  apply(registered("web", "src-web"));
  apply(added("web", "a"));
  apply(added("web", "b"));
  apply(registered("db", "src-db"));
  apply(added("db", "d"));  // db's last fork: lost, then swept in the same run
  apply(registered("ci", "src-ci"));
  mark_plan();
  plan_.scanned = 7;
  plan_.unreadable.push_back(UnreadableFile{"torn", Unreadable::truncated, "x"});
  plan_.leftovers.push_back("LEAK");
  plan_.half_made.push_back(HalfMade{HalfMadeFork{"half", "src-web", true, "web", ""}, {"web"}});
  plan_.corrections = {lost("web", "a"), recovered("web", "c"), lost("db", "d"), lost("web", "b")};
  plan_.sweeps = {sweep("db"), sweep("ci")};
  meanwhile(removed("web", "b"));  // only b is touched
  const Recheck r = run();

  ASSERT_EQ(r.still_right.size(), 5u);
  EXPECT_EQ(r.still_right[0].fork, "a");
  EXPECT_EQ(r.still_right[1].fork, "c");
  EXPECT_EQ(r.still_right[2].fork, "d");
  EXPECT_EQ(r.still_right[3].template_id, "db");  // sees d lost before it
  EXPECT_EQ(r.still_right[4].template_id, "ci");
  EXPECT_EQ(r.left_alone, Strings{"fork_lost of fork b: changed after seq 6"});

  ASSERT_EQ(r.decision.events.size(), 6u);
  for (std::size_t i = 0; i < r.still_right.size(); ++i) {
    EXPECT_EQ(r.decision.events[i], r.still_right[i]) << i;
  }
  const Event& marker = r.decision.events.back();
  EXPECT_EQ(marker.type, EventType::reconcile_run);
  EXPECT_EQ(marker.origin, Origin::reconcile);
  EXPECT_EQ(marker.time_ns, 99u);
  EXPECT_EQ(marker.run, (ReconcileStats{6, 7, 3, 3, 2}));
}

TEST_F(RecheckTest, NothingAtAllWhenNothingSurvives) {
  apply(registered("web", "src-web"));
  mark_plan();
  plan_.scanned = 3;
  const Recheck empty = run();  // nothing planned
  EXPECT_TRUE(empty.still_right.empty());
  EXPECT_TRUE(empty.left_alone.empty());
  EXPECT_TRUE(empty.decision.events.empty());

  plan_.sweeps.push_back(sweep("web"));
  meanwhile(added("web", "a"));
  const Recheck dropped = run();
  EXPECT_TRUE(dropped.still_right.empty());
  EXPECT_EQ(dropped.left_alone.size(), 1u);
  EXPECT_TRUE(dropped.decision.events.empty());  // no marker either
}

}  // namespace
}  // namespace fj::gc
