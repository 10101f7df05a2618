#include "projector/audit.h"

#include "journal/codec.h"
#include "journal/internal/crc32c.h"
#include "journal/internal/databases.h"
#include "journal/internal/endian.h"
#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"
#include "journal/verify.h"
#include "projector/internal/snapshot.h"
#include "projector/replay.h"
#include "support/event_samples.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

namespace fj {
namespace {

using namespace fj::testing;

// A journal of `n` fork events (n > 8192 crosses two chain checkpoints),
// edited afterwards through raw LMDB handles as an attacker or a broken disk
// would.
class AuditTest : public ::testing::Test {
 protected:
  void build(std::uint64_t n) {
    auto j = Journal::create(dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j);
    std::vector<Event> events{registered("web")};
    for (std::uint64_t i = 1; i < n; ++i) events.push_back(added("web", "f" + std::to_string(i)));
    std::vector<EventView> views;
    for (const Event& e : events) views.push_back(view(e));
    ASSERT_TRUE(j->append(views));
    journal_id_ = j->info().journal_id;
  }

  // Appends `n` more fork events (g1, g2, ...) to the built journal.
  void append(std::uint64_t n) {
    auto j = Journal::open(dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j);
    std::vector<Event> events;
    for (std::uint64_t i = 1; i <= n; ++i) events.push_back(added("web", "g" + std::to_string(i)));
    std::vector<EventView> views;
    for (const Event& e : events) views.push_back(view(e));
    ASSERT_TRUE(j->append(views));
  }

  // The point a clean full audit verifies at the current head.
  AuditPoint verified_point() {
    AuditReport r = run();
    EXPECT_TRUE(r.ok()) << ::testing::PrintToString(kinds(r));
    EXPECT_TRUE(r.state);
    return AuditPoint{ChainPoint{r.head_seq, r.chain_head}, r.state ? *r.state : Projection{}};
  }

  AuditReport run_from(const AuditPoint& point) {
    AuditOptions options;
    options.from = &point;
    return run(options);
  }

  // Recomputes the chain over seqs 1..head and stores it as the journal would
  // have: every checkpoint and the head. What a careful rewriter does.
  void rechain(lmdb::Txn& txn, const JournalDbs& dbs, std::uint64_t head) {
    ChainHash chain = chain_seed(journal_id_);
    for (std::uint64_t seq = 1; seq <= head; ++seq) {
      chain = chain_next(chain, seq, get_record(txn, dbs, seq));
      if (seq % kChainCheckpointEvery == 0) {
        ASSERT_TRUE(txn.put(dbs.chain, lmdb::seq_key(seq),
                            lmdb::to_val(std::string_view(
                                reinterpret_cast<const char*>(chain.data()), chain.size()))));
      }
    }
    std::string stored;
    put_le(stored, head);
    stored.append(reinterpret_cast<const char*>(chain.data()), 32);
    ASSERT_TRUE(txn.put(dbs.meta, lmdb::to_val(kMetaChainHead), lmdb::to_val(stored)));
  }

  // Runs fn(txn, dbs) in a raw write transaction on the closed journal.
  void edit(const std::function<void(lmdb::Txn&, const JournalDbs&)>& fn) {
    auto env = lmdb::Env::open(dir_.path(), lmdb::EnvOptions{});
    ASSERT_TRUE(env);
    auto txn = lmdb::Txn::begin(*env, 0);
    JournalDbs dbs{*txn->open_db(kEventsDb, MDB_INTEGERKEY), *txn->open_db(kMetaDb, 0),
                   *txn->open_db(kSnapshotsDb, MDB_INTEGERKEY), *txn->open_db(kRequestsDb, 0),
                   *txn->open_db(kChainDb, MDB_INTEGERKEY)};
    fn(*txn, dbs);
    ASSERT_TRUE(txn->commit());
  }

  static void put_record(lmdb::Txn& txn, const JournalDbs& dbs, std::uint64_t seq,
                         std::string_view bytes) {
    ASSERT_TRUE(txn.put(dbs.events, lmdb::seq_key(seq), lmdb::to_val(bytes)));
  }
  static std::string get_record(lmdb::Txn& txn, const JournalDbs& dbs, std::uint64_t seq) {
    return std::string(**txn.get(dbs.events, lmdb::seq_key(seq)));
  }
  // One bit flipped in the middle of the record at `seq`: a broken disk.
  static void flip_byte(lmdb::Txn& txn, const JournalDbs& dbs, std::uint64_t seq) {
    std::string rec = get_record(txn, dbs, seq);
    rec[rec.size() / 2] ^= 0x10;
    put_record(txn, dbs, seq, rec);
  }

