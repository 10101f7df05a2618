// A replay sized up front from the newest snapshot's table sizes, and one
// read on a helper thread, must end in the very state a plain fold of the
// same events reaches, whatever the hint says.
#include "journal/journal.h"
#include "projector/internal/pipeline.h"
#include "projector/internal/snapshot.h"
#include "projector/ledger.h"
#include "projector/replay.h"
#include "support/event_samples.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace fj {
namespace {

using namespace fj::testing;

// Templates come and go while forks churn past several table doublings,
// with reconciler losses and one anomaly.
std::vector<Event> history(int steps = 6000) {
  std::vector<Event> out;
  std::mt19937 rng(7);
  std::vector<std::pair<std::string, std::string>> live;  // fork, template
  for (int t = 0; t < 40; ++t) out.push_back(registered("tpl" + std::to_string(t)));
  for (int i = 0; i < steps; ++i) {
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

// A journal long enough for the two-thread replay, with a snapshot halfway.
class ReplayedJournal : public ::testing::Test {
 protected:
  void SetUp() override {
    events_ = history(static_cast<int>(kPipelineMinEvents) + 5000);
    ASSERT_GT(events_.size(), kPipelineMinEvents);
    split_ = events_.size() / 2;
    auto journal = Journal::create(dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(journal) << journal.error().message;
    ASSERT_TRUE(append(*journal, 0, split_));
    auto ledger = Ledger::open(*journal);
    ASSERT_TRUE(ledger);
    ASSERT_TRUE(ledger->snapshot());
    ASSERT_TRUE(append(*journal, split_, events_.size()));
  }

  bool append(Journal& journal, std::size_t from, std::size_t to) {
    std::vector<EventView> views;
    for (std::size_t i = from; i < to; ++i) views.push_back(view(events_[i]));
    return static_cast<bool>(journal.append(views));
  }

  Projection first(std::size_t n) const {
    return replayed(
        Projection{},
        std::vector<Event>(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(n)));
  }

  TempDir dir_;
  std::vector<Event> events_;
  std::size_t split_ = 0;
};

// fj::replay sizes itself from the newest snapshot and reads on a helper
// thread; it must still equal load (snapshot + tail) and an unsized fold.
TEST_F(ReplayedJournal, ReplayMatchesLoadAndAnUnsizedFold) {
  auto journal = Journal::open(dir_.path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(journal) << journal.error().message;
  const Projection plain = first(events_.size());
  auto full = replay(*journal);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_TRUE(*full == plain);
  EXPECT_EQ(full->live_fork_count(), plain.live_fork_count());
  EXPECT_EQ(full->template_count(), 40u);
  LoadReport report;
  auto loaded = load(*journal, kHead, &report);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(report.snapshot_seq, split_);
  EXPECT_TRUE(*loaded == plain);
  // Below the snapshot there is nothing to size from; still the same.
  auto early = replay(*journal, split_ - 1);
  ASSERT_TRUE(early);
  EXPECT_TRUE(*early == first(split_ - 1));
}

// A damaged record stops the two-thread replay at its seq, with everything
// before it applied, as the one-thread replay does.
TEST_F(ReplayedJournal, ADamagedRecordStopsThePipelineAtItsSeq) {
  const std::uint64_t bad = events_.size() - 1000;
  std::string record;
  {
    auto journal = Journal::open(dir_.path(), JournalOptions{.read_only = true});
    ASSERT_TRUE(journal);
    auto got = journal->read([&](Reader& r) -> Result<void> {
      auto found = r.record(bad);
      if (!found) return found.error();
      if (*found) record = std::string(**found);
      return {};
    });
    ASSERT_TRUE(got);
  }
  ASSERT_FALSE(record.empty());
  const std::string file = dir_.sub("data.mdb");
  std::string data;
  {
    std::ifstream in(file, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::size_t at = data.find(record);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(data.find(record, at + 1), std::string::npos);
  data[at + record.size() - 1] = static_cast<char>(data[at + record.size() - 1] ^ 0x10);
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }

  auto journal = Journal::open(dir_.path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(journal);
  auto full = replay(*journal);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().seq, bad) << full.error().message;
  Projection state;
  auto applied =
      journal->read([&](Reader& r) { return apply_range_pipelined(r, state, events_.size()); });
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().seq, bad);
  EXPECT_EQ(state.seq(), bad - 1);
  EXPECT_TRUE(state == first(bad - 1));
}

}  // namespace
}  // namespace fj
