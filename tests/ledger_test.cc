#include "projector/ledger.h"

#include "journal/codec.h"
#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"
#include "projector/internal/snapshot.h"
#include "support/event_samples.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

namespace fj {
namespace {

using namespace fj::testing;

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto j = Journal::create(dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j);
    journal_ = std::make_unique<Journal>(std::move(*j));
    auto l = Ledger::open(*journal_, [this] { return ++clock_; });
    ASSERT_TRUE(l);
    ledger_ = std::make_unique<Ledger>(std::move(*l));
  }

  Outcome ok(const Command& c) {
    auto r = ledger_->execute(c, Origin::api);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : Outcome{};
  }

  // A pseudo-random but valid history: templates come and go, forks churn.
  void churn(int commands, unsigned seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < commands; ++i) {
      const std::string tpl = "t" + std::to_string(rng() % 5);
      const std::string fork = "f" + std::to_string(rng() % 40);
      switch (rng() % 10) {
        case 0:
          (void)ledger_->execute(RegisterTemplate{tpl, "src-" + tpl, ""}, Origin::api);
          break;
        case 1:
          (void)ledger_->execute(RetireTemplate{tpl}, Origin::api);
          break;
        case 2:
        case 3:
        case 4:
        case 5:
          (void)ledger_->execute(AddFork{tpl, fork}, Origin::api);
          break;
        default:
          (void)ledger_->execute(RemoveFork{tpl, fork}, Origin::api);
          break;
      }
    }
  }

  TempDir dir_;
  std::uint64_t clock_ = 1000;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, ExecuteAppendsAndAdvancesTheProjection) {
  EXPECT_EQ(ok(RegisterTemplate{"web", "src", "web"}).first_seq, 1u);
  const Outcome fork = ok(AddFork{"web", "a"});
  EXPECT_EQ(fork.first_seq, 2u);
  EXPECT_EQ(fork.last_seq, 2u);
  EXPECT_EQ(ledger_->projection().find("web")->forks, 1u);
  EXPECT_EQ(ledger_->projection().seq(), 2u);
  EXPECT_EQ(*journal_->head(), 2u);
}

TEST_F(LedgerTest, ARefusedCommandAppendsNothing) {
  ok(RegisterTemplate{"web", "src", ""});
  ok(AddFork{"web", "a"});
  for (const Command& c : std::vector<Command>{RetireTemplate{"web"}, AddFork{"web", "a"},
                                               RegisterTemplate{"web", "s", ""},
                                               RemoveFork{"web", "b"}, AddFork{"web", "../b"}}) {
    auto r = ledger_->execute(c, Origin::api);
    EXPECT_FALSE(r);
  }
  EXPECT_EQ(*journal_->head(), 2u);
  EXPECT_EQ(ledger_->projection().seq(), 2u);
}

TEST_F(LedgerTest, ReplayEqualsSnapshotPlusTailEqualsAsOf) {
  churn(400, 7);
  auto snap = ledger_->snapshot();
  ASSERT_TRUE(snap);
  const std::uint64_t snapshot_seq = *snap;
  ASSERT_GT(snapshot_seq, 50u);
  churn(200, 8);
  const std::uint64_t head = *journal_->head();
  ASSERT_GT(head, snapshot_seq);

  auto full = replay(*journal_);
  LoadReport report;
  auto fast = load(*journal_, kHead, &report);
  ASSERT_TRUE(full);
  ASSERT_TRUE(fast);
  EXPECT_EQ(report.snapshot_seq, snapshot_seq);
  EXPECT_EQ(report.replayed, head - snapshot_seq);
  EXPECT_TRUE(*fast == *full);
  EXPECT_TRUE(ledger_->projection() == *full);

  for (std::uint64_t at :
       {std::uint64_t{1}, snapshot_seq - 1, snapshot_seq, snapshot_seq + 1, head}) {
    LoadReport r;
    auto as_of = load(*journal_, at, &r);
    auto prefix = replay(*journal_, at);
    ASSERT_TRUE(as_of);
    ASSERT_TRUE(prefix);
    EXPECT_EQ(as_of->seq(), at);
    EXPECT_TRUE(*as_of == *prefix) << "as of " << at;
    EXPECT_EQ(r.snapshot_seq, at >= snapshot_seq ? snapshot_seq : 0u);
  }
}