  AuditReport run(const AuditOptions& options = {}) {
    auto j = Journal::open(dir_.path(), JournalOptions{.read_only = true});
    EXPECT_TRUE(j);
    auto r = audit(*j, options);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : AuditReport{};
  }

  static std::vector<std::string> kinds(const AuditReport& r) {
    std::vector<std::string> out;
    for (const auto& f : r.findings) out.push_back(f.kind + "@" + std::to_string(f.seq));
    return out;
  }

  TempDir dir_;
  std::string journal_id_;
};

TEST_F(AuditTest, AnIntactJournalHasNoFindings) {
  build(9000);
  const AuditReport r = run();
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(kinds(r));
  EXPECT_EQ(r.head_seq, 9000u);
  EXPECT_EQ(r.records, 9000u);
}

TEST_F(AuditTest, TheChainHeadIsTheChainOfAllRecords) {
  build(10);
  ChainHash chain = chain_seed(journal_id_);
  {
    auto j = Journal::open(dir_.path(), JournalOptions{.read_only = true});
    ASSERT_TRUE(j->read([&](Reader& r) {
      return r.for_each(1, 10, [&](std::uint64_t seq, std::string_view rec) -> Result<void> {
        chain = chain_next(chain, seq, rec);
        return {};
      });
    }));
    auto stored = j->read([](Reader& r) { return r.chain_head(); });
    EXPECT_EQ(stored->seq, 10u);
    EXPECT_EQ(stored->value, chain);
  }
  EXPECT_EQ(run().chain_head, chain);
}

TEST_F(AuditTest, AFlippedByteIsAChecksumMismatchAtItsSeq) {
  build(100);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) { flip_byte(txn, dbs, 42); });
  const AuditReport r = run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.findings.front().seq, 42u);
  EXPECT_EQ(r.findings.front().kind, "checksum_mismatch");
  // The chain covers the damaged bytes too.
  EXPECT_NE(std::find(kinds(r).begin(), kinds(r).end(), "chain_mismatch@100"), kinds(r).end());
}

TEST_F(AuditTest, ARecordRewrittenWithAValidChecksumIsLocalisedToItsWindow) {
  build(9000);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    put_record(txn, dbs, 5000, encode(view(added("web", "f-forged"))));
  });
  const AuditReport r = run();
  ASSERT_EQ(r.findings.size(), 1u) << ::testing::PrintToString(kinds(r));
  EXPECT_EQ(r.findings[0].kind, "chain_mismatch");
  EXPECT_EQ(r.findings[0].seq, 8192u);
  EXPECT_NE(r.findings[0].detail.find("seqs 4097-8192"), std::string::npos);
}

// A journal long enough that the audit hashes it in many pieces while it
// replays: each finding keeps its seq, kind and order, and the edits far
// apart are each localised on their own.
TEST_F(AuditTest, EditsDeepInALongJournalAreFoundAtTheirOwnSeqs) {
  build(60'000);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    flip_byte(txn, dbs, 20'000);
    put_record(txn, dbs, 30'000, encode(view(added("web", "f-forged"))));
    std::uint64_t gone = 45'000;
    ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(gone)));
  });
  const AuditReport r = run();
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"checksum_mismatch@20000", "chain_mismatch@20480",
                                                "chain_mismatch@32768", "seq_gap@45000",
                                                "chain_mismatch@45056"}));
  EXPECT_EQ(r.records, 59'999u);
  EXPECT_NE(r.findings[2].detail.find("seqs 28673-32768"), std::string::npos);
  EXPECT_FALSE(r.state);
}

