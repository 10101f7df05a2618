// The reconciler end to end, on a data root on disk and an LMDB journal: what
// only a real run shows (the atomic commit, a concurrent writer, file removal
// across a crash, dry runs, repeat runs, errors, the shared fixture) and the
// scanner and planner agreeing on real memory links. The rules themselves are
// planned in memory in evidence_plan_test.cc; the re-check is recheck_test.cc.
#include "gc/reconciler.h"

#include "gc/importer.h"
#include "support/data_root.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace fj::gc {
namespace {

using fj::testing::DataRoot;
using fj::testing::TempDir;

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto j = Journal::create(journal_dir_.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j);
    journal_ = std::make_unique<Journal>(std::move(*j));
    auto l = Ledger::open(*journal_);
    ASSERT_TRUE(l);
    ledger_ = std::make_unique<Ledger>(std::move(*l));
  }

  void ok(const Command& c) {
    auto r = ledger_->execute(c, Origin::api);
    ASSERT_TRUE(r) << r.error().message;
  }
  // A template whose source instance exists on disk, with forks live in the
  // journal and present on disk.
  void web_with_forks(std::initializer_list<const char*> forks) {
    root_.instance("src-web", "", true, "web");
    ok(RegisterTemplate{"web", "src-web", "web"});
    for (const char* f : forks) {
      ok(AddFork{"web", f});
      root_.instance(f, "web");
    }
  }
  // No grace: a fork recorded here with no directory is lost at once (the
  // grace has tests of its own, below).
  ReconcileReport run(bool dry_run = false) {
    ReconcileOptions options;
    options.dry_run = dry_run;
    options.fork_grace = std::chrono::milliseconds(0);
    auto r = reconcile(*ledger_, root_.path(), options);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : ReconcileReport{};
  }
  std::uint32_t forks(const std::string& tpl) { return ledger_->projection().find(tpl)->forks; }
  const Template& tpl(const std::string& id) { return *ledger_->projection().find(id); }
  bool live(const std::string& fork) { return ledger_->projection().owner(fork) != nullptr; }
  std::uint64_t head() { return *journal_->head(); }

  TempDir journal_dir_;
  DataRoot root_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(ReconcilerTest, CorrectionsSweepsAndMarkerCommitTogether) {
  web_with_forks({"a", "b"});
  ok(RegisterTemplate{"db", "src-db", ""});
  root_.remove("a");
  root_.instance("c", "web");
  const std::uint64_t before = head();
  const auto r = run();
  ASSERT_TRUE(r.committed);
  EXPECT_EQ(r.first_seq, before + 1);
  EXPECT_EQ(r.last_seq, before + 4);  // lost a, recovered c, retired db, marker
  auto marker = journal_->read([&](Reader& reader) -> Result<Event> {
    auto rec = reader.record(r.last_seq);
    if (!rec || !*rec) return make_error(Errc::lmdb_error, "missing");
    auto e = decode(r.last_seq, **rec);
    if (!e) return e.error();
    return to_event(*e);
  });
  ASSERT_TRUE(marker);
  EXPECT_EQ(marker->type, EventType::reconcile_run);
  EXPECT_EQ(marker->run.based_on_seq, before);
  EXPECT_EQ(marker->run.corrections, 2u);
  EXPECT_EQ(marker->run.swept, 1u);
  EXPECT_EQ(marker->run.scanned, 3u);  // src-web, b, c
}

TEST_F(ReconcilerTest, ASecondRunInARowIsANoOp) {
  web_with_forks({"a", "b"});
  ok(RegisterTemplate{"db", "src-db", ""});
  root_.remove("a");
  root_.instance("c", "web");
  ASSERT_TRUE(run().committed);
  const std::uint64_t after_first = head();
  const auto second = run();
  EXPECT_FALSE(second.committed);
  EXPECT_TRUE(second.plan.corrections.empty());
  EXPECT_TRUE(second.plan.sweeps.empty());
  EXPECT_EQ(head(), after_first);
}

