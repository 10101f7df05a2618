// The reconciler's rules, planned in memory: a projection built from events
// and a scan result built by hand, no disk. Physical evidence (memory links)
// first, then metadata, directories and the sweep.
#include "gc/importer.h"
#include "gc/internal/evidence.h"
#include "gc/internal/recheck.h"
#include "gc/reconciler.h"
#include "journal/internal/format.h"
#include "support/event_samples.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

namespace fj::gc {
namespace {

using fj::testing::added;
using fj::testing::registered;
using fj::testing::retired;

Memory symlink_to(const std::string& instance) {
  Memory m;
  m.kind = MemoryKind::symlink;
  m.target = "/var/lib/vmm/" + memory_path(instance);
  m.resolved = memory_path(instance);
  return m;
}
Memory symlink_outside() {
  Memory m;
  m.kind = MemoryKind::symlink;
  m.target = "/elsewhere/memory";
  return m;
}
Memory regular(std::uint64_t inode, std::uint64_t links) {
  Memory m;
  m.kind = links > 1 ? MemoryKind::shared_file : MemoryKind::private_file;
  m.device = 7;
  m.inode = inode;
  m.links = links;
  return m;
}

class EvidencePlanTest : public ::testing::Test {
 protected:
  void apply(const Event& e) { state_.apply(++seq_, view(e)); }
  // An active template; its source is on disk unless `source_on_disk` is false.
  // Memory given as a default is a private file of its own.
  void tpl(const std::string& id, bool source_on_disk = true, std::optional<Memory> memory = {}) {
    apply(registered(id, "src-" + id, id));
    if (source_on_disk) instance("src-" + id, "", true, id, memory.value_or(regular(++inode_, 1)));
  }
  void fork(const std::string& t, const std::string& f, std::optional<Memory> memory = {}) {
    apply(added(t, f));
    instance(f, t, false, "", memory.value_or(regular(++inode_, 1)));
  }
  void instance(const std::string& id, const std::string& fork_of = "", bool is_template = false,
                const std::string& template_id = "", Memory memory = {}) {
    scan_.instances.push_back(Instance{id, is_template, template_id, fork_of});
    entry(id, std::move(memory));
  }
  void unreadable(const std::string& id, Memory memory, Unreadable reason = Unreadable::truncated) {
    drop(id);
    scan_.unreadable.push_back(UnreadableFile{id, reason, "test"});
    entry(id, std::move(memory));
  }
  void leftover(const std::string& id, Memory memory = {}) {
    unreadable(id, std::move(memory), Unreadable::missing);
  }
  void half_made(const std::string& id, const std::string& names, const std::string& template_id,
                 Memory memory = {}) {
    drop(id);
    scan_.half_made.push_back(HalfMadeFork{id, names, true, template_id, ""});
    entry(id, std::move(memory));
  }
  // A guests/ entry that is not a directory: a symlink or a plain file.
  void skipped(const std::string& id, bool symlink) {
    drop(id);
    scan_.present.push_back(id);
    scan_.skipped.push_back(
        Skipped{id, symlink ? "a symbolic link (not followed)" : "not a directory", symlink});
  }
  // Removes an entry from the scan (its directory is gone).
  void drop(const std::string& id) {
    std::erase_if(scan_.instances, [&](const Instance& i) { return i.id == id; });
    std::erase_if(scan_.unreadable, [&](const UnreadableFile& u) { return u.id == id; });
    std::erase_if(scan_.half_made, [&](const HalfMadeFork& h) { return h.id == id; });
    std::erase_if(scan_.skipped, [&](const Skipped& k) { return k.name == id; });
    std::erase_if(scan_.memory, [&](const MemoryRecord& m) { return m.id == id; });
    std::erase(scan_.present, id);
  }
  ReconcilePlan plan() {
    const auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
    std::sort(scan_.instances.begin(), scan_.instances.end(), by_id);
    std::sort(scan_.unreadable.begin(), scan_.unreadable.end(), by_id);
    std::sort(scan_.half_made.begin(), scan_.half_made.end(), by_id);
    std::sort(scan_.memory.begin(), scan_.memory.end(), by_id);
    std::sort(scan_.present.begin(), scan_.present.end());
    return plan_reconcile(state_, scan_, 1);
  }
  // What a run appends when no other writer interferes: the plan re-checked
  // at its own seq (corrections, then sweeps; the marker left out).
  std::vector<Event> appended(const ReconcilePlan& p) const {
    return recheck(p, state_, TouchedSince{}, 1).still_right;
  }
  bool committed(const ReconcilePlan& p) const {
    return !recheck(p, state_, TouchedSince{}, 1).decision.events.empty();
  }
  // The projection once those events are appended.
  Projection after(const ReconcilePlan& p) const {
    Projection s = state_;
    std::uint64_t seq = seq_;
    for (const Event& e : recheck(p, state_, TouchedSince{}, 1).decision.events) {
      s.apply(++seq, view(e));
    }
    return s;
  }
  static std::vector<std::string> swept(const ReconcilePlan& p) {
    std::vector<std::string> out;
    for (const Event& e : p.sweeps) out.push_back(e.template_id);
    return out;
  }
  static std::vector<std::string> held(const ReconcilePlan& p) {
    std::vector<std::string> out;
    for (const HeldTemplate& h : p.held) out.push_back(h.template_id);
    return out;
  }
  // Every instance holding template t back: the ones naming it and the ones
  // that may be any template's.
  static std::vector<std::string> holders_of(const ReconcilePlan& p, const std::string& t) {
    std::vector<std::string> out;
    for (const HeldTemplate& h : p.held) {
      if (h.template_id == t) out = h.holders;
    }
    for (const Holder& h : p.holders) {
      if (h.every) out.push_back(h.instance);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static Holder holder(const ReconcilePlan& p, const std::string& instance) {
    for (const Holder& h : p.holders) {
      if (h.instance == instance) return h;
    }
    ADD_FAILURE() << instance << " holds nothing";
    return {};
  }

  Projection state_;
  std::uint64_t seq_ = 0;
  std::uint64_t inode_ = 1000;
  ScanResult scan_;

 private:
  void entry(const std::string& id, Memory memory) {
    scan_.present.push_back(id);
    scan_.memory.push_back(MemoryRecord{id, std::move(memory)});
  }
};

using Strings = std::vector<std::string>;

// Rule 1: scoped fail-closed.

TEST_F(EvidencePlanTest, Rule1_UnreadableLinkingOneTemplateKeepsOnlyThatTemplate) {
  tpl("web", false);
  tpl("db", false);
  unreadable("torn", symlink_to("src-web"));
  const ReconcilePlan p = plan();
  EXPECT_EQ(swept(p), Strings{"db"});
  ASSERT_EQ(p.corrections.size(), 1u);  // and rule 6 makes it web's fork
  EXPECT_EQ(p.corrections[0].template_id, "web");
  ASSERT_EQ(p.kept.size(), 1u);
  EXPECT_EQ(p.kept[0].template_id, "web");
}

TEST_F(EvidencePlanTest, Rule1_UnreadableLinkingTwoTemplatesHoldsThoseTwoOnly) {
  // Two templates made from one source: a link to it names both.
  apply(registered("web", "src-x", "web"));
  apply(registered("db", "src-x", "db"));
  tpl("ci", false);
  unreadable("torn", symlink_to("src-x"));
  const ReconcilePlan p = plan();
  EXPECT_EQ(held(p), (Strings{"db", "web"}));
  EXPECT_EQ(swept(p), Strings{"ci"});
  EXPECT_TRUE(p.corrections.empty());  // which one it forked is not known
  EXPECT_EQ(holders_of(p, "web"), Strings{"torn"});
  EXPECT_EQ(holders_of(p, "db"), Strings{"torn"});
  EXPECT_NE(holder(p, "torn").why.find("src-x"), std::string::npos);
  EXPECT_FALSE(holder(p, "torn").every);
  EXPECT_FALSE(p.sweep_blocked.empty());
}

TEST_F(EvidencePlanTest, Rule1_UnreadableWithPrivateMemoryHoldsNothing) {
  tpl("web", false);
  unreadable("torn", regular(55, 1));
  const ReconcilePlan p = plan();
  EXPECT_EQ(swept(p), Strings{"web"});
  EXPECT_TRUE(p.held.empty());
  EXPECT_TRUE(p.needs_attention());  // the torn metadata still needs a person
}

TEST_F(EvidencePlanTest, Rule1_SharedMemoryOfNoKnownTemplateHoldsEveryOrphan) {
  tpl("web", false);
  tpl("db", false);
  unreadable("torn", regular(55, 3));
  const ReconcilePlan p = plan();
  EXPECT_EQ(held(p), (Strings{"db", "web"}));
  EXPECT_TRUE(p.sweeps.empty());
}

TEST_F(EvidencePlanTest, Rule1_SymlinkOutsideTheRootHoldsEveryOrphan) {
  tpl("web", false);
  tpl("db", false);
  unreadable("torn", symlink_outside());
  EXPECT_EQ(held(plan()), (Strings{"db", "web"}));
}

TEST_F(EvidencePlanTest, Rule1_SymlinkToAPlainInstanceHoldsEveryOrphan) {
  tpl("web", false);
  instance("plain", "", false, "", regular(9, 1));
  unreadable("torn", symlink_to("plain"));
  EXPECT_EQ(held(plan()), Strings{"web"});
}

TEST_F(EvidencePlanTest, Rule1_UnreadableWithoutMemoryHoldsEveryOrphan) {
  tpl("web", false);
  tpl("db", false);
  unreadable("torn", Memory{});
  EXPECT_EQ(held(plan()), (Strings{"db", "web"}));
}

TEST_F(EvidencePlanTest, Rule1_UnexaminableMemoryHoldsEveryOrphan) {
  tpl("web", false);
  Memory m;
  m.kind = MemoryKind::unknown;
  m.detail = "snapshots: Permission denied";
  unreadable("torn", m, Unreadable::permission);
  const ReconcilePlan p = plan();
  EXPECT_EQ(held(p), Strings{"web"});
  EXPECT_NE(holder(p, "torn").why.find("Permission denied"), std::string::npos);
  EXPECT_TRUE(holder(p, "torn").every);
}

TEST_F(EvidencePlanTest, Rule1_EachHeldTemplateNamesEveryHolder) {
  tpl("web", false);
  tpl("db", false);
  leftover("a-left", symlink_to("src-web"));
  unreadable("b-torn", Memory{});
  const ReconcilePlan p = plan();
  ASSERT_EQ(held(p), (Strings{"db", "web"}));
  EXPECT_EQ(holders_of(p, "web"), (Strings{"a-left", "b-torn"}));
  EXPECT_EQ(holders_of(p, "db"), Strings{"b-torn"});
}

// Rule 2: half-made forks.

TEST_F(EvidencePlanTest, Rule2_HalfMadeForkIsNeitherTheInstanceItNamesNorASource) {
  tpl("web", false);  // src-web is gone: the copy must not stand in for it
  tpl("db", false);
  half_made("frk-new", "src-web", "web");
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());  // never counted as a fork or as src-web
  EXPECT_EQ(held(p), Strings{"web"});
  EXPECT_EQ(swept(p), Strings{"db"});
  ASSERT_EQ(p.half_made.size(), 1u);
  EXPECT_EQ(p.half_made[0].entry.names, "src-web");
  EXPECT_EQ(p.half_made[0].templates, Strings{"web"});
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(EvidencePlanTest, Rule2_HalfMadeForkNamesTheTemplateWhoseSourceItCopied) {
  tpl("web", false);
  tpl("db", false);
  half_made("frk-new", "src-db", "", regular(3, 1));  // no TemplateID in the copy
  const ReconcilePlan p = plan();
  EXPECT_EQ(held(p), Strings{"db"});  // private memory adds nothing
  EXPECT_EQ(swept(p), Strings{"web"});
}

TEST_F(EvidencePlanTest, Rule2_HalfMadeForkWhoseMemoryCannotBeAttributedHoldsEveryOrphan) {
  tpl("web", false);
  tpl("db", false);
  half_made("frk-new", "src-web", "web", symlink_outside());
  EXPECT_EQ(held(plan()), (Strings{"db", "web"}));
}

TEST_F(EvidencePlanTest, Rule2_LiveHalfMadeForkStaysLive) {
  tpl("web");
  fork("web", "frk-a");
  half_made("frk-a", "src-web", "web");
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  ASSERT_EQ(p.kept_forks.size(), 1u);
  EXPECT_NE(p.kept_forks[0].why.find("half-made"), std::string::npos);
}

// Rule 3: leftovers.

TEST_F(EvidencePlanTest, Rule3_LeftoverWithoutMemoryHoldsNothing) {
  tpl("web", false);
  leftover("LEAK");
  const ReconcilePlan p = plan();
  EXPECT_EQ(swept(p), Strings{"web"});
  EXPECT_EQ(p.leftovers, Strings{"LEAK"});
  EXPECT_TRUE(p.unreadable.empty());
  EXPECT_TRUE(p.needs_attention());  // a person removes it
}

TEST_F(EvidencePlanTest, Rule3_LeftoverHoldsWhatItsMemoryLinks) {
  tpl("web", false);
  tpl("db", false);
  leftover("LEAK", symlink_to("src-db"));
  const ReconcilePlan p = plan();
  EXPECT_EQ(held(p), Strings{"db"});
  EXPECT_EQ(swept(p), Strings{"web"});
  EXPECT_TRUE(p.corrections.empty());  // a leftover is never recovered
}

TEST_F(EvidencePlanTest, Rule3_LiveLeftoverStaysLive) {
  tpl("web");
  fork("web", "frk-a");
  leftover("frk-a");
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  ASSERT_EQ(p.kept_forks.size(), 1u);
  EXPECT_NE(p.kept_forks[0].why.find("leftover"), std::string::npos);
}

// A readable instance counted nowhere whose memory cannot be attributed may
// be any template's fork, as an unreadable one may.
TEST_F(EvidencePlanTest, InstanceNotLiveWithUnattributedMemoryHoldsEveryOrphan) {
  Memory unknown;
  unknown.kind = MemoryKind::unknown;
  unknown.detail = "memory: a directory";
  for (const Memory& m : {unknown, symlink_outside(), regular(900, 2)}) {
    scan_ = {};
    state_ = {};
    tpl("web", false);
    instance("ins-x", "", false, "", m);
    const ReconcilePlan p = plan();
    EXPECT_TRUE(p.sweeps.empty());
    EXPECT_EQ(held(p), Strings{"web"});
    EXPECT_TRUE(holder(p, "ins-x").every);
    EXPECT_TRUE(p.needs_attention());
  }
}

// A source's own memory file, shared with forks not recorded yet, holds
// nothing: those forks are weighed on their own.
TEST_F(EvidencePlanTest, ASourcesOwnSharedMemoryHoldsNothing) {
  tpl("web", true, regular(900, 2));
  tpl("db", false);
  EXPECT_EQ(swept(plan()), Strings{"db"});
}

// A leftover the journal counts is kept, never offered for removal.
TEST_F(EvidencePlanTest, Rule3_LeftoverThatIsATemplatesSourceIsKept) {
  tpl("web");
  fork("web", "frk-a", symlink_to("src-web"));
  leftover("src-web", regular(500, 1));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.leftovers.empty());
  ASSERT_EQ(p.kept_leftovers.size(), 1u);
  EXPECT_EQ(p.kept_leftovers[0].instance, "src-web");
  EXPECT_EQ(p.kept_leftovers[0].why, "source of template web");
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(EvidencePlanTest, Rule3_LeftoverThatIsALiveForkIsKept) {
  tpl("web");
  fork("web", "frk-a");
  leftover("frk-a");
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.leftovers.empty());
  ASSERT_EQ(p.kept_leftovers.size(), 1u);
  EXPECT_EQ(p.kept_leftovers[0].why, "live fork of template web");
}

// A retired template's source is kept while an entry may share its memory,
// and offered for removal once none does.
TEST_F(EvidencePlanTest, Rule3_LeftoverSourceOfARetiredTemplateIsKeptWhileLinked) {
  tpl("web");
  tpl("db");
  apply(retired("db"));
  leftover("src-db", regular(500, 1));
  fork("web", "frk-a", symlink_to("src-db"));
  ReconcilePlan p = plan();
  EXPECT_TRUE(p.leftovers.empty());
  ASSERT_EQ(p.kept_leftovers.size(), 1u);
  EXPECT_EQ(p.kept_leftovers[0].instance, "src-db");

  drop("frk-a");
  instance("frk-a", "web", false, "", regular(501, 1));
  p = plan();
  EXPECT_EQ(p.leftovers, Strings{"src-db"});
  EXPECT_TRUE(p.kept_leftovers.empty());
}

// Rule 4: proof for kept forks.

TEST_F(EvidencePlanTest, Rule4_TornForkIsProvenBySymlink) {
  tpl("web");
  fork("web", "frk-a");
  unreadable("frk-a", symlink_to("src-web"));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  ASSERT_EQ(p.kept_forks.size(), 1u);
  EXPECT_NE(p.kept_forks[0].proven_by.find("-> /var/lib/vmm/guests/src-web"), std::string::npos);
}

TEST_F(EvidencePlanTest, Rule4_TornForkIsProvenByHardlink) {
  tpl("web", true, regular(100, 3));
  fork("web", "frk-a", regular(100, 3));
  unreadable("frk-a", regular(100, 3));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.kept_forks.size(), 1u);
  EXPECT_NE(p.kept_forks[0].proven_by.find("7:100"), std::string::npos);
  EXPECT_NE(p.kept_forks[0].proven_by.find("src-web"), std::string::npos);
}

TEST_F(EvidencePlanTest, Rule4_AForkNeverProvesItself) {
  tpl("web", true, regular(100, 1));
  fork("web", "frk-a", regular(200, 2));  // shares its inode with nobody it knows
  unreadable("frk-a", regular(200, 2));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.kept_forks.size(), 1u);
  EXPECT_EQ(p.kept_forks[0].proven_by, "");
}

// Rule 5: the link outranks the metadata.

TEST_F(EvidencePlanTest, Rule5_LinkedForkWhoseMetadataNamesAnotherTemplateIsNotLost) {
  tpl("web");
  tpl("db");
  fork("web", "frk-a", symlink_to("src-web"));
  drop("frk-a");
  instance("frk-a", "db", false, "", symlink_to("src-web"));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());  // not lost from web, not recovered under db
  ASSERT_EQ(p.link_mismatches.size(), 1u);
  EXPECT_EQ(p.link_mismatches[0].linked, "web");
  EXPECT_EQ(p.link_mismatches[0].metadata, "db");
  EXPECT_TRUE(p.link_mismatches[0].live);
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(EvidencePlanTest, Rule5_ForkWhoseMetadataNamesNoneButLinksItsTemplateIsNotLost) {
  tpl("web", true, regular(100, 2));
  fork("web", "frk-a");
  drop("frk-a");
  instance("frk-a", "", false, "", regular(100, 2));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  ASSERT_EQ(p.link_mismatches.size(), 1u);
}

TEST_F(EvidencePlanTest, Rule5_MetadataDisagreesWithoutTheLinkIsLost) {
  tpl("web");
  tpl("db");
  fork("web", "frk-a");
  drop("frk-a");
  instance("frk-a", "db", false, "", regular(5, 1));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.corrections.size(), 2u);
  EXPECT_EQ(p.corrections[0].type, EventType::fork_lost);
  EXPECT_EQ(p.corrections[0].reason, Reason::metadata_disagrees);
  EXPECT_EQ(p.corrections[1].type, EventType::fork_recovered);
  EXPECT_EQ(p.corrections[1].template_id, "db");
}