// The walk's own decode (VerifyHooks::event), done on its hashing thread for
// a journal of several batches: every record comes decoded, in seq order,
// right after its `record` call, equal to decoding the record here; a
// damaged one comes with decode's error at its seq and the walk goes on.
// VerifyHooks::upcoming sees each event that decoded eight `event` calls
// before `event` gets it (all but the first eight of each batch), never
// the damaged one.
TEST_F(AuditTest, TheWalkDecodesEachRecordBesideItsChainValue) {
  build(10'000);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) { flip_byte(txn, dbs, 6'000); });
  auto j = Journal::open(dir_.path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(j);
  std::uint64_t records = 0, events = 0, failed_at = 0;
  std::string last_record;
  std::uint64_t last_seq = 0;
  const auto key = [](const EventView& e) {
    return std::string(type_name(e.type)) + "/" + std::string(e.template_id) + "/" +
           std::string(e.fork);
  };
  std::vector<std::string> seen;                              // each `event`, in order
  std::vector<std::pair<std::size_t, std::string>> upcoming;  // (events seen then, event)
  VerifyHooks hooks;
  hooks.upcoming = [&](const EventView& e) { upcoming.emplace_back(seen.size(), key(e)); };
  hooks.record = [&](std::uint64_t seq, std::string_view record, const ChainHash&) {
    ++records;
    last_seq = seq;
    last_record = record;
  };
  hooks.event = [&](std::uint64_t seq, const Result<void>& decoded, const EventView& e,
                    const ChainHash&) {
    ++events;
    ASSERT_EQ(seq, last_seq) << "right after its record";
    auto here = decode(seq, last_record);
    ASSERT_EQ(static_cast<bool>(decoded), static_cast<bool>(here)) << seq;
    seen.push_back(decoded ? key(e) : "damaged");
    if (decoded) {
      EXPECT_EQ(e, *here) << seq;
    } else {
      EXPECT_EQ(decoded.error().code, Errc::checksum_mismatch);
      EXPECT_EQ(decoded.error().message, here.error().message);
      failed_at = seq;
    }
  };
  auto walked = j->read([&](Reader& r) { return r.verify_chain(chain_seed(journal_id_), hooks); });
  ASSERT_TRUE(walked) << walked.error().message;
  EXPECT_EQ(records, 10'000u);
  EXPECT_EQ(events, 10'000u);
  EXPECT_EQ(failed_at, 6'000u);
  // Three batches (a batch ends at each checkpoint, every 4,096 records),
  // and the damaged record is not handed over.
  static_assert(kChainCheckpointEvery == 4096);
  EXPECT_EQ(upcoming.size(), 10'000u - 8 * 3 - 1);
  for (const auto& [at, event] : upcoming) {
    ASSERT_LT(at + 8, seen.size());
    EXPECT_EQ(seen[at + 8], event) << "the event eight calls later";
  }
}

TEST_F(AuditTest, AnEditAfterTheLastCheckpointIsCaughtAtTheHead) {
  build(9000);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    put_record(txn, dbs, 8500, encode(view(added("web", "f-forged"))));
  });
  const AuditReport r = run();
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].kind, "chain_mismatch");
  EXPECT_NE(r.findings[0].detail.find("after seq 8192"), std::string::npos);
}

TEST_F(AuditTest, ADeletedRecordIsAGapAndBreaksTheChain) {
  build(100);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    std::uint64_t seq = 50;
    ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(seq)));
  });
  const auto k = kinds(run());
  EXPECT_NE(std::find(k.begin(), k.end(), "seq_gap@50"), k.end());
  EXPECT_NE(std::find(k.begin(), k.end(), "chain_mismatch@100"), k.end());
}

TEST_F(AuditTest, ARecordCopiedOverAnotherIsCaught) {
  build(100);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    put_record(txn, dbs, 11, get_record(txn, dbs, 10));
  });
  const auto k = kinds(run());
  EXPECT_NE(std::find(k.begin(), k.end(), "anomaly@11"), k.end());  // fork_already_live
  EXPECT_NE(std::find(k.begin(), k.end(), "chain_mismatch@100"), k.end());
}

TEST_F(AuditTest, TruncationIsCaughtByAnEarlierHead) {
  build(100);
  const AuditReport before = run();
  edit([&](lmdb::Txn& txn, const JournalDbs& dbs) {
    // A careful attacker also rewrites the stored chain head.
    ChainHash chain = chain_seed(journal_id_);
    for (std::uint64_t seq = 1; seq <= 90; ++seq)
      chain = chain_next(chain, seq, get_record(txn, dbs, seq));
    for (std::uint64_t seq = 91; seq <= 100; ++seq)
      ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(seq)));
    std::string head;
    put_le(head, std::uint64_t{90});
    head.append(reinterpret_cast<const char*>(chain.data()), 32);
    ASSERT_TRUE(txn.put(dbs.meta, lmdb::to_val(kMetaChainHead), lmdb::to_val(head)));
  });
  EXPECT_TRUE(run().ok());  // self-consistent...
  const AuditReport r = run(AuditOptions{ChainPoint{before.head_seq, before.chain_head}, {}});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].kind, "expect_head");  // ...but not the history audited before
}

