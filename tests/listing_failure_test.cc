// A directory listing that fails part-way must end a scan with io_error and a
// reconcile with nothing appended: a cut-short listing would otherwise read
// as forks whose directories are gone. readdir is interposed in this test
// binary (the scanner resolves it here before libc) to fail on demand.
#include "gc/reconciler.h"
#include "support/data_root.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <dlfcn.h>

#include <atomic>
#include <cerrno>

namespace {

// The call (1-based) of readdir that fails with EIO; 0: never.
std::atomic<int> fail_at{0};
std::atomic<int> calls{0};

}  // namespace

extern "C" struct dirent* readdir(DIR* dir) {
  using Real = struct dirent* (*)(DIR*);
  static const Real real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "readdir"));
  if (fail_at != 0 && ++calls == fail_at) {
    errno = EIO;
    return nullptr;
  }
  return real(dir);
}

namespace fj::gc {
namespace {

using fj::testing::DataRoot;
using fj::testing::TempDir;

class ListingFailureTest : public ::testing::Test {
 protected:
  void TearDown() override { fail_at = 0; }
  static void fail_on_call(int n) {
    calls = 0;
    fail_at = n;
  }
};

TEST_F(ListingFailureTest, InterposedReaddirIsTheOneTheScannerCalls) {
  DataRoot root;
  root.instance("a");
  fail_on_call(1000);
  ASSERT_TRUE(scan(root.path()));
  EXPECT_GT(calls.load(), 0);  // otherwise the tests below prove nothing
}

TEST_F(ListingFailureTest, GuestsListingCutShortIsAnIoError) {
  DataRoot root;
  for (const char* id : {"a", "b", "c", "d"}) root.instance(id);
  fail_on_call(3);  // ".", "..", or an entry: the listing is incomplete either way
  auto r = scan(root.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io_error);
  EXPECT_NE(r.error().message.find("guests failed part-way"), std::string::npos)
      << r.error().message;
}

TEST_F(ListingFailureTest, TemplatesListingCutShortIsAnIoError) {
  DataRoot root;
  root.instance("a");
  root.template_dir("web", "a");
  // guests/ takes 4 calls (".", "..", "a", the end); fail the first of templates/.
  fail_on_call(5);
  auto r = scan(root.path());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("templates failed part-way"), std::string::npos)
      << r.error().message;
}

TEST_F(ListingFailureTest, ReconcileAppendsNothingWhenTheListingFails) {
  TempDir dir;
  auto journal = Journal::create(dir.path(), JournalOptions{.sync = SyncMode::none});
  ASSERT_TRUE(journal);
  auto ledger = Ledger::open(*journal);
  ASSERT_TRUE(ledger);
  ASSERT_TRUE(ledger->execute(RegisterTemplate{"web", "src-web", "web"}, Origin::api));
  for (const char* f : {"a", "b", "c"}) {
    ASSERT_TRUE(ledger->execute(AddFork{"web", f}, Origin::api));
  }
  DataRoot root;
  root.instance("src-web", "", true, "web");
  for (const char* f : {"a", "b", "c"}) root.instance(f, "web");
  const std::uint64_t head = *journal->head();
  fail_on_call(4);  // after two real entries: the rest would look deleted
  auto r = reconcile(*ledger, root.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io_error);
  EXPECT_EQ(*journal->head(), head);
  EXPECT_EQ(ledger->projection().find("web")->forks, 3u);
}

}  // namespace
}  // namespace fj::gc