TEST_F(EvidencePlanTest, Rule5_ForkOfAForkCountsUnderTheTemplateItLinks) {
  tpl("web");
  fork("web", "frk-a", symlink_to("src-web"));
  instance("frk-b", "web", false, "", symlink_to("src-web"));  // forked from frk-a
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.corrections.size(), 1u);
  EXPECT_EQ(p.corrections[0].fork, "frk-b");
  EXPECT_EQ(p.corrections[0].template_id, "web");
  EXPECT_TRUE(p.link_mismatches.empty());
}

// Rule 6: recovery by link.

TEST_F(EvidencePlanTest, Rule6_UnreadableInstanceLinkingATemplateIsRecovered) {
  tpl("web");
  unreadable("frk-x", symlink_to("src-web"));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.corrections.size(), 1u);
  const Event& e = p.corrections[0];
  EXPECT_EQ(e.type, EventType::fork_recovered);
  EXPECT_EQ(e.reason, Reason::memory_link);
  EXPECT_EQ(e.template_id, "web");
  EXPECT_EQ(e.fork, "frk-x");
  EXPECT_NE(e.evidence.find(memory_path("frk-x") + " -> /var/lib/vmm/" + memory_path("src-web")),
            std::string::npos);
}

TEST_F(EvidencePlanTest, Rule6_EvidenceOfALongOddSymlinkChainFitsARecord) {
  tpl("web");
  // Seven hops through entries nobody knows, each target padded with 3000
  // non-ASCII bytes, ending at src-web's memory.
  const std::string pad = "/" + std::string(3000, '\xff') + "/../../../../";
  std::string next = "src-web";
  for (int i = 0; i < 6; ++i) {
    const std::string id = "hop" + std::to_string(i);
    Memory m = symlink_to(next);
    m.target = pad + m.target;
    instance(id, "", false, "", m);
    next = id;
  }
  Memory m = symlink_to(next);
  m.target = pad + m.target;
  unreadable("frk-x", m);
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.corrections.size(), 1u);
  const std::string& evidence = p.corrections[0].evidence;
  EXPECT_LE(evidence.size(), kMaxEvidenceSize);
  EXPECT_TRUE(
      std::all_of(evidence.begin(), evidence.end(), [](char c) { return c >= 0x20 && c < 0x7f; }));
  EXPECT_NE(evidence.find("\\xff"), std::string::npos);
}