TEST_F(AuditTest, AnExpectedHeadAtSeqZeroIsCheckedAgainstTheChainSeed) {
  build(10);
  EXPECT_TRUE(run(AuditOptions{ChainPoint{0, chain_seed(journal_id_)}, {}}).ok());
  for (const ChainHash& wrong : {ChainHash{}, chain_seed("another journal")}) {
    const AuditReport r = run(AuditOptions{ChainPoint{0, wrong}, {}});
    ASSERT_EQ(r.findings.size(), 1u) << ::testing::PrintToString(kinds(r));
    EXPECT_EQ(r.findings[0].kind, "expect_head");
    EXPECT_EQ(r.findings[0].seq, 0u);
  }
}

TEST_F(AuditTest, RewrittenHistoryWithARecomputedChainIsCaughtByAnEarlierHead) {
  build(100);
  const AuditReport before = run();
  edit([&](lmdb::Txn& txn, const JournalDbs& dbs) {
    put_record(txn, dbs, 3, encode(view(added("web", "f-forged"))));
    ChainHash chain = chain_seed(journal_id_);
    for (std::uint64_t seq = 1; seq <= 100; ++seq)
      chain = chain_next(chain, seq, get_record(txn, dbs, seq));
    std::string head;
    put_le(head, std::uint64_t{100});
    head.append(reinterpret_cast<const char*>(chain.data()), 32);
    ASSERT_TRUE(txn.put(dbs.meta, lmdb::to_val(kMetaChainHead), lmdb::to_val(head)));
  });
  const AuditReport r = run(AuditOptions{ChainPoint{before.head_seq, before.chain_head}, {}});
  ASSERT_EQ(r.findings.size(), 1u) << ::testing::PrintToString(kinds(r));
  EXPECT_EQ(r.findings[0].kind, "expect_head");
  EXPECT_EQ(r.findings[0].seq, 100u);
}

TEST_F(AuditTest, AnAuditFromAVerifiedPointReadsOnlyWhatFollowsAndAgreesWithAFullAudit) {
  build(5000);
  const AuditPoint point = verified_point();
  append(4000);  // across the checkpoint at 8192
  const AuditReport full = run();
  const AuditReport r = run_from(point);
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(kinds(r));
  EXPECT_EQ(r.records, 4000u);
  EXPECT_EQ(r.head_seq, 9000u);
  EXPECT_EQ(r.chain_head, full.chain_head);
  ASSERT_TRUE(r.state && full.state);
  EXPECT_TRUE(*r.state == *full.state);
  EXPECT_EQ(r.state->seq(), 9000u);
}

TEST_F(AuditTest, AnAuditFromTheHeadReadsNothingAndFindsNothing) {
  build(100);
  const AuditPoint point = verified_point();
  const AuditReport r = run_from(point);
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(kinds(r));
  EXPECT_EQ(r.records, 0u);
  EXPECT_EQ(r.chain_head, point.chain.value);
}

TEST_F(AuditTest, AnAuditFromAPointCatchesAFlippedByteAfterIt) {
  build(100);
  const AuditPoint point = verified_point();
  append(50);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) { flip_byte(txn, dbs, 120); });
  const auto k = kinds(run_from(point));
  EXPECT_NE(std::find(k.begin(), k.end(), "checksum_mismatch@120"), k.end());
  EXPECT_NE(std::find(k.begin(), k.end(), "chain_mismatch@150"), k.end());
}

TEST_F(AuditTest, AnAuditFromAPointCatchesADeletedRecordAfterIt) {
  build(100);
  const AuditPoint point = verified_point();
  append(50);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    std::uint64_t seq = 101;
    ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(seq)));
  });
  const AuditReport r = run_from(point);
  const auto k = kinds(r);
  EXPECT_NE(std::find(k.begin(), k.end(), "seq_gap@101"), k.end());
  EXPECT_NE(std::find(k.begin(), k.end(), "chain_mismatch@150"), k.end());
  EXPECT_FALSE(r.state);
}

TEST_F(AuditTest, AnAuditFromAPointCatchesTheDeletionOfTheRecordAtIt) {
  build(100);
  const AuditPoint point = verified_point();
  append(5);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    std::uint64_t seq = 100;
    ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(seq)));
  });
  const auto k = kinds(run_from(point));
  EXPECT_EQ(k, std::vector<std::string>{"seq_gap@100"});
}