TEST_F(LedgerTest, AsOfBeyondTheHeadIsInvalid) {
  ok(RegisterTemplate{"web", "src", ""});
  auto r = load(*journal_, 5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(LedgerTest, ASnapshotThatDoesNotMatchItsRecordIsIgnored) {
  ok(RegisterTemplate{"web", "src", ""});
  ok(AddFork{"web", "a"});
  // A snapshot claiming seq 2 but tagged with another record's checksum.
  Projection wrong;
  wrong.apply(1, view(registered("web")));
  wrong.apply(2, view(added("web", "zzz")));
  ASSERT_TRUE(journal_->write(
      [&](WriteTxn& w) { return w.put_snapshot(2, SnapshotCodec::encode(wrong, 0xDEADBEEF)); }));
  LoadReport report;
  auto p = load(*journal_, kHead, &report);
  ASSERT_TRUE(p);
  EXPECT_EQ(report.snapshot_seq, 0u);
  ASSERT_EQ(report.ignored.size(), 1u);
  EXPECT_EQ(report.ignored[0].seq, 2u);
  EXPECT_NE(report.ignored[0].text().find("seq 2"), std::string::npos);
  EXPECT_EQ(p->owner("a")->id.view(), "web");
  EXPECT_EQ(p->owner("zzz"), nullptr);
}

// A snapshot whose checksums pass but whose state is wrong: snapshot()
// would store the wrong state again, snapshot_replayed() stores the full
// replay's and deletes the other snapshots.
TEST_F(LedgerTest, SnapshotReplayedReplacesASnapshotProvenWrong) {
  ok(RegisterTemplate{"web", "src", ""});
  ASSERT_EQ(*ledger_->snapshot(), 1u);
  ok(AddFork{"web", "a"});
  Projection wrong;
  wrong.apply(1, view(registered("web")));
  wrong.apply(2, view(added("web", "zzz")));
  ASSERT_TRUE(journal_->write([&](WriteTxn& w) -> Result<void> {
    auto record = w.record(2);
    if (!record) return record.error();
    return w.put_snapshot(2, SnapshotCodec::encode(wrong, stored_checksum(**record)));
  }));
  auto reopened = Ledger::open(*journal_);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->load_report().snapshot_seq, 2u);
  EXPECT_NE(reopened->projection().owner("zzz"), nullptr);  // loaded the wrong state

  auto full = replay(*journal_);
  ASSERT_TRUE(full);
  auto stored = reopened->snapshot_replayed(*full);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->seq, 2u);
  EXPECT_TRUE(stored->repaired);
  EXPECT_TRUE(reopened->projection() == *full);
  EXPECT_EQ(*journal_->read([](Reader& r) { return r.snapshot_seqs(); }),
            std::vector<std::uint64_t>{2});
  LoadReport report;
  auto loaded = load(*journal_, kHead, &report);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(report.snapshot_seq, 2u);
  EXPECT_TRUE(*loaded == *full);

  // Events appended after the replay are applied to it; nothing to repair.
  auto before = replay(*journal_);
  ASSERT_TRUE(before);
  ok(AddFork{"web", "b"});
  stored = reopened->snapshot_replayed(*before);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->seq, 3u);
  EXPECT_FALSE(stored->repaired);
  EXPECT_EQ(reopened->projection().find("web")->forks, 2u);
}