TEST_F(EvidencePlanTest, Rule6_RecoveryByInodeAfterTheSourceIsGone) {
  tpl("web", false);
  fork("web", "frk-a", regular(300, 3));
  unreadable("frk-x", regular(300, 3));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.corrections.size(), 1u);
  EXPECT_EQ(p.corrections[0].template_id, "web");
  EXPECT_NE(p.corrections[0].evidence.find("7:300"), std::string::npos);
  EXPECT_NE(p.corrections[0].evidence.find("frk-a"), std::string::npos);
  ASSERT_EQ(p.kept.size(), 1u);  // two live forks now need web
  EXPECT_EQ(p.kept[0].forks, 2u);
}

TEST_F(EvidencePlanTest, Rule6_ATemplateSourceIsNeverRecoveredAsAFork) {
  tpl("web", true, regular(100, 2));
  fork("web", "frk-a", regular(100, 2));
  unreadable("src-web", regular(100, 2));
  EXPECT_TRUE(plan().corrections.empty());
}

TEST_F(EvidencePlanTest, Rule6_NoRecoveryUnderARetiredTemplate) {
  tpl("web");
  apply(retired("web"));
  unreadable("frk-x", symlink_to("src-web"));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
}

// Rule 7: link counts.

TEST_F(EvidencePlanTest, Rule7_LinkCountDifferenceIsReportedNotAnEvent) {
  tpl("web", true, regular(100, 4));  // three other links
  fork("web", "frk-a", regular(100, 4));
  fork("web", "frk-b", regular(100, 4));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  ASSERT_EQ(p.link_counts.size(), 1u);
  EXPECT_EQ(p.link_counts[0].template_id, "web");
  EXPECT_EQ(p.link_counts[0].links, 3u);
  EXPECT_EQ(p.link_counts[0].found, 2u);
  EXPECT_FALSE(p.needs_attention());
}

