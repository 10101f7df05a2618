#include "journal/events.h"

#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"

#include "support/event_samples.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fj {
namespace {

using namespace fj::testing;

class ForEachEventTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto j = Journal::create(dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j);
    journal_ = std::make_unique<Journal>(std::move(*j));
    std::vector<Event> events{registered("web")};
    for (int i = 1; i <= 4; ++i) events.push_back(added("web", "f" + std::to_string(i)));
    std::vector<EventView> views;
    for (const Event& e : events) views.push_back(view(e));
    ASSERT_TRUE(journal_->append(views));
  }

  // The seqs and fork ids for_each_event visits in [from, to].
  Result<std::vector<std::string>> walk(std::uint64_t from, std::uint64_t to) {
    std::vector<std::string> seen;
    auto done = journal_->read([&](Reader& r) {
      return for_each_event(r, from, to, [&](std::uint64_t seq, const EventView& e) {
        seen.push_back(std::to_string(seq) + ":" + std::string(e.fork));
      });
    });
    if (!done) return done.error();
    return seen;
  }

  TempDir dir_;
  std::unique_ptr<Journal> journal_;
};

TEST_F(ForEachEventTest, VisitsExactlyTheRangeInOrder) {
  using V = std::vector<std::string>;
  EXPECT_EQ(walk(2, 4).value(), (V{"2:f1", "3:f2", "4:f3"}));
  EXPECT_EQ(walk(0, 1).value(), (V{"1:"}));  // seq 0 does not exist: from 1
  EXPECT_EQ(walk(4, kHead).value(), (V{"4:f3", "5:f4"}));
  EXPECT_EQ(walk(5, 5).value(), (V{"5:f4"}));
  EXPECT_EQ(walk(3, 2).value(), V{});
  EXPECT_EQ(walk(6, kHead).value(), V{});
}

TEST_F(ForEachEventTest, AVisitorErrorStopsTheWalkAndIsReturned) {
  std::vector<std::uint64_t> seen;
  auto done = journal_->read([&](Reader& r) {
    return for_each_event(r, 1, kHead, [&](std::uint64_t seq, const EventView&) -> Result<void> {
      seen.push_back(seq);
      if (seq == 3) return make_error(Errc::not_found, "stop here");
      return {};
    });
  });
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, Errc::not_found);
  EXPECT_EQ(done.error().message, "stop here");
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST_F(ForEachEventTest, PassesTheStoredRecordWhenAsked) {
  std::size_t bytes = 0;
  auto done = journal_->read([&](Reader& r) {
    return for_each_event(r, 2, 2, [&](std::uint64_t, const EventView& e, std::string_view record) {
      EXPECT_EQ(record, encode(e));
      bytes += record.size();
    });
  });
  ASSERT_TRUE(done);
  EXPECT_EQ(bytes, encode(view(added("web", "f1"))).size());
}

TEST_F(ForEachEventTest, ACorruptRecordStopsTheWalkNamingItsSeq) {
  // Damage seq 4 directly in LMDB, as a bad disk would, with the journal closed.
  journal_.reset();
  {
    auto env = lmdb::Env::open(dir_.path(), lmdb::EnvOptions{});
    ASSERT_TRUE(env);
    auto txn = lmdb::Txn::begin(*env, 0);
    ASSERT_TRUE(txn);
    auto events = txn->open_db(kEventsDb, MDB_INTEGERKEY);
    ASSERT_TRUE(events);
    const std::uint64_t seq = 4;
    auto record = txn->get(*events, lmdb::seq_key(seq));
    ASSERT_TRUE(record && *record);
    std::string bytes(**record);
    bytes[bytes.size() / 2] ^= 0x01;
    ASSERT_TRUE(txn->put(*events, lmdb::seq_key(seq), lmdb::to_val(bytes)));
    ASSERT_TRUE(txn->commit());
  }
  auto reopened = Journal::open(dir_.path(), JournalOptions{.sync = SyncMode::none});
  ASSERT_TRUE(reopened);
  journal_ = std::make_unique<Journal>(std::move(*reopened));
  std::vector<std::uint64_t> seen;
  auto done = journal_->read([&](Reader& r) {
    return for_each_event(r, 1, kHead,
                          [&](std::uint64_t seq, const EventView&) { seen.push_back(seq); });
  });
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, Errc::checksum_mismatch);
  EXPECT_EQ(done.error().seq, 4u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace fj