TEST_F(AuditTest, AnAuditFromAPointCatchesARecordRewrittenAfterItWithAValidChecksum) {
  build(100);
  const AuditPoint point = verified_point();
  append(50);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    put_record(txn, dbs, 130, encode(view(added("web", "f-forged"))));
  });
  const auto k = kinds(run_from(point));
  EXPECT_EQ(k, std::vector<std::string>{"chain_mismatch@150"});
}

TEST_F(AuditTest, AnAuditFromAPointReplaysOntoTheProjectionVerifiedThere) {
  build(100);
  const AuditPoint point = verified_point();
  append(50);
  edit([&](lmdb::Txn& txn, const JournalDbs& dbs) {
    // f7 was forked at seq 8, before the point: adding it again is an anomaly
    // only a replay that knows the history before the point can see.
    put_record(txn, dbs, 130, encode(view(added("web", "f7"))));
    rechain(txn, dbs, 150);
  });
  EXPECT_EQ(kinds(run_from(point)), std::vector<std::string>{"anomaly@130"});
}

TEST_F(AuditTest, AnAuditFromAPointCatchesAHistoryRewriteBeforeItWithARecomputedChain) {
  build(100);
  const AuditPoint point = verified_point();
  append(50);
  edit([&](lmdb::Txn& txn, const JournalDbs& dbs) {
    put_record(txn, dbs, 3, encode(view(added("web", "f-forged"))));
    rechain(txn, dbs, 150);
  });
  EXPECT_TRUE(run().ok());  // self-consistent from seq 1...
  // ...but the stored head no longer follows from the chain verified at 100.
  const AuditReport r = run_from(point);
  EXPECT_EQ(kinds(r), std::vector<std::string>{"chain_mismatch@150"});
  EXPECT_NE(r.findings.at(0).detail.find("after seq 100"), std::string::npos);
}

TEST_F(AuditTest, AHistoryRewriteBeforeAPointAtACheckpointIsCaughtAtThatCheckpoint) {
  build(kChainCheckpointEvery);
  const AuditPoint point = verified_point();
  append(10);
  edit([&](lmdb::Txn& txn, const JournalDbs& dbs) {
    put_record(txn, dbs, 3, encode(view(added("web", "f-forged"))));
    rechain(txn, dbs, kChainCheckpointEvery + 10);
  });
  const auto k = kinds(run_from(point));
  EXPECT_NE(std::find(k.begin(), k.end(), "chain_mismatch@4096"), k.end())
      << ::testing::PrintToString(k);
  EXPECT_NE(std::find(k.begin(), k.end(), "chain_mismatch@4106"), k.end());
}

TEST_F(AuditTest, AnAuditFromAPointCatchesTruncationBelowIt) {
  build(100);
  const AuditPoint point = verified_point();
  edit([&](lmdb::Txn& txn, const JournalDbs& dbs) {
    for (std::uint64_t seq = 91; seq <= 100; ++seq)
      ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(seq)));
    rechain(txn, dbs, 90);
  });
  EXPECT_TRUE(run().ok());
  const auto k = kinds(run_from(point));
  EXPECT_NE(std::find(k.begin(), k.end(), "expect_head@100"), k.end())
      << ::testing::PrintToString(k);
}

// The limit of an incremental audit, stated in audit.h: records before the
// point are not read, so an edit there that leaves the stored chain values
// alone waits for the next full audit.
TEST_F(AuditTest, AnEditBeforeThePointThatKeepsTheStoredChainIsLeftToAFullAudit) {
  build(100);
  const AuditPoint point = verified_point();
  append(10);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) { flip_byte(txn, dbs, 42); });
  EXPECT_TRUE(run_from(point).ok());
  const auto k = kinds(run());
  EXPECT_NE(std::find(k.begin(), k.end(), "checksum_mismatch@42"), k.end());
}