TEST_F(EvidencePlanTest, Rule7_MatchingLinkCountIsNotReported) {
  tpl("web", true, regular(100, 3));
  fork("web", "frk-a", regular(100, 3));
  fork("web", "frk-b", regular(100, 3));
  EXPECT_TRUE(plan().link_counts.empty());
}

// Rule 8: stuck source flags.

TEST_F(EvidencePlanTest, Rule8_SourceFlagNamingARetiredOrUnknownTemplateIsReported) {
  tpl("web");
  apply(retired("web"));
  instance("src-old", "", true, "gone");
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  EXPECT_TRUE(p.sweeps.empty());
  ASSERT_EQ(p.stuck_flags.size(), 2u);
  EXPECT_EQ(p.stuck_flags[0].instance, "src-old");
  EXPECT_EQ(p.stuck_flags[0].why, "unknown template");
  EXPECT_EQ(p.stuck_flags[1].instance, "src-web");
  EXPECT_EQ(p.stuck_flags[1].why, "retired template");
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(EvidencePlanTest, Rule8_ActiveTemplateSourceIsNotStuck) {
  tpl("web");
  EXPECT_TRUE(plan().stuck_flags.empty());
}

// Links to templates an instance is not counted under hold them on every run,
// not only until the reconciler's own recovery makes the instance live.

TEST_F(EvidencePlanTest, LinkToAnotherTemplateHoldsItBeforeRecovery) {
  tpl("web", false);
  tpl("db");
  instance("frk-g", "db", false, "", symlink_to("src-web"));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.corrections.size(), 1u);  // recovered under db, as its metadata says
  EXPECT_EQ(p.corrections[0].template_id, "db");
  EXPECT_EQ(held(p), Strings{"web"});
  ASSERT_EQ(p.link_mismatches.size(), 1u);
  EXPECT_FALSE(p.link_mismatches[0].live);
}