TEST_F(LedgerTest, AGarbageSnapshotFallsBackToAnOlderOne) {
  ok(RegisterTemplate{"web", "src", ""});
  ASSERT_EQ(*ledger_->snapshot(), 1u);
  ok(AddFork{"web", "a"});
  ASSERT_TRUE(journal_->write([&](WriteTxn& w) { return w.put_snapshot(2, "garbage"); }));
  LoadReport report;
  auto p = load(*journal_, kHead, &report);
  ASSERT_TRUE(p);
  EXPECT_EQ(report.snapshot_seq, 1u);
  EXPECT_EQ(report.ignored.size(), 1u);
  EXPECT_EQ(p->find("web")->forks, 1u);
}

TEST_F(LedgerTest, ACorruptRecordStopsReplayNamingItsSeq) {
  ok(RegisterTemplate{"web", "src", ""});
  ok(AddFork{"web", "a"});
  ok(AddFork{"web", "b"});
  ledger_.reset();
  journal_.reset();
  {
    auto env = lmdb::Env::open(dir_.path(), lmdb::EnvOptions{});
    auto txn = lmdb::Txn::begin(*env, 0);
    auto events = txn->open_db(kEventsDb, MDB_INTEGERKEY);
    std::uint64_t two = 2;
    auto rec = txn->get(*events, lmdb::seq_key(two));
    std::string bytes(**rec);
    bytes[bytes.size() / 2] ^= 0x01;
    ASSERT_TRUE(txn->put(*events, lmdb::seq_key(two), lmdb::to_val(bytes)));
    ASSERT_TRUE(txn->commit());
  }
  {
    auto j = Journal::open(dir_.path(), JournalOptions{.read_only = true});
    ASSERT_TRUE(j);
    for (auto r : {replay(*j), load(*j)}) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, Errc::checksum_mismatch);
      EXPECT_EQ(r.error().seq, 2u);
    }
  }
  auto writer = Journal::open(dir_.path(), JournalOptions{.sync = SyncMode::none});
  auto ledger = Ledger::open(*writer);
  ASSERT_FALSE(ledger);
  EXPECT_EQ(ledger.error().seq, 2u);
}

TEST_F(LedgerTest, AStaleWriterCatchesUpBeforeDeciding) {
  ok(RegisterTemplate{"web", "src", ""});
  auto other = Ledger::open(*journal_);
  ASSERT_TRUE(other);
  ok(AddFork{"web", "a"});  // `other` has not seen this
  auto dup = other->execute(AddFork{"web", "a"}, Origin::api);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::already_live);
  auto retire = other->execute(RetireTemplate{"web"}, Origin::api);
  ASSERT_FALSE(retire);
  EXPECT_EQ(retire.error().code, Errc::in_use);
  EXPECT_EQ(other->projection().seq(), 2u);
}

TEST_F(LedgerTest, UnforkAfterTheReconcilerLostTheForkAppendsNothing) {
  ok(RegisterTemplate{"web", "src", ""});
  ok(AddFork{"web", "a"});
  const Event lost = correction(EventType::fork_lost, "web", "a", Reason::instance_missing);
  const EventView v = view(lost);
  ASSERT_TRUE(journal_->append(std::span(&v, 1)));
  const Outcome o = ok(RemoveFork{"web", "a"});
  EXPECT_EQ(o.first_seq, 0u);
  EXPECT_EQ(o.already_at, 3u);
  EXPECT_EQ(*journal_->head(), 3u);
}

TEST_F(LedgerTest, ProcessesRacingToForkOneInstanceLetExactlyOneWin) {
  ok(RegisterTemplate{"web", "src", ""});
  constexpr int kProcesses = 4;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto j = Journal::open(dir_.path(), JournalOptions{.sync = SyncMode::none});
      if (!j) ::_exit(3);
      auto l = Ledger::open(*j);
      if (!l) ::_exit(3);
      auto r = l->execute(AddFork{"web", "contested"}, Origin::api);
      ::_exit(r ? 0 : r.error().code == Errc::already_live ? 1 : 4);
    }
    children.push_back(pid);
  }
  int winners = 0, losers = 0;
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    winners += WEXITSTATUS(status) == 0;
    losers += WEXITSTATUS(status) == 1;
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(losers, kProcesses - 1);
  EXPECT_EQ(*journal_->head(), 2u);
  ASSERT_TRUE(ledger_->catch_up());
  EXPECT_EQ(ledger_->projection().find("web")->forks, 1u);
}