TEST_F(AuditTest, AnAuditFromAPointRefusesAnInconsistentPoint) {
  build(100);
  AuditPoint point = verified_point();
  auto j = Journal::open(dir_.path(), JournalOptions{.read_only = true});
  AuditOptions options;
  options.from = &point;
  options.expect_head = ChainPoint{50, point.chain.value};
  auto r = audit(*j, options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  point.chain.seq = 99;  // the state is at 100
  options.expect_head.reset();
  r = audit(*j, options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(AuditTest, ASnapshotThatDiffersFromTheReplayIsAFinding) {
  build(50);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    Projection wrong;
    wrong.apply(1, view(registered("web")));
    for (std::uint64_t seq = 2; seq <= 50; ++seq) {
      wrong.apply(seq, view(added("web", "g" + std::to_string(seq))));
    }
    const std::string rec = get_record(txn, dbs, 50);
    const std::string blob = SnapshotCodec::encode(wrong, stored_checksum(rec));
    std::uint64_t at = 50;
    ASSERT_TRUE(txn.put(dbs.snapshots, lmdb::seq_key(at), lmdb::to_val(blob)));
  });
  const auto k = kinds(run());
  EXPECT_EQ(k, std::vector<std::string>{"snapshot_mismatch@50"});
}

// The snapshot at seq 50 of build(100)'s journal with its template's state
// byte set to 3: the checksum holds (`recrc`) or is left stale, and decode
// refuses it either way.
void store_unsound_snapshot(lmdb::Txn& txn, const JournalDbs& dbs, bool recrc) {
  Projection at50;
  at50.apply(1, view(registered("web")));
  for (std::uint64_t seq = 2; seq <= 50; ++seq) {
    at50.apply(seq, view(added("web", "f" + std::to_string(seq - 1))));
  }
  const auto rec = txn.get(dbs.events, lmdb::seq_key(50));
  ASSERT_TRUE(rec && *rec);
  std::string blob = SnapshotCodec::encode(at50, stored_checksum(**rec));
  const Template& web = *at50.find("web");
  blob[20 + 1 + web.id.size() + 1 + web.source.size() + 1 + web.name.size()] = 3;
  if (recrc) {
    blob.resize(blob.size() - 4);
    put_le<std::uint32_t>(blob, crc32c(blob.data(), blob.size()));
  }
  std::uint64_t at = 50;
  ASSERT_TRUE(txn.put(dbs.snapshots, lmdb::seq_key(at), lmdb::to_val(blob)));
}

std::string detail_of(const AuditReport& r, const std::string& kind) {
  for (const auto& f : r.findings) {
    if (f.kind == kind) return f.detail;
  }
  return "";
}

// Decoded before the walk once, compared in place now: a snapshot that does
// not decode is reported however the walk goes, first at its seq.
TEST_F(AuditTest, AnUnsoundSnapshotIsAFindingWhereverTheWalkGoes) {
  build(100);
  const AuditPoint point = verified_point();
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) { store_unsound_snapshot(txn, dbs, true); });
  const AuditReport full = run();
  EXPECT_EQ(kinds(full), std::vector<std::string>{"snapshot_corrupt@50"});
  EXPECT_EQ(detail_of(full, "snapshot_corrupt"), "snapshot: bad template state");
  // An audit that starts after the snapshot's seq never applies it.
  EXPECT_EQ(kinds(run_from(point)), std::vector<std::string>{"snapshot_corrupt@50"});
  // Nor one whose record at that seq is gone.
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) {
    ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(50)));
  });
  const auto k = kinds(run());
  ASSERT_GE(k.size(), 2u);
  EXPECT_EQ(k[0], "snapshot_corrupt@50");
  EXPECT_NE(std::find(k.begin(), k.end(), "seq_gap@50"), k.end());
}

TEST_F(AuditTest, ASnapshotWithAStaleChecksumIsAFindingBeforeTheWalk) {
  build(100);
  edit([](lmdb::Txn& txn, const JournalDbs& dbs) { store_unsound_snapshot(txn, dbs, false); });
  const AuditReport r = run();
  EXPECT_EQ(kinds(r), std::vector<std::string>{"snapshot_corrupt@50"});
  EXPECT_EQ(detail_of(r, "snapshot_corrupt"), "snapshot: checksum mismatch");
}

TEST_F(AuditTest, ReplayAnomaliesAreFindings) {
  build(5);
  {
    auto j = Journal::open(dir_.path(), JournalOptions{.sync = SyncMode::none});
    const Event bad = removed("web", "never-forked");
    const EventView v = view(bad);
    ASSERT_TRUE(j->append(std::span(&v, 1)));
  }
  const AuditReport r = run();
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].kind, "anomaly");
  EXPECT_EQ(r.findings[0].seq, 6u);
}

}  // namespace
}  // namespace fj