TEST_F(EvidencePlanTest, LinkToAnotherTemplateHoldsItAfterRecovery) {
  tpl("web", false);
  tpl("db");
  fork("db", "frk-g", symlink_to("src-web"));  // the second run: live under db
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  EXPECT_EQ(held(p), Strings{"web"});
  EXPECT_TRUE(p.sweeps.empty());
  ASSERT_EQ(p.link_mismatches.size(), 1u);
  EXPECT_TRUE(p.link_mismatches[0].live);
  EXPECT_TRUE(p.needs_attention());
}

// A readable fork linking a retired template keeps its files, and the link
// stays a finding for a person, as for an active template.
TEST_F(EvidencePlanTest, LinkToARetiredTemplateHoldsItsFiles) {
  tpl("web");
  tpl("db", false);  // its source is gone too
  apply(retired("db"));
  scan_.template_dirs.push_back("db");
  fork("web", "frk-a", symlink_to("src-db"));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.held.size(), 1u);
  EXPECT_EQ(p.held[0].template_id, "db");
  EXPECT_TRUE(p.held[0].retired);
  EXPECT_EQ(p.held[0].holders, Strings{"frk-a"});
  EXPECT_TRUE(p.retired_with_files.empty());
  ASSERT_EQ(p.link_mismatches.size(), 1u);
  EXPECT_EQ(p.link_mismatches[0].linked, "db");
  EXPECT_TRUE(p.needs_attention());
}

// A template made from a fork: src-db is a fork of web (linking web's source)
// and the source of db; frk-b, a fork of db, links src-db's memory.
class TemplateOfAForkTest : public EvidencePlanTest {
 protected:
  void layout(const Memory& web_memory, const Memory& db_memory, const Memory& fork_memory) {
    tpl("web", true, web_memory);
    apply(added("web", "src-db"));
    apply(registered("db", "src-db", "db"));
    instance("src-db", "web", true, "db", db_memory);
    fork("db", "frk-b", fork_memory);
  }
  static bool holds(const ReconcilePlan& p, const std::string& instance) {
    return std::any_of(p.holders.begin(), p.holders.end(),
                       [&](const Holder& h) { return h.instance == instance; });
  }
};

TEST_F(TemplateOfAForkTest, ByASymlinkIsNoMismatch) {
  layout(regular(500, 1), symlink_to("src-web"), symlink_to("src-db"));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.link_mismatches.empty());
  EXPECT_FALSE(p.needs_attention());
  // frk-b still needs web's memory through src-db's: it holds web.
  EXPECT_EQ(holder(p, "frk-b").templates, Strings{"web"});
}

TEST_F(TemplateOfAForkTest, ByAHardlinkIsNoMismatchAndTheFirstSourceIsNotBlamed) {
  layout(regular(500, 3), regular(500, 3), regular(500, 3));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.link_mismatches.empty());
  EXPECT_FALSE(p.needs_attention());
  EXPECT_FALSE(holds(p, "src-web"));
  EXPECT_EQ(holder(p, "frk-b").templates, Strings{"web"});
}

// With both sources gone, frk-b's link still names src-db, which the journal
// held live under web: web is not swept under it.
TEST_F(TemplateOfAForkTest, GoneSourcesLeaveWebHeldByTheForkOfDb) {
  layout(regular(500, 1), symlink_to("src-web"), symlink_to("src-db"));
  drop("src-db");
  drop("src-web");
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.sweeps.empty());
  EXPECT_EQ(held(p), Strings{"web"});
}

