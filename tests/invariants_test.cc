// The post-crash invariants (crashtest/invariants.h) hold on a journal that
// holds exactly what was acknowledged, and each one reports what breaks it:
// the crash loop and the daemon and stress tests rely on them failing.
#include "crashtest/invariants.h"

#include "projector/ledger.h"
#include "support/event_samples.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fj {
namespace {

using invariants::AckedEvent;
using invariants::AckWindow;
using testing::TempDir;

class InvariantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto j = Journal::create(dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j) << j.error().message;
    journal_.emplace(std::move(*j));
    auto ledger = Ledger::open(*journal_);
    ASSERT_TRUE(ledger) << ledger.error().message;
    ASSERT_TRUE(ledger->execute(RegisterTemplate{"t1", "s1", ""}, Origin::api));  // seq 1
    ASSERT_TRUE(ledger->execute(AddFork{"t1", "f1"}, Origin::api));               // seq 2
  }

  static std::vector<AckedEvent> acks() {
    return {{1, EventType::template_registered, "t1", "", "s1", "register t1"},
            {2, EventType::fork_added, "t1", "f1", "", "fork f1"}};
  }

  // The violation acknowledged_present() reports, or "" when it passes.
  std::string violation(const std::vector<AckedEvent>& a, const AckWindow& window) const {
    const auto checked = invariants::acknowledged_present(*journal_, a, window);
    return checked ? "" : checked.error().what;
  }

  TempDir dir_;
  std::optional<Journal> journal_;
};

TEST_F(InvariantsTest, AJournalHoldingWhatWasAcknowledgedPassesEveryCheck) {
  const auto audited = invariants::clean_audit(*journal_);
  ASSERT_TRUE(audited) << audited.error().what;
  EXPECT_EQ(audited->head_seq, 2u);
  EXPECT_EQ(violation(acks(), {.head = 2, .complete = true}), "");
  const auto runs = invariants::reconcile_runs_whole(*journal_, 0, 2, {});
  ASSERT_TRUE(runs) << runs.error().what;
  EXPECT_EQ(runs->runs, 0u);
  const auto loaded = invariants::load_matches_replay(*journal_, 2);
  ASSERT_TRUE(loaded) << loaded.error().what;
  EXPECT_EQ(loaded->replayed.find("t1")->forks, 1u);
  const auto round_trip = invariants::snapshot_round_trip(*journal_, 2, loaded->replayed);
  EXPECT_TRUE(round_trip) << round_trip.error().what;
}

TEST_F(InvariantsTest, EveryBrokenAcknowledgementIsAViolation) {
  std::vector<AckedEvent> other_fork = acks();
  other_fork[1].fork = "f9";
  EXPECT_EQ(violation(other_fork, {.head = 2}),
            "fork f1 (acknowledged at seq 2) holds fork_added t1 f1, not the acknowledged "
            "fork_added t1 f9");

  std::vector<AckedEvent> other_source = acks();
  other_source[0].source = "s9";
  EXPECT_NE(violation(other_source, {.head = 2}), "");

  EXPECT_EQ(violation(acks(), {.after = 1, .head = 2, .name = "the new seqs"}),
            "register t1 (acknowledged at seq 1) lies outside the new seqs (2-2)");

  std::vector<AckedEvent> twice = acks();
  twice.push_back(twice[1]);
  EXPECT_EQ(violation(twice, {.head = 2}),
            "fork f1 (acknowledged at seq 2): another request was acknowledged with the same seq");

  std::vector<AckedEvent> beyond = acks();
  beyond.push_back({3, EventType::fork_added, "t1", "f2", "", "fork f2"});
  EXPECT_EQ(violation(beyond, {.head = 3}), "fork f2 (acknowledged at seq 3): the seq is missing");

  const std::vector<AckedEvent> one{acks()[1]};
  EXPECT_EQ(violation(one, {.head = 2}), "");
  EXPECT_EQ(violation(one, {.head = 2, .complete = true}), "seq 1 was never acknowledged");
}

TEST_F(InvariantsTest, AnAcknowledgedReconcileRunMissingFromTheLogIsAViolation) {
  const invariants::AckedRun run{1, 2, 1, 0};
  const auto runs = invariants::reconcile_runs_whole(*journal_, 0, 2, std::span(&run, 1));
  ASSERT_FALSE(runs);
  EXPECT_EQ(runs.error().what,
            "the reconcile run acknowledged at seqs 1-2 (1 corrections, 0 sweeps) is not in the "
            "log as acknowledged");
}

TEST_F(InvariantsTest, AHeadOtherThanTheJournalsIsAViolation) {
  const auto loaded = invariants::load_matches_replay(*journal_, 3);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().what,
            "load (snapshot at seq 0 + tail) differs from a full replay to seq 3");
  auto replayed = replay(*journal_);
  ASSERT_TRUE(replayed);
  const auto round_trip = invariants::snapshot_round_trip(*journal_, 3, *replayed);
  ASSERT_FALSE(round_trip);
  EXPECT_EQ(round_trip.error().what, "a snapshot was stored at seq 2, not the head 3");
}

TEST_F(InvariantsTest, LoadMustEqualTheProjectionTheCallerVerified) {
  auto replayed = replay(*journal_);
  ASSERT_TRUE(replayed);
  const auto same = invariants::load_matches(*journal_, 2, *replayed);
  EXPECT_TRUE(same) << same.error().what;

  auto earlier = replay(*journal_, 1);  // t1 without its fork
  ASSERT_TRUE(earlier);
  const auto stale = invariants::load_matches(*journal_, 2, *earlier);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().what,
            "load (snapshot at seq 0 + tail) differs from a full replay to seq 2");

  Projection other = *earlier;
  const Event fork_f2 = testing::added("t1", "f2");
  other.apply(2, view(fork_f2));  // the same seq, another fork
  const auto different = invariants::load_matches(*journal_, 2, other);
  ASSERT_FALSE(different);
}

}  // namespace
}  // namespace fj