TEST_F(LedgerTest, ABatchDecidesEachRequestAgainstTheOnesBeforeIt) {
  const std::vector<Request> batch{{RegisterTemplate{"web", "src", ""}, ""},
                                   {AddFork{"web", "a"}, ""},
                                   {AddFork{"web", "a"}, ""},
                                   {RetireTemplate{"web"}, ""},
                                   {AddFork{"web", "b"}, ""}};
  auto results = ledger_->execute_batch(batch, Origin::api);
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 5u);
  EXPECT_EQ((*results)[0]->first_seq, 1u);
  EXPECT_EQ((*results)[1]->first_seq, 2u);
  EXPECT_EQ((*results)[2].error().code, Errc::already_live);
  EXPECT_EQ((*results)[3].error().code, Errc::in_use);
  EXPECT_EQ((*results)[4]->first_seq, 3u);
  EXPECT_EQ(*journal_->head(), 3u);
  auto full = replay(*journal_);
  ASSERT_TRUE(full);
  EXPECT_TRUE(*full == ledger_->projection());
}

TEST_F(LedgerTest, ARetriedRequestIdReturnsTheOriginalSeqAlsoAfterReopening) {
  ok(RegisterTemplate{"web", "src", ""});
  const std::vector<Request> fork{{AddFork{"web", "a"}, "req-1"}};
  auto first = ledger_->execute_batch(fork, Origin::api);
  ASSERT_TRUE(first);
  ASSERT_TRUE((*first)[0]);
  EXPECT_EQ((*first)[0]->first_seq, 2u);
  EXPECT_FALSE((*first)[0]->replayed);

  auto again = ledger_->execute_batch(fork, Origin::api);
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)[0]) << (*again)[0].error().message;
  EXPECT_TRUE((*again)[0]->replayed);
  EXPECT_EQ((*again)[0]->first_seq, 2u);

  ledger_.reset();
  auto reopened = Ledger::open(*journal_);
  ASSERT_TRUE(reopened);
  auto after = reopened->execute_batch(fork, Origin::api);
  ASSERT_TRUE(after);
  ASSERT_TRUE((*after)[0]);
  EXPECT_TRUE((*after)[0]->replayed);
  EXPECT_EQ((*after)[0]->first_seq, 2u);
  EXPECT_EQ(*journal_->head(), 2u);
}

TEST_F(LedgerTest, ARequestIdReusedForAnotherCommandIsRefused) {
  ok(RegisterTemplate{"web", "src", ""});
  ASSERT_TRUE(
      ledger_->execute_batch(std::vector<Request>{{AddFork{"web", "a"}, "r"}}, Origin::api));
  auto other =
      ledger_->execute_batch(std::vector<Request>{{AddFork{"web", "b"}, "r"}}, Origin::api);
  ASSERT_TRUE(other);
  ASSERT_FALSE((*other)[0]);
  EXPECT_EQ((*other)[0].error().code, Errc::invalid_argument);
  EXPECT_EQ(*journal_->head(), 2u);
}

TEST_F(LedgerTest, ARequestIdRepeatedInOneBatchAppendsOnce) {
  ok(RegisterTemplate{"web", "src", ""});
  const std::vector<Request> batch{{AddFork{"web", "a"}, "r"}, {AddFork{"web", "a"}, "r"}};
  auto results = ledger_->execute_batch(batch, Origin::api);
  ASSERT_TRUE(results);
  ASSERT_TRUE((*results)[1]);
  EXPECT_TRUE((*results)[1]->replayed);
  EXPECT_EQ((*results)[1]->first_seq, (*results)[0]->first_seq);
  EXPECT_EQ(*journal_->head(), 2u);
}