// A fork of a template whose source once served a retired template links
// both: the same memory, no mismatch.
TEST_F(EvidencePlanTest, ASourceReusedByANewTemplateIsNoMismatch) {
  apply(registered("aa", "src-x", "aa"));
  apply(retired("aa"));
  apply(registered("bb", "src-x", "bb"));
  instance("src-x", "", true, "bb", regular(700, 1));
  fork("bb", "frk-a", symlink_to("src-x"));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.link_mismatches.empty());
  EXPECT_FALSE(p.needs_attention());
}

// Two active templates made from one source: a fork counted under aa whose
// metadata names bb still holds bb (the VM manager counts it there), so bb
// is not swept when the source goes.
TEST_F(EvidencePlanTest, AForkNamingTheOtherTemplateOfASharedSourceHoldsIt) {
  apply(registered("aa", "src-x", "aa"));
  apply(registered("bb", "src-x", "bb"));
  apply(added("aa", "frk-a"));
  instance("frk-a", "bb", false, "", symlink_to("src-x"));  // src-x itself is gone
  const ReconcilePlan p = plan();
  EXPECT_TRUE(swept(p).empty());
  EXPECT_EQ(held(p), (std::vector<std::string>{"bb"}));
}

// Cut short, the look back knows no time for a pending fork: no age.
TEST_F(EvidencePlanTest, APendingForkOfACutShortLookBackHasNoAge) {
  tpl("web");
  apply(added("web", "frk-a"));  // no directory
  RecentForks recent;
  recent.cut_short = true;
  const ReconcilePlan p = plan_reconcile(state_, scan_, 5'000'000'000, recent);
  ASSERT_EQ(p.pending.size(), 1u);
  EXPECT_EQ(p.pending[0].seq, 0u);
  EXPECT_EQ(p.pending[0].age_ns, 0u);
  EXPECT_TRUE(p.corrections.empty());
}

// A fork of web hardlinking db's source is the wrong link: it is reported,
// not db's source, whose memory is db's own.
TEST_F(EvidencePlanTest, AWrongHardlinkIsBlamedOnTheForkNotTheSource) {
  tpl("web");
  tpl("db", true, regular(600, 2));
  fork("web", "frk-a", regular(600, 2));
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.link_mismatches.size(), 1u);
  EXPECT_EQ(p.link_mismatches[0].instance, "frk-a");
  EXPECT_EQ(p.link_mismatches[0].linked, "db");
}

TEST_F(EvidencePlanTest, ImportReportsAForkLinkingAnotherTemplate) {
  scan_.templates.push_back(TemplateRecord{"web", "web", "src-web", 0});
  scan_.templates.push_back(TemplateRecord{"db", "db", "src-db", 0});
  instance("src-db", "", true, "db", regular(5, 1));
  instance("frk-g", "db", false, "", symlink_to("src-web"));
  plan();  // sorts the scan
  const ImportReport r = plan_import(scan_, 1);
  ASSERT_EQ(r.link_mismatches.size(), 1u);
  EXPECT_EQ(r.link_mismatches[0].instance, "frk-g");
  EXPECT_EQ(r.link_mismatches[0].linked, "web");
  EXPECT_TRUE(r.needs_attention());
}

TEST_F(EvidencePlanTest, Rule2_HalfMadeForkOfASharedSourceHoldsEveryTemplateOfIt) {
  apply(registered("aa", "src-x", "aa"));
  apply(registered("bb", "src-x", "bb"));
  tpl("ci", false);
  half_made("frk-new", "src-x", "");
  const ReconcilePlan p = plan();
  EXPECT_EQ(held(p), (Strings{"aa", "bb"}));
  EXPECT_EQ(swept(p), Strings{"ci"});
}

TEST_F(EvidencePlanTest, Rule2_HalfMadeForkOfAReusedSourceHoldsTheActiveTemplate) {
  apply(registered("aa", "src-x", "aa"));
  apply(retired("aa"));
  apply(registered("bb", "src-x", "bb"));
  half_made("frk-new", "src-x", "");
  EXPECT_EQ(held(plan()), Strings{"bb"});
}

TEST_F(EvidencePlanTest, SymlinkedGuestsEntryHoldsEveryOrphan) {
  tpl("web", false);
  scan_.present.push_back("frk-s");
  scan_.skipped.push_back(Skipped{"frk-s", "a symbolic link (not followed)", true});
  const ReconcilePlan p = plan();
  EXPECT_EQ(held(p), Strings{"web"});
  EXPECT_TRUE(holder(p, "frk-s").every);
}