TEST_F(ReconcilerTest, DryRunWritesNothing) {
  web_with_forks({"a"});
  root_.remove("a");
  const std::uint64_t before = head();
  const auto r = run(/*dry_run=*/true);
  EXPECT_EQ(r.plan.corrections.size(), 1u);
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(head(), before);
  EXPECT_TRUE(live("a"));
}

TEST_F(ReconcilerTest, ConcurrentForkDuringReconcileIsKept) {
  ok(RegisterTemplate{"db", "src-db", ""});  // an orphan the plan will sweep
  web_with_forks({"a"});
  root_.remove("a");  // the plan will lose "a"
  ASSERT_TRUE(ledger_->catch_up());
  auto scanned = scan(root_.path());
  ASSERT_TRUE(scanned);
  ReconcilePlan plan = plan_reconcile(ledger_->projection(), *scanned, 1);
  ASSERT_EQ(plan.corrections.size(), 1u);
  ASSERT_EQ(plan.sweeps.size(), 1u);

  // Meanwhile another writer forks from db and unforks a, then re-forks a.
  auto other = Ledger::open(*journal_);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->execute(AddFork{"db", "fresh"}, Origin::api));
  ASSERT_TRUE(other->execute(RemoveFork{"web", "a"}, Origin::api));
  ASSERT_TRUE(other->execute(AddFork{"web", "a"}, Origin::api));

  auto r = apply_plan(*ledger_, plan, *scanned);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->committed);
  EXPECT_EQ(r->left_alone.size(), 2u);
  EXPECT_EQ(ledger_->projection().find("db")->state, TemplateState::active);
  EXPECT_EQ(forks("db"), 1u);
  EXPECT_TRUE(live("a"));
}

TEST_F(ReconcilerTest, RemoveFilesCallbackRunsAfterTheSweepAndAgainAfterACrash) {
  ok(RegisterTemplate{"db", "src-db", ""});
  root_.template_dir("db", "src-db");
  int calls = 0;
  ReconcileOptions options;
  options.remove_template_files = [&](const std::string& id) -> Result<void> {
    ++calls;
    // The retire event must be durable before files go.
    auto state = load(*journal_);
    if (!state || state->find(id)->state != TemplateState::retired) {
      ADD_FAILURE() << "files removed before the retire event was committed";
    }
    if (calls == 1) return make_error(Errc::io_error, "simulated crash before removal");
    std::filesystem::remove_all(root_.path() + "/templates/" + id);
    return {};
  };
  auto first = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->committed);
  EXPECT_EQ(first->file_errors.size(), 1u);
  EXPECT_TRUE(root_.has_template_dir("db"));

  auto second = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->committed);
  EXPECT_EQ(second->files_removed, std::vector<std::string>{"db"});
  EXPECT_FALSE(root_.has_template_dir("db"));
  EXPECT_EQ(calls, 2);

  auto third = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->files_removed.empty());
  EXPECT_EQ(calls, 2);
}

TEST_F(ReconcilerTest, MissingDataRootIsAnErrorAndAppendsNothing) {
  auto r = reconcile(*ledger_, journal_dir_.sub("nope"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io_error);
  EXPECT_EQ(head(), 0u);
}

// The conclusions tests/fixtures/README.md states for the shared fixture.
TEST_F(ReconcilerTest, SharedFixtureConclusions) {
  DataRoot fixture("hypeman-sample");
  const std::string web = "tpl0web0000000000000001", db = "tpl0db00000000000000001",
                    ci = "tpl0ci00000000000000001";
  ok(RegisterTemplate{web, "src0web0000000000000001", "web"});
  ok(RegisterTemplate{db, "src0db00000000000000001", "db"});
  ok(RegisterTemplate{ci, "src0ci00000000000000001", "ci"});
  for (const char* f :
       {"frk0web0000000000000001", "frk0web0000000000000002", "frk0web0000000000000003"}) {
    ok(AddFork{web, f});
  }
  ok(AddFork{ci, "frk0ci00000000000000001"});
  auto r = reconcile(*ledger_, fixture.path());
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->committed);  // nothing provably wrong
  EXPECT_EQ(forks(web), 3u);   // the torn frk0web…3 stays live
  ASSERT_EQ(r->plan.kept_forks.size(), 1u);
  EXPECT_EQ(r->plan.kept_forks[0].fork, "frk0web0000000000000003");
  EXPECT_EQ(ledger_->projection().find(db)->state, TemplateState::active);  // sweep blocked
  EXPECT_FALSE(r->plan.sweep_blocked.empty());
  ASSERT_EQ(r->plan.kept.size(), 1u);  // ci: live fork, no source
  EXPECT_EQ(r->plan.kept[0].template_id, ci);
  EXPECT_EQ(r->plan.unreadable.size(), 2u);  // frk0web…3 and ins0empty…1
  EXPECT_TRUE(r->plan.needs_attention());
}

