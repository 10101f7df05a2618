// A replay sized up front from the newest snapshot's table sizes must end in
// the very state an unsized replay reaches, whatever the hint says.
#include "journal/journal.h"
#include "projector/internal/snapshot.h"
#include "projector/ledger.h"
#include "projector/replay.h"
#include "support/event_samples.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>
#include <vector>

namespace fj {
namespace {

using namespace fj::testing;

// Templates come and go while forks churn past several table doublings,
// with reconciler losses and one anomaly.
std::vector<Event> history() {
  std::vector<Event> out;
  std::mt19937 rng(7);
  std::vector<std::pair<std::string, std::string>> live;  // fork, template
  for (int t = 0; t < 40; ++t) out.push_back(registered("tpl" + std::to_string(t)));
  for (int i = 0; i < 6000; ++i) {
    if (live.empty() || rng() % 3 != 0) {
      live.emplace_back("frk" + std::to_string(i), "tpl" + std::to_string(rng() % 40));
      out.push_back(added(live.back().second, live.back().first));
    } else {
      const std::size_t k = rng() % live.size();
      const auto& [fork, tpl] = live[k];
      out.push_back(i % 2 == 0
                        ? removed(tpl, fork)
                        : correction(EventType::fork_lost, tpl, fork, Reason::instance_missing));
      live[k] = live.back();
      live.pop_back();
    }
  }
  out.push_back(removed("tpl0", "never-forked"));
  return out;
}

Projection replayed(Projection p, const std::vector<Event>& events) {
  std::uint64_t seq = p.seq();
  for (const Event& e : events) p.apply(++seq, view(e));
  return p;
}

TEST(ReplaySizing, SnapshotSizesCountWhatItHolds) {
  Projection p;
  std::uint64_t seq = 0;
  for (const Event& e :
       {registered("web"), registered("db"), added("web", "a"), added("web", "b"), added("db", "c"),
        correction(EventType::fork_lost, "web", "a", Reason::instance_missing), retired("db")}) {
    p.apply(++seq, view(e));
  }
  auto sizes = SnapshotCodec::sizes(SnapshotCodec::encode(p, 9));
  ASSERT_TRUE(sizes) << sizes.error().message;
  EXPECT_EQ(sizes->seq, 7u);
  EXPECT_EQ(sizes->templates, 2u);
  EXPECT_EQ(sizes->live_forks, 2u);
  EXPECT_EQ(sizes->lost_forks, 1u);
}

TEST(ReplaySizing, SnapshotSizesRefuseADamagedBlob) {
  const std::string blob = SnapshotCodec::encode(replayed(Projection{}, history()), 1);
  for (std::size_t i = 0; i < blob.size(); i += 97) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_FALSE(SnapshotCodec::sizes(bad)) << i;
  }
  EXPECT_FALSE(SnapshotCodec::sizes(blob.substr(0, blob.size() - 1)));
}

// Sized right, too small and far too large: the same state every time.
TEST(ReplaySizing, ReservedProjectionReplaysToTheSameState) {
  const std::vector<Event> events = history();
  const Projection plain = replayed(Projection{}, events);
  ASSERT_GT(plain.live_fork_count(), 1000u);
  for (const auto& [templates, live, lost] :
       std::vector<std::array<std::size_t, 3>>{{plain.template_count(), plain.live_fork_count(), 0},
                                               {1, 10, 1},
                                               {100'000, 1'000'000, 100'000}}) {
    Projection sized;
    sized.reserve(templates, live, lost);
    const Projection out = replayed(std::move(sized), events);
    EXPECT_TRUE(out == plain) << live;
    EXPECT_EQ(out.live_fork_count(), plain.live_fork_count());
    EXPECT_EQ(out.template_count(), plain.template_count());
    EXPECT_EQ(out.anomalies(), plain.anomalies());
    EXPECT_EQ(out.anomalies().size(), 1u);
  }
}

// fj::replay sizes itself from the journal's newest snapshot; it must still
// equal what load (snapshot + tail) and an unsized fold of the same events give.
TEST(ReplaySizing, ReplayOfAJournalWithASnapshotMatchesAnUnsizedFold) {
  TempDir dir;
  auto journal = Journal::create(dir.path(), JournalOptions{.sync = SyncMode::none});
  ASSERT_TRUE(journal) << journal.error().message;
  const std::vector<Event> events = history();
  const std::size_t split = events.size() / 2;
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_TRUE(journal->append(view(events[i])));
    if (i + 1 == split) {
      auto ledger = Ledger::open(*journal);
      ASSERT_TRUE(ledger);
      ASSERT_TRUE(ledger->snapshot());
    }
  }
  const Projection plain = replayed(Projection{}, events);
  auto full = replay(*journal);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_TRUE(*full == plain);
  EXPECT_EQ(full->live_fork_count(), plain.live_fork_count());
  LoadReport report;
  auto loaded = load(*journal, kHead, &report);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(report.snapshot_seq, split);
  EXPECT_TRUE(*loaded == plain);
  // A replay to a seq below the snapshot sizes from nothing and still matches.
  auto early = replay(*journal, split - 1);
  ASSERT_TRUE(early);
  std::vector<Event> head(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(split - 1));
  EXPECT_TRUE(*early == replayed(Projection{}, head));
}

}  // namespace
}  // namespace fj