// Any entry never read may be any fork, not only a symlink: a name that is
// no id (not even in `present`) or a plain file.
TEST_F(EvidencePlanTest, EverySkippedEntryHoldsEveryOrphanAndNeedsAPerson) {
  tpl("web", false);
  tpl("db");
  scan_.skipped.push_back(Skipped{"fork-\\xc3\\xa9", "the name is not a valid id"});
  skipped("frk-f", /*symlink=*/false);
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.sweeps.empty());
  EXPECT_EQ(holders_of(p, "web"), (Strings{"fork-\\xc3\\xa9", "frk-f"}));
  EXPECT_EQ(p.skipped.size(), 2u);
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(EvidencePlanTest, Rule5_ForkWhoseMemoryCannotBeExaminedIsNotLost) {
  tpl("web", false);
  Memory m;
  m.kind = MemoryKind::unknown;
  m.detail = "snapshots: Permission denied";
  fork("web", "frk-a", m);
  drop("frk-a");
  instance("frk-a", "", false, "", m);  // metadata names no template
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  EXPECT_TRUE(p.sweeps.empty());
  ASSERT_EQ(p.kept_forks.size(), 1u);
  EXPECT_NE(p.kept_forks[0].why.find("may still be"), std::string::npos);
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(EvidencePlanTest, Rule5_LastForkSharingAGoneSourcesInodeIsNotLost) {
  tpl("web", false);
  fork("web", "frk-a", regular(300, 2));  // the other link was the source's
  drop("frk-a");
  instance("frk-a", "", false, "", regular(300, 2));
  const ReconcilePlan p = plan();
  EXPECT_TRUE(p.corrections.empty());
  EXPECT_TRUE(p.sweeps.empty());
  ASSERT_EQ(p.kept_forks.size(), 1u);
}

// The scenario that stopped every sweep: one leftover, orphans beside it.
TEST_F(EvidencePlanTest, LeftoversHalfMadeForksAndStuckFlagsStillLetGenuineOrphansGo) {
  tpl("web");
  fork("web", "frk-a", symlink_to("src-web"));
  tpl("db", false);
  tpl("ci", false);
  tpl("old");
  apply(retired("old"));
  leftover("LEAK1");
  leftover("LEAK2", regular(1, 1));
  half_made("frk-half", "src-web", "web", symlink_to("src-web"));
  unreadable("frk-torn", symlink_to("src-web"));
  const ReconcilePlan p = plan();
  EXPECT_EQ(swept(p), (Strings{"ci", "db"}));
  EXPECT_TRUE(p.held.empty());
  EXPECT_EQ(holder(p, "frk-half").templates, Strings{"web"});  // scoped, not nothing
  ASSERT_EQ(p.corrections.size(), 1u);                         // frk-torn, recovered by its link
  EXPECT_EQ(p.corrections[0].fork, "frk-torn");
}

// import reads the same evidence.
TEST_F(EvidencePlanTest, ImportTakesAnUnreadableForkOnItsLink) {
  scan_.templates.push_back(TemplateRecord{"web", "web", "src-web", 0});
  instance("src-web", "", true, "web", regular(100, 2));
  unreadable("frk-x", regular(100, 2));
  unreadable("frk-y", regular(9, 1));
  leftover("LEAK");
  half_made("frk-half", "src-web", "web");
  plan();  // sorts the scan
  const ImportReport r = plan_import(scan_, 1);
  ASSERT_EQ(r.linked.size(), 1u);
  EXPECT_EQ(r.linked[0].instance, "frk-x");
  EXPECT_EQ(r.linked[0].template_id, "web");
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1].type, EventType::fork_added);
  EXPECT_EQ(r.events[1].fork, "frk-x");
  ASSERT_EQ(r.unreadable.size(), 1u);
  EXPECT_EQ(r.unreadable[0].id, "frk-y");
  EXPECT_EQ(r.leftovers, Strings{"LEAK"});
  ASSERT_EQ(r.half_made.size(), 1u);
  EXPECT_TRUE(r.needs_attention());
}

// Metadata, directories and the sweep. A fork's memory on disk here is
// absent unless given, as in a data root without snapshots; what the scanner
// makes of each entry is tested in scanner_test.cc and memory_scan_test.cc.
using ReconcilePlanTest = EvidencePlanTest;

TEST_F(ReconcilePlanTest, AgreeingDiskAppendsNothing) {
  tpl("web", true, Memory{});
  fork("web", "a", Memory{});
  fork("web", "b", Memory{});
  const ReconcilePlan p = plan();
  EXPECT_FALSE(committed(p));
  EXPECT_TRUE(p.corrections.empty());
  EXPECT_FALSE(p.needs_attention());
}

TEST_F(ReconcilePlanTest, ForkDirectoryGoneIsLost) {
  tpl("web", true, Memory{});
  fork("web", "a", Memory{});
  fork("web", "b", Memory{});
  drop("a");
  const ReconcilePlan p = plan();
  const std::vector<Event> events = appended(p);
  ASSERT_EQ(events.size(), 1u);
  const Event& e = events[0];
  EXPECT_EQ(e.type, EventType::fork_lost);
  EXPECT_EQ(e.fork, "a");
  EXPECT_EQ(e.reason, Reason::instance_missing);
  EXPECT_EQ(e.origin, Origin::reconcile);
  EXPECT_NE(e.evidence.find("guests/a"), std::string::npos);
  const Projection s = after(p);
  EXPECT_EQ(s.owner("a"), nullptr);
  EXPECT_EQ(s.find("web")->forks, 1u);
}

TEST_F(ReconcilePlanTest, UnreadableForkStaysLive) {
  tpl("web", true, Memory{});
  fork("web", "a", Memory{});
  unreadable("a", Memory{}, Unreadable::truncated);  // torn mid-write
  const ReconcilePlan p = plan();
  EXPECT_FALSE(committed(p));
  EXPECT_NE(after(p).owner("a"), nullptr);
  ASSERT_EQ(p.kept_forks.size(), 1u);
  EXPECT_EQ(p.kept_forks[0].fork, "a");
  EXPECT_EQ(p.kept_forks[0].why, "metadata truncated");
  ASSERT_EQ(p.unreadable.size(), 1u);
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(ReconcilePlanTest, ForkEntryThatIsNotAnInstanceStaysLive) {
  tpl("web", true, Memory{});
  fork("web", "a", Memory{});
  skipped("a", /*symlink=*/false);  // guests/a is a plain file
  EXPECT_NE(after(plan()).owner("a"), nullptr);
}

TEST_F(ReconcilePlanTest, ForkWhoseMetadataNamesAnotherTemplateMovesThere) {
  tpl("web", true, Memory{});
  fork("web", "a", Memory{});
  tpl("db", true, Memory{});
  drop("a");
  instance("a", "db");
  const ReconcilePlan p = plan();
  const std::vector<Event> events = appended(p);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::fork_lost);
  EXPECT_EQ(events[0].template_id, "web");
  EXPECT_EQ(events[0].reason, Reason::metadata_disagrees);
  EXPECT_EQ(events[1].type, EventType::fork_recovered);
  EXPECT_EQ(events[1].template_id, "db");
  EXPECT_EQ(events[1].reason, Reason::metadata_disagrees);
  EXPECT_NE(events[1].evidence.find("ForkOfTemplate=\"db\""), std::string::npos);
  EXPECT_EQ(after(p).owner("a")->id.view(), "db");
}