TEST_F(ReconcilerTest, ImportOnTheSharedFixture) {
  DataRoot fixture("hypeman-sample");
  auto r = import_data_root(*ledger_, fixture.path());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->first_seq, 1u);
  EXPECT_EQ(r->last_seq, 6u);  // 3 templates + 3 provable forks
  for (const Event& e : r->events) EXPECT_EQ(e.origin, Origin::import);
  EXPECT_EQ(forks("tpl0web0000000000000001"), 2u);
  EXPECT_EQ(forks("tpl0ci00000000000000001"), 1u);
  EXPECT_EQ(forks("tpl0db00000000000000001"), 0u);
  EXPECT_EQ(r->unreadable.size(), 2u);
  ASSERT_EQ(r->mismatches.size(), 3u);  // fork_count 0/1/4 vs proven 1/0/2
  EXPECT_EQ(r->mismatches[2].template_id, "tpl0web0000000000000001");
  EXPECT_EQ(r->mismatches[2].recorded, 4);
  EXPECT_EQ(r->mismatches[2].proven, 2u);
  EXPECT_TRUE(r->needs_attention());
}

TEST_F(ReconcilerTest, ImportIsRefusedOnANonEmptyJournal) {
  ok(RegisterTemplate{"web", "src", ""});
  DataRoot fixture("hypeman-sample");
  auto r = import_data_root(*ledger_, fixture.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_empty);
  EXPECT_EQ(head(), 1u);
}

// The reconciler on real memory links.

