#include "journal/internal/lmdb.h"

#include "journal/internal/pages.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

namespace fj::lmdb {
namespace {

class Lmdb : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = Env::open(dir_.path(), EnvOptions{.flags = MDB_NOSYNC, .map_size = 1 << 20});
    ASSERT_TRUE(opened);
    env_ = std::make_unique<Env>(std::move(*opened));
    auto txn = Txn::begin(*env_, 0);
    dbi_ = *txn->open_db("t", MDB_CREATE | MDB_INTEGERKEY);
    ASSERT_TRUE(txn->commit());
  }

  testing::TempDir dir_;
  std::unique_ptr<Env> env_;
  MDB_dbi dbi_ = 0;
};

std::optional<std::string> read(const Env& env, MDB_dbi dbi, std::uint64_t key) {
  auto txn = Txn::begin(env, MDB_RDONLY);
  auto v = txn->get(dbi, seq_key(key));
  if (!v || !*v) return std::nullopt;
  return std::string(**v);
}

TEST_F(Lmdb, UncommittedWriteTxnAbortsInItsDestructor) {
  {
    auto txn = Txn::begin(*env_, 0);
    ASSERT_TRUE(txn);
    std::uint64_t k = 1;
    ASSERT_TRUE(txn->put(dbi_, seq_key(k), to_val("v")));
  }
  EXPECT_EQ(read(*env_, dbi_, 1), std::nullopt);
  // The write lock was released: a new write transaction can start.
  auto again = Txn::begin(*env_, 0);
  EXPECT_TRUE(again);
}

TEST_F(Lmdb, CommitMakesWritesVisible) {
  auto txn = Txn::begin(*env_, 0);
  std::uint64_t k = 1;
  ASSERT_TRUE(txn->put(dbi_, seq_key(k), to_val("v")));
  ASSERT_TRUE(txn->commit());
  EXPECT_EQ(txn->get(), nullptr);  // consumed
  EXPECT_EQ(read(*env_, dbi_, 1), "v");
}

TEST_F(Lmdb, AFailedOperationPoisonsTheTransaction) {
  auto txn = Txn::begin(*env_, 0);
  std::uint64_t k2 = 2, k1 = 1, k3 = 3;
  ASSERT_TRUE(txn->put(dbi_, seq_key(k2), to_val("two"), MDB_APPEND));
  // Out-of-order MDB_APPEND fails with MDB_KEYEXIST...
  auto bad = txn->put(dbi_, seq_key(k1), to_val("one"), MDB_APPEND);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(txn->poisoned());
  EXPECT_EQ(txn->failure_rc(), MDB_KEYEXIST);
  // ...and nothing else may run in it, not even a valid put or a commit.
  EXPECT_FALSE(txn->put(dbi_, seq_key(k3), to_val("three"), MDB_APPEND));
  EXPECT_FALSE(txn->get(dbi_, seq_key(k2)));
  EXPECT_FALSE(txn->commit());
  EXPECT_EQ(read(*env_, dbi_, 2), std::nullopt);
}

TEST_F(Lmdb, CommitRefusesWhileACursorIsOpen) {
  auto txn = Txn::begin(*env_, 0);
  std::uint64_t k = 1;
  ASSERT_TRUE(txn->put(dbi_, seq_key(k), to_val("v")));
  {
    auto cursor = Cursor::open(*txn, dbi_);
    ASSERT_TRUE(cursor);
    EXPECT_FALSE(txn->commit());
    EXPECT_TRUE(txn->poisoned());
  }
  // Even with the cursor gone, the refused transaction cannot commit.
  EXPECT_FALSE(txn->commit());
  EXPECT_EQ(read(*env_, dbi_, 1), std::nullopt);
}

TEST_F(Lmdb, CursorWalksKeysInIntegerOrder) {
  auto txn = Txn::begin(*env_, 0);
  for (std::uint64_t k : {1ull, 256ull, 2ull, 65536ull}) {
    ASSERT_TRUE(txn->put(dbi_, seq_key(k), to_val("v")));
  }
  std::vector<std::uint64_t> seen;
  {
    auto cursor = Cursor::open(*txn, dbi_);
    MDB_val key{}, value{};
    for (auto r = cursor->get(key, value, MDB_FIRST); r && *r;
         r = cursor->get(key, value, MDB_NEXT)) {
      std::uint64_t k;
      std::memcpy(&k, key.mv_data, sizeof k);
      seen.push_back(k);
    }
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 256, 65536}));
  EXPECT_TRUE(txn->commit());
}

TEST(LmdbEnv, MapFullIsReportedAsJournalFull) {
  testing::TempDir dir;
  auto env = Env::open(dir.path(), EnvOptions{.flags = MDB_NOSYNC, .map_size = 64 << 10});
  ASSERT_TRUE(env);
  auto txn = Txn::begin(*env, 0);
  auto dbi = txn->open_db(nullptr, 0);
  ASSERT_TRUE(dbi);
  Result<void> r;
  const std::string value(1000, 'v');
  for (std::uint64_t k = 1; r && k < 1000; ++k) r = txn->put(*dbi, seq_key(k), to_val(value));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::journal_full);
  EXPECT_EQ(txn->failure_rc(), MDB_MAP_FULL);
}

TEST(LmdbVersion, OnlyTheReleaseThePageCheckReadsIsAccepted) {
  int major = 0, minor = 0, patch = 0;
  mdb_version(&major, &minor, &patch);
  EXPECT_TRUE(check_lmdb_version(major, minor, patch));  // the one this build links
  EXPECT_TRUE(check_lmdb_version(0, 9, 24));             // Debian 12's
  EXPECT_TRUE(check_lmdb_version(0, 9, 33));             // a later patch release
  for (auto [a, b, c] : {std::array{0, 10, 0}, std::array{1, 0, 0}, std::array{0, 8, 0}}) {
    auto refused = check_lmdb_version(a, b, c);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::lmdb_error);
    const std::string version =
        std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c);
    EXPECT_NE(refused.error().message.find("LMDB " + version + " is linked"), std::string::npos)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find("LMDB 0.9"), std::string::npos);
  }
}

}  // namespace
}  // namespace fj::lmdb