TEST_F(ReconcilePlanTest, ForkWhoseMetadataNamesNoTemplateIsLost) {
  tpl("web", true, Memory{});
  fork("web", "a", Memory{});
  drop("a");
  instance("a", "");
  const ReconcilePlan p = plan();
  const std::vector<Event> events = appended(p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, Reason::metadata_disagrees);
  EXPECT_EQ(after(p).owner("a"), nullptr);
}

TEST_F(ReconcilePlanTest, ForkWhoseMetadataNamesARetiredTemplateIsLostAndDangling) {
  tpl("web", true, Memory{});
  fork("web", "a", Memory{});
  apply(registered("old", "src-old", ""));
  apply(retired("old"));
  drop("a");
  instance("a", "old");
  const ReconcilePlan p = plan();
  const std::vector<Event> events = appended(p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::fork_lost);
  ASSERT_EQ(p.dangling.size(), 1u);
  EXPECT_EQ(p.dangling[0].why, "retired template");
}

TEST_F(ReconcilePlanTest, UntrackedForkIsRecovered) {
  tpl("web", true, Memory{});
  instance("b", "web");
  const ReconcilePlan p = plan();
  const std::vector<Event> events = appended(p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::fork_recovered);
  EXPECT_EQ(events[0].reason, Reason::untracked_fork);
  EXPECT_EQ(after(p).find("web")->forks, 1u);
}

TEST_F(ReconcilePlanTest, ForkOfAnUnknownTemplateIsDanglingWithoutEvent) {
  tpl("web", true, Memory{});
  instance("b", "nobody");
  const ReconcilePlan p = plan();
  EXPECT_FALSE(committed(p));
  ASSERT_EQ(p.dangling.size(), 1u);
  EXPECT_EQ(p.dangling[0].instance, "b");
  EXPECT_EQ(p.dangling[0].why, "unknown template");
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(ReconcilePlanTest, OrphanTemplateIsSwept) {
  tpl("db", false);  // no guests/src-db
  const ReconcilePlan p = plan();
  const std::vector<Event> events = appended(p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::template_retired);
  EXPECT_EQ(events[0].reason, Reason::orphaned);
  EXPECT_EQ(events[0].origin, Origin::sweep);
  EXPECT_EQ(after(p).find("db")->state, TemplateState::retired);
}

TEST_F(ReconcilePlanTest, SourceFlagClearedIsNotOrphan) {
  tpl("db", false);
  instance("src-db", "", false, "");  // IsTemplate cleared, directory still there
  const ReconcilePlan p = plan();
  EXPECT_FALSE(committed(p));
  EXPECT_EQ(after(p).find("db")->state, TemplateState::active);
}

TEST_F(ReconcilePlanTest, TemplateWithLiveForksAndNoSourceIsKept) {
  tpl("ci", false);
  fork("ci", "runner", Memory{});
  const ReconcilePlan p = plan();
  EXPECT_FALSE(committed(p));
  ASSERT_EQ(p.kept.size(), 1u);
  EXPECT_EQ(p.kept[0].template_id, "ci");
  EXPECT_EQ(p.kept[0].forks, 1u);
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(ReconcilePlanTest, NothingSweptWhileAnyInstanceUnreadable) {
  tpl("db", false);
  unreadable("stranger", Memory{}, Unreadable::empty);
  const ReconcilePlan p = plan();
  EXPECT_FALSE(committed(p));
  EXPECT_EQ(after(p).find("db")->state, TemplateState::active);
  EXPECT_NE(p.sweep_blocked.find("unreadable"), std::string::npos);
  drop("stranger");
  instance("stranger");
  const std::vector<Event> again = appended(plan());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].type, EventType::template_retired);
}

TEST_F(ReconcilePlanTest, ATemplateWhoseLastForkIsLostIsSweptInTheSameRun) {
  tpl("db", false);
  apply(added("db", "a"));  // neither the source nor the fork on disk
  const std::vector<Event> events = appended(plan());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::fork_lost);
  EXPECT_EQ(events[1].type, EventType::template_retired);
}

TEST_F(ReconcilePlanTest, LeftoverDirectoryNoLongerStopsTheSweep) {
  tpl("db", false);  // its source is gone: an orphan
  leftover("LEAK");
  const ReconcilePlan p = plan();
  const std::vector<Event> events = appended(p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::template_retired);
  EXPECT_EQ(after(p).find("db")->state, TemplateState::retired);
  EXPECT_EQ(p.leftovers, Strings{"LEAK"});
  EXPECT_TRUE(p.needs_attention());
}

TEST_F(ReconcilePlanTest, LeftoverLinkingATemplatesMemoryHoldsOnlyItsSweep) {
  tpl("web", false);  // both sources gone
  tpl("db", false);
  leftover("LEAK", symlink_to("src-web"));  // the path web's source memory had
  const ReconcilePlan p = plan();
  ASSERT_EQ(p.held.size(), 1u);
  EXPECT_EQ(p.held[0].template_id, "web");
  const Projection s = after(p);
  EXPECT_EQ(s.find("web")->state, TemplateState::active);
  EXPECT_EQ(s.find("db")->state, TemplateState::retired);
}

TEST_F(ReconcilePlanTest, SymlinkedGuestsEntryHoldsTheSweep) {
  tpl("web", false);  // its source is gone: an orphan
  skipped("frk-s", /*symlink=*/true);
  const ReconcilePlan p = plan();
  EXPECT_FALSE(committed(p));
  EXPECT_EQ(after(p).find("web")->state, TemplateState::active);
  ASSERT_EQ(p.held.size(), 1u);
  ASSERT_EQ(p.holders.size(), 1u);
  EXPECT_EQ(p.holders[0].instance, "frk-s");
}

}  // namespace
}  // namespace fj::gc