TEST_F(ReconcilerTest, TornForkIsKeptAndProvenByItsSymlink) {
  root_.instance("src-web", "", true, "web");
  root_.memory("src-web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  ok(AddFork{"web", "frk-a"});
  root_.raw("frk-a", R"({"Id": "frk-a", "ForkOf)");  // torn mid-write
  root_.memory_symlink("frk-a", "src-web");
  const auto r = run();
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(tpl("web").forks, 1u);
  ASSERT_EQ(r.plan.kept_forks.size(), 1u);
  EXPECT_NE(r.plan.kept_forks[0].proven_by.find(memory_path("src-web")), std::string::npos);
}

TEST_F(ReconcilerTest, TornUntrackedForkIsRecoveredByItsHardlink) {
  root_.instance("src-web", "", true, "web");
  root_.memory("src-web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  root_.raw("frk-x", "");
  root_.memory_hardlink("frk-x", "src-web");
  const auto r = run();
  ASSERT_EQ(r.appended.size(), 1u);
  EXPECT_EQ(r.appended[0].type, EventType::fork_recovered);
  EXPECT_EQ(r.appended[0].reason, Reason::memory_link);
  EXPECT_EQ(r.appended[0].fork, "frk-x");
  EXPECT_EQ(tpl("web").forks, 1u);
}

TEST_F(ReconcilerTest, RetiredTemplatesFilesStayWhileAnEntryMayShareItsMemory) {
  root_.instance("src-web", "", true, "web");
  root_.memory("src-web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  ok(RetireTemplate{"web"});
  root_.template_dir("web", "src-web");
  root_.raw("frk-t", "{");
  root_.memory_symlink("frk-t", "src-web");
  std::vector<std::string> removed;
  ReconcileOptions options;
  options.remove_template_files = [&](const std::string& id) -> Result<void> {
    removed.push_back(id);
    return {};
  };
  auto r = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(r);
  EXPECT_TRUE(removed.empty());
  ASSERT_EQ(r->plan.held.size(), 1u);
  EXPECT_TRUE(r->plan.held[0].retired);
  EXPECT_TRUE(r->plan.retired_with_files.empty());

  root_.remove("frk-t");  // the doubt is gone: the files may go
  r = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(r);
  EXPECT_EQ(removed, std::vector<std::string>{"web"});
}

// The same for a readable live fork of another template: its link to the
// retired template's source holds the files, even once that source is gone.
TEST_F(ReconcilerTest, ALiveForkLinkingARetiredTemplateKeepsItsFiles) {
  root_.instance("src-db", "", true, "db");
  root_.memory("src-db");
  ok(RegisterTemplate{"db", "src-db", "db"});
  web_with_forks({"frk-a"});
  root_.memory_symlink("frk-a", "src-db");
  ok(RetireTemplate{"db"});
  root_.template_dir("db", "src-db");
  root_.remove("src-db");
  std::vector<std::string> removed;
  ReconcileOptions options;
  options.remove_template_files = [&](const std::string& id) -> Result<void> {
    removed.push_back(id);
    return {};
  };
  auto r = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(r);
  EXPECT_TRUE(removed.empty());
  EXPECT_TRUE(r->plan.needs_attention());
  ASSERT_EQ(r->plan.link_mismatches.size(), 1u);
  EXPECT_EQ(r->plan.link_mismatches[0].instance, "frk-a");
  ASSERT_EQ(r->plan.held.size(), 1u);
  EXPECT_EQ(r->plan.held[0].holders, std::vector<std::string>{"frk-a"});
}

TEST_F(ReconcilerTest, FilesAreRemovedOnlyForRetiredTemplatesWithoutForks) {
  root_.instance("src-web", "", true, "web");
  ok(RegisterTemplate{"web", "src-web", "web"});
  root_.template_dir("web", "src-web");
  auto scanned = scan(root_.path());
  ASSERT_TRUE(scanned);
  ReconcilePlan plan = plan_reconcile(ledger_->projection(), *scanned, 1);
  plan.retired_with_files.push_back("web");  // a wrong plan: web is active
  std::vector<std::string> removed;
  ReconcileOptions options;
  options.remove_template_files = [&](const std::string& id) -> Result<void> {
    removed.push_back(id);
    return {};
  };
  auto r = apply_plan(*ledger_, plan, *scanned, options);
  ASSERT_TRUE(r);
  EXPECT_TRUE(removed.empty());
  EXPECT_TRUE(root_.has_template_dir("web"));
}

// --- the grace for forks recorded before their directories exist -------------------

// The VM manager records a fork, then makes its directory. A reconcile in
// between must not declare it lost: its template would then count no fork
// and could be retired (or swept, its source gone) under the fork coming up.
TEST_F(ReconcilerTest, AForkRecordedWithinTheGraceIsPendingNotLost) {
  web_with_forks({"a"});
  ok(AddFork{"web", "b"});  // no directory yet
  const std::uint64_t b_seq = head();
  root_.remove("src-web");                     // and web's source is gone: an orphan but for b
  auto r = reconcile(*ledger_, root_.path());  // the default grace
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->plan.corrections.empty());
  EXPECT_TRUE(r->plan.sweeps.empty());
  EXPECT_FALSE(r->committed);
  ASSERT_EQ(r->plan.pending.size(), 1u);
  EXPECT_EQ(r->plan.pending[0].fork, "b");
  EXPECT_EQ(r->plan.pending[0].template_id, "web");
  EXPECT_EQ(r->plan.pending[0].seq, b_seq);
  EXPECT_EQ(forks("web"), 2u);
  auto retire = ledger_->execute(RetireTemplate{"web"}, Origin::api);
  ASSERT_FALSE(retire);
  EXPECT_EQ(retire.error().code, Errc::in_use);
}

TEST_F(ReconcilerTest, AForkOlderThanTheGraceIsLost) {
  std::uint64_t now = 1'000'000'000'000;
  auto clocked = Ledger::open(*journal_, [&now] { return now; });
  ASSERT_TRUE(clocked);
  root_.instance("src-web", "", true, "web");
  ASSERT_TRUE(clocked->execute(RegisterTemplate{"web", "src-web", "web"}, Origin::api));
  ASSERT_TRUE(clocked->execute(AddFork{"web", "b"}, Origin::api));
  ReconcileOptions options;
  options.dry_run = true;
  options.fork_grace = std::chrono::minutes(10);

  now += std::chrono::nanoseconds(std::chrono::minutes(10)).count() - 1;  // just within
  auto within = reconcile(*clocked, root_.path(), options);
  ASSERT_TRUE(within);
  EXPECT_TRUE(within->plan.corrections.empty());
  ASSERT_EQ(within->plan.pending.size(), 1u);
  EXPECT_EQ(within->plan.pending[0].age_ns, 600'000'000'000u - 1);

  now += 2;  // just past
  auto past = reconcile(*clocked, root_.path(), options);
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->plan.pending.empty());
  ASSERT_EQ(past->plan.corrections.size(), 1u);
  EXPECT_EQ(past->plan.corrections[0].type, EventType::fork_lost);
  EXPECT_EQ(past->plan.corrections[0].fork, "b");
  EXPECT_EQ(past->plan.corrections[0].reason, Reason::instance_missing);
}

// A grace longer than the clock reaches (nine digits of hours parse) keeps
// the fork pending rather than wrapping around to no grace at all.
TEST_F(ReconcilerTest, AGraceBeyondTheClocksReachKeepsTheForkPending) {
  web_with_forks({});
  ok(AddFork{"web", "b"});
  ReconcileOptions options;
  options.dry_run = true;
  options.fork_grace = std::chrono::hours(999'999'999);
  auto r = reconcile(*ledger_, root_.path(), options);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->plan.corrections.empty());
  EXPECT_EQ(r->plan.pending.size(), 1u);
}

// The look back ends at the first event stamped before the grace, and at its
// limit; cut short, it keeps every missing fork pending rather than guess.
TEST_F(ReconcilerTest, TheLookBackStopsAtTheGraceAndAtItsLimit) {
  std::uint64_t now = 100;
  auto clocked = Ledger::open(*journal_, [&now] { return now; });
  ASSERT_TRUE(clocked);
  ASSERT_TRUE(clocked->execute(RegisterTemplate{"web", "src-web", "web"}, Origin::api));
  ASSERT_TRUE(clocked->execute(AddFork{"web", "old"}, Origin::api));  // seq 2 at 100
  now = 300;
  ASSERT_TRUE(clocked->execute(AddFork{"web", "new"}, Origin::api));  // seq 3 at 300
  ASSERT_TRUE(clocked->execute(RemoveFork{"web", "new"}, Origin::api));
  ASSERT_TRUE(clocked->execute(AddFork{"web", "new"}, Origin::api));  // seq 5 at 300

  auto recent = journal_->read([](Reader& r) { return find_recent_forks(r, 5, 250); });
  ASSERT_TRUE(recent) << recent.error().message;
  EXPECT_FALSE(recent->cut_short);
  ASSERT_TRUE(recent->find("new", "web"));
  EXPECT_EQ(recent->find("new", "web")->seq, 5u);  // the newest fork event of the id
  EXPECT_FALSE(recent->find("new", "db"));         // another template's fork of that id
  EXPECT_FALSE(recent->find("old", "web"));        // stamped before the grace

  auto cut = journal_->read([](Reader& r) { return find_recent_forks(r, 5, 0, 2); });
  ASSERT_TRUE(cut);
  EXPECT_TRUE(cut->cut_short);
  ASSERT_TRUE(cut->find("old", "web"));  // not reached: pending, on doubt
  EXPECT_EQ(cut->find("old", "web")->seq, 0u);
}

}  // namespace
}  // namespace fj::gc
