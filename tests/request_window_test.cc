// The request-id window: which ids a journal keeps (journal/request_window.h),
// pruning inside the write transaction that stores a new id, and what a retry
// within and past the window gets through the Ledger.
#include "journal/request_window.h"
#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"
#include "journal/journal.h"
#include "projector/ledger.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace fj {
namespace {

using namespace std::chrono_literals;
using fj::testing::TempDir;

constexpr std::uint64_t kSecond = 1'000'000'000;

// --- the decision, without a journal ------------------------------------------

TEST(RequestWindowRule, KeepsTheNewestMaxCountIds) {
  const RequestWindow window{.max_count = 3, .min_age = 0ms};
  EXPECT_FALSE(outside_window(window, 3, 1, 2));
  EXPECT_TRUE(outside_window(window, 4, 1, 2));
}

TEST(RequestWindowRule, ZeroCountMeansNoLimitByCount) {
  const RequestWindow window{.max_count = 0, .min_age = 0ms};
  EXPECT_FALSE(outside_window(window, 1'000'000'000, 1, 2));
}

TEST(RequestWindowRule, DropsIdsOlderThanMaxAge) {
  const RequestWindow window{.max_count = 0, .max_age = 10s};
  EXPECT_FALSE(outside_window(window, 1, 100 * kSecond, 110 * kSecond));
  EXPECT_TRUE(outside_window(window, 1, 100 * kSecond, 111 * kSecond));
}

TEST(RequestWindowRule, AClockThatSteppedBackKeepsTheId) {
  const RequestWindow window{.max_count = 0, .max_age = 1s};
  EXPECT_FALSE(outside_window(window, 1, 500 * kSecond, 100 * kSecond));
}

TEST(RequestWindowRule, TheLargestAgeDoesNotOverflow) {
  const RequestWindow window{.max_count = 0, .max_age = std::chrono::milliseconds::max()};
  EXPECT_FALSE(outside_window(window, 1, 0 + 1, UINT64_MAX));
}

TEST(RequestWindowRule, AnIdYoungerThanMinAgeStaysPastMaxCount) {
  const RequestWindow window{.max_count = 3, .min_age = 60s};
  EXPECT_FALSE(outside_window(window, 1'000, 100 * kSecond, 159 * kSecond));
  EXPECT_TRUE(outside_window(window, 4, 100 * kSecond, 160 * kSecond));
  EXPECT_FALSE(outside_window(window, 3, 100 * kSecond, 500 * kSecond)) << "old, within the count";
  EXPECT_FALSE(outside_window(window, 1'000, 130 * kSecond, 100 * kSecond)) << "30 s ahead";
  EXPECT_TRUE(outside_window(window, 1'000, 500 * kSecond, 100 * kSecond))
      << "a clock that stepped back by more than min_age does not hold the count off";
}

TEST(RequestWindowRule, MaxAgeWinsOverMinAge) {
  const RequestWindow window{.max_count = 0, .max_age = 10s, .min_age = 60s};
  EXPECT_TRUE(outside_window(window, 1, 100 * kSecond, 111 * kSecond));
}

TEST(RequestWindowRule, Defaults) {
  const RequestWindow window;
  EXPECT_EQ(window.max_count, 100'000u);
  EXPECT_EQ(window.max_age.count(), 0);
  EXPECT_EQ(window.min_age, 60s);
  EXPECT_EQ(JournalOptions{}.requests.max_count, 100'000u);
  EXPECT_EQ(JournalOptions{}.requests.max_age.count(), 0);
  EXPECT_EQ(JournalOptions{}.requests.min_age, 60s);
}

// --- in a journal -------------------------------------------------------------

class RequestWindowTest : public ::testing::Test {
 protected:
  Journal open(RequestWindow window) {
    const JournalOptions options{.sync = SyncMode::none, .requests = window};
    auto j = std::filesystem::exists(dir_.sub("j/data.mdb"))
                 ? Journal::open(dir_.sub("j"), options)
                 : Journal::create(dir_.sub("j"), options);
    EXPECT_TRUE(j) << (j ? "" : j.error().message);
    return std::move(*j);
  }

  static std::string id(int i) { return "req-" + std::to_string(i); }

  static void put(Journal& j, int i, std::uint64_t stored_ns = 0) {
    auto ok = j.write([&](WriteTxn& w) {
      return w.put_request(id(i), RequestRecord{std::uint64_t(i), std::uint64_t(i), 0, 7},
                           stored_ns);
    });
    ASSERT_TRUE(ok) << ok.error().message;
  }

  static bool held(const Journal& j, int i) {
    auto r = j.read([&](Reader& r) { return r.request(id(i)); });
    EXPECT_TRUE(r);
    return r && r->has_value();
  }

  static std::uint64_t count(const Journal& j) {
    return *j.read([](Reader& r) { return r.request_count(); });
  }

  TempDir dir_;
};

TEST_F(RequestWindowTest, NPlusOneIdsKeepTheNewestN) {
  Journal j = open({.max_count = 3, .min_age = 0ms});
  for (int i = 1; i <= 3; ++i) put(j, i);
  EXPECT_EQ(count(j), 3u);
  EXPECT_TRUE(held(j, 1));
  put(j, 4);
  EXPECT_EQ(count(j), 3u);
  EXPECT_FALSE(held(j, 1));
  for (int i = 2; i <= 4; ++i) EXPECT_TRUE(held(j, i)) << i;
  auto kept = j.read([](Reader& r) { return r.request(id(4)); });
  ASSERT_TRUE(kept && *kept);
  EXPECT_EQ(**kept, (RequestRecord{4, 4, 0, 7}));
}

TEST_F(RequestWindowTest, SeveralIdsInOneTransactionArePrunedInOrder) {
  Journal j = open({.max_count = 2, .min_age = 0ms});
  auto ok = j.write([&](WriteTxn& w) -> Result<void> {
    for (int i = 1; i <= 5; ++i) {
      if (auto put = w.put_request(id(i), RequestRecord{}); !put) return put;
    }
    return {};
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(count(j), 2u);
  EXPECT_TRUE(held(j, 4));
  EXPECT_TRUE(held(j, 5));
  EXPECT_FALSE(held(j, 3));
}

// The default window: a burst far beyond max_count keeps every id while
// they are younger than a minute, and the first store after that minute
// prunes the excess (oldest first, at most kMaxPrunedPerStore).
TEST_F(RequestWindowTest, ABurstPastMaxCountIsKeptForTheMinimumAge) {
  Journal j = open({.max_count = 3});
  for (int i = 1; i <= 10; ++i) put(j, i, 100 * kSecond + std::uint64_t(i));
  EXPECT_EQ(count(j), 10u);
  for (int i = 1; i <= 10; ++i) EXPECT_TRUE(held(j, i)) << i;
  put(j, 11, 159 * kSecond);
  EXPECT_EQ(count(j), 11u) << "59 s old: still kept";
  put(j, 12, 161 * kSecond);
  EXPECT_EQ(count(j), 3u);
  for (int i = 10; i <= 12; ++i) EXPECT_TRUE(held(j, i)) << i;
  EXPECT_FALSE(held(j, 9));
}

// Ids stamped an hour ahead (the clock then stepped back): the count still
// bounds them, instead of the oldest holding every newer one for an hour.
TEST_F(RequestWindowTest, IdsStampedFarAheadStillLeaveByCount) {
  Journal j = open({.max_count = 3});
  for (int i = 1; i <= 5; ++i) put(j, i, 3'700 * kSecond + std::uint64_t(i));
  EXPECT_EQ(count(j), 5u) << "young to each other";
  for (int i = 6; i <= 8; ++i) put(j, i, 100 * kSecond + std::uint64_t(i));
  EXPECT_EQ(count(j), 3u);
  for (int i = 6; i <= 8; ++i) EXPECT_TRUE(held(j, i)) << i;
}

TEST_F(RequestWindowTest, IdsOlderThanMaxAgeGoWhenANewOneIsStored) {
  Journal j = open({.max_count = 0, .max_age = 10s});
  put(j, 1, 100 * kSecond);
  put(j, 2, 105 * kSecond);
  put(j, 3, 112 * kSecond);  // 1 is 12 s old, 2 only 7 s
  EXPECT_FALSE(held(j, 1));
  EXPECT_TRUE(held(j, 2));
  EXPECT_TRUE(held(j, 3));
  put(j, 4, 500 * kSecond);  // the new id itself always stays
  EXPECT_EQ(count(j), 1u);
  EXPECT_TRUE(held(j, 4));
}

TEST_F(RequestWindowTest, AnUnboundedWindowKeepsEveryId) {
  Journal j = open({.max_count = 0, .min_age = 0ms});
  for (int i = 1; i <= 50; ++i) put(j, i);
  EXPECT_EQ(count(j), 50u);
  EXPECT_TRUE(held(j, 1));
}

TEST_F(RequestWindowTest, TheWindowHoldsAcrossReopening) {
  {
    Journal j = open({.max_count = 3, .min_age = 0ms});
    for (int i = 1; i <= 3; ++i) put(j, i);
  }
  Journal j = open({.max_count = 3, .min_age = 0ms});
  EXPECT_EQ(count(j), 3u);
  put(j, 4);
  EXPECT_FALSE(held(j, 1));
  EXPECT_TRUE(held(j, 2));
  EXPECT_EQ(count(j), 3u);
}

TEST_F(RequestWindowTest, ASmallerWindowAtReopenPrunesAtTheNextStore) {
  {
    Journal j = open({.max_count = 10, .min_age = 0ms});
    for (int i = 1; i <= 10; ++i) put(j, i);
  }
  Journal j = open({.max_count = 4, .min_age = 0ms});
  EXPECT_EQ(count(j), 10u) << "opening prunes nothing";
  put(j, 11);
  EXPECT_EQ(count(j), 4u);
  for (int i = 8; i <= 11; ++i) EXPECT_TRUE(held(j, i)) << i;
  EXPECT_FALSE(held(j, 7));
}

TEST_F(RequestWindowTest, AFarSmallerWindowShrinksByAtMostABoundedNumberPerStore) {
  const int stored = 2 * static_cast<int>(kMaxPrunedPerStore) + 10;
  {
    Journal j = open({.max_count = 0, .min_age = 0ms});
    for (int i = 1; i <= stored; ++i) put(j, i);
  }
  Journal j = open({.max_count = 5, .min_age = 0ms});
  put(j, stored + 1);
  EXPECT_EQ(count(j), static_cast<std::uint64_t>(stored + 1) - kMaxPrunedPerStore);
  EXPECT_FALSE(held(j, static_cast<int>(kMaxPrunedPerStore)));
  EXPECT_TRUE(held(j, static_cast<int>(kMaxPrunedPerStore) + 1)) << "oldest first";
  put(j, stored + 2);
  put(j, stored + 3);
  EXPECT_EQ(count(j), 5u);
  for (int i = stored - 1; i <= stored + 3; ++i) EXPECT_TRUE(held(j, i)) << i;
}

TEST_F(RequestWindowTest, AFailedWriteTransactionPrunesNothing) {
  Journal j = open({.max_count = 2, .min_age = 0ms});
  put(j, 1);
  put(j, 2);
  auto failed = j.write([&](WriteTxn& w) -> Result<void> {
    if (auto ok = w.put_request(id(3), RequestRecord{}); !ok) return ok;
    EXPECT_FALSE(*w.request(id(1))) << "pruned inside the transaction";
    return make_error(Errc::invalid_argument, "refused after storing");
  });
  ASSERT_FALSE(failed);
  EXPECT_TRUE(held(j, 1));
  EXPECT_TRUE(held(j, 2));
  EXPECT_FALSE(held(j, 3));
  EXPECT_EQ(count(j), 2u);
  put(j, 4);  // the order is intact: 1 goes next
  EXPECT_FALSE(held(j, 1));
  EXPECT_TRUE(held(j, 2));
}

TEST_F(RequestWindowTest, AnIdAlreadyStoredIsRefusedAndNothingWritten) {
  Journal j = open({.max_count = 2, .min_age = 0ms});
  put(j, 1);
  auto again = j.write([&](WriteTxn& w) {
    return w.put_request(id(1), RequestRecord{9, 9, 0, 9});
  });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::invalid_argument);
  auto kept = j.read([](Reader& r) { return r.request(id(1)); });
  ASSERT_TRUE(kept && *kept);
  EXPECT_EQ((*kept)->first_seq, 1u);
}

// A journal written before the order database existed: its ids are still
// read, and a writer orders them (oldest outcome first) when it opens.
TEST_F(RequestWindowTest, IdsOfAJournalWithoutAnOrderAreOrderedByAWriter) {
  {
    Journal j = open({.max_count = 0, .min_age = 0ms});
    for (int i : {3, 1, 2}) put(j, i);
  }
  {
    auto env = lmdb::Env::open(dir_.sub("j"), lmdb::EnvOptions{});
    ASSERT_TRUE(env);
    auto txn = lmdb::Txn::begin(*env, 0);
    ASSERT_TRUE(txn);
    auto order = txn->open_db(kRequestOrderDb, MDB_INTEGERKEY);
    ASSERT_TRUE(order);
    ASSERT_EQ(mdb_drop(txn->get(), *order, 1), 0);
    ASSERT_TRUE(txn->commit());
  }
  {
    auto reader = Journal::open(dir_.sub("j"), JournalOptions{.read_only = true});
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_TRUE(held(*reader, 3));
    EXPECT_EQ(count(*reader), 3u);
  }
  Journal j = open({.max_count = 3, .min_age = 0ms});
  EXPECT_EQ(count(j), 3u);
  put(j, 4);
  EXPECT_FALSE(held(j, 1)) << "seq 1 is the oldest outcome";
  EXPECT_TRUE(held(j, 2));
  EXPECT_TRUE(held(j, 3));
  EXPECT_TRUE(held(j, 4));
}

// --- what a retry gets through the Ledger --------------------------------------

class RequestRetryTest : public RequestWindowTest {
 protected:
  void SetUp() override {
    journal_ = std::make_unique<Journal>(open({.max_count = 2, .min_age = 0ms}));
    auto l = Ledger::open(*journal_, [this] { return clock_ += kSecond; });
    ASSERT_TRUE(l);
    ledger_ = std::make_unique<Ledger>(std::move(*l));
    ASSERT_TRUE(ledger_->execute(RegisterTemplate{"web", "src", ""}, Origin::api));
  }

  Result<Outcome> run(const Command& c, const std::string& request_id) {
    auto results = ledger_->execute_batch(std::vector<Request>{{c, request_id}}, Origin::api);
    EXPECT_TRUE(results);
    return std::move((*results)[0]);
  }

  std::uint64_t clock_ = 1000 * kSecond;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(RequestRetryTest, ARetryWithinTheWindowGetsTheStoredOutcome) {
  auto first = run(AddFork{"web", "a"}, "r1");
  ASSERT_TRUE(first);
  ASSERT_TRUE(run(AddFork{"web", "b"}, "r2"));
  auto retry = run(AddFork{"web", "a"}, "r1");  // r1 is the oldest of 2: still held
  ASSERT_TRUE(retry) << retry.error().message;
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(retry->first_seq, first->first_seq);
  EXPECT_EQ(*journal_->head(), 3u);
}

TEST_F(RequestRetryTest, ARetryPastTheWindowIsExecutedAnew) {
  ASSERT_TRUE(run(AddFork{"web", "a"}, "r1"));
  ASSERT_TRUE(run(AddFork{"web", "b"}, "r2"));
  ASSERT_TRUE(run(RemoveFork{"web", "b"}, "r3"));  // r1 leaves the window
  auto retry = run(AddFork{"web", "a"}, "r1");
  ASSERT_FALSE(retry);
  EXPECT_EQ(retry.error().code, Errc::already_live) << "a fork is never added twice";
  EXPECT_EQ(*journal_->head(), 4u);

  // Past the window, an id reused for a different command is not recognised.
  ASSERT_TRUE(run(AddFork{"web", "c"}, "r4"));
  ASSERT_TRUE(run(AddFork{"web", "d"}, "r5"));
  auto reused = run(AddFork{"web", "e"}, "r1");
  ASSERT_TRUE(reused) << reused.error().message;
  EXPECT_FALSE(reused->replayed);
}

TEST_F(RequestRetryTest, AnUnforkRetriedPastTheWindowIsNotFound) {
  ASSERT_TRUE(run(AddFork{"web", "a"}, "r1"));
  ASSERT_TRUE(run(RemoveFork{"web", "a"}, "r2"));
  ASSERT_TRUE(run(AddFork{"web", "b"}, "r3"));
  ASSERT_TRUE(run(AddFork{"web", "c"}, "r4"));  // r2 leaves the window
  const auto head = *journal_->head();
  auto retry = run(RemoveFork{"web", "a"}, "r2");
  ASSERT_FALSE(retry);
  EXPECT_EQ(retry.error().code, Errc::not_found);
  EXPECT_EQ(*journal_->head(), head);
}

// The one late retry that changes state again: the fork id was reused.
TEST_F(RequestRetryTest, AnUnforkRetriedPastTheWindowAfterAReforkRemovesTheNewFork) {
  ASSERT_TRUE(run(AddFork{"web", "a"}, "r1"));
  ASSERT_TRUE(run(RemoveFork{"web", "a"}, "r2"));
  ASSERT_TRUE(run(AddFork{"web", "a"}, "r3"));
  ASSERT_TRUE(run(AddFork{"web", "x"}, "r4"));  // r2 leaves the window
  auto retry = run(RemoveFork{"web", "a"}, "r2");
  ASSERT_TRUE(retry) << retry.error().message;
  EXPECT_FALSE(retry->replayed);
  EXPECT_EQ(ledger_->projection().owner("a"), nullptr);
}

}  // namespace
}  // namespace fj