TEST_F(LedgerTest, AnInvalidRequestIdIsNamedAndRefusedAlone) {
  ok(RegisterTemplate{"web", "src", ""});
  const std::vector<Request> batch{{AddFork{"web", "a"}, std::string("bad\x01id")},
                                   {AddFork{"web", "b"}, ""}};
  auto results = ledger_->execute_batch(batch, Origin::api);
  ASSERT_TRUE(results);
  ASSERT_FALSE((*results)[0]);
  EXPECT_EQ((*results)[0].error().code, Errc::invalid_argument);
  EXPECT_EQ((*results)[0].error().message,
            "invalid request_id 'bad\\x01id': expected 1-128 bytes of printable ASCII");
  EXPECT_TRUE((*results)[1]);
  EXPECT_EQ(*journal_->head(), 2u);
}

// A journal whose map stops at 256 KiB: a big enough batch fails journal_full.
constexpr JournalOptions kCapped{
    .sync = SyncMode::none, .initial_map_size = 64 << 10, .max_map_size = 256 << 10};

TEST(LedgerFull, AFailedBatchLeavesTheProjectionEqualToTheJournal) {
  TempDir dir;
  auto journal = Journal::create(dir.path(), kCapped);
  ASSERT_TRUE(journal);
  auto ledger = Ledger::open(*journal);
  ASSERT_TRUE(ledger->execute(RegisterTemplate{"web", "src", ""}, Origin::api));
  Result<std::vector<Result<Outcome>>> r;
  for (int i = 0; i < 100000; ++i) {
    std::vector<Request> batch;
    for (int k = 0; k < 50; ++k) {
      batch.push_back({AddFork{"web", "f" + std::to_string(i * 50 + k)}, ""});
    }
    r = ledger->execute_batch(batch, Origin::api);
    if (!r) break;
  }
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::journal_full);
  // The failed batch's events were applied in memory but never committed:
  // they are gone when the error returns, before any catch-up (a caller
  // acting on the projection then must not see forks that are not stored).
  auto full = replay(*journal);
  ASSERT_TRUE(full);
  EXPECT_TRUE(ledger->in_sync());
  EXPECT_TRUE(ledger->projection() == *full);
  EXPECT_EQ(ledger->projection().seq(), *journal->head());
  ASSERT_TRUE(ledger->catch_up());
  EXPECT_TRUE(ledger->projection() == *full);
}

// An unfork decided in a batch that then fails must not
// leave the fork's template at zero forks in the projection.
TEST(LedgerFull, AnUnforkInAFailedBatchLeavesTheForkLive) {
  TempDir dir;
  auto journal = Journal::create(dir.path(), kCapped);
  ASSERT_TRUE(journal);
  auto ledger = Ledger::open(*journal);
  ASSERT_TRUE(ledger->execute(RegisterTemplate{"keep", "src", ""}, Origin::api));
  ASSERT_TRUE(ledger->execute(AddFork{"keep", "live1"}, Origin::api));
  ASSERT_TRUE(ledger->execute(RegisterTemplate{"web", "src2", ""}, Origin::api));
  std::vector<Request> batch{{RemoveFork{"keep", "live1"}, ""}};
  for (int k = 0; k < 20000; ++k) batch.push_back({AddFork{"web", "f" + std::to_string(k)}, ""});
  auto r = ledger->execute_batch(batch, Origin::api);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::journal_full);
  EXPECT_EQ(*journal->head(), 3u);
  EXPECT_EQ(ledger->projection().seq(), 3u);
  EXPECT_EQ(ledger->projection().find("keep")->forks, 1u);
  EXPECT_EQ(ledger->projection().find("web")->forks, 0u);
}

}  // namespace
}  // namespace fj
