// The boot reconciler and orphan sweeper. It compares the projection at the
// journal's head H with what the scanner finds in the VM manager's data root
// and heals every disagreement by appending correction events; it never
// edits state in place and never makes a live fork disappear on doubt.
//
// Evidence comes from metadata.json and, stronger, from each entry's memory
// file (gc/internal/evidence.h): a fork's memory links its template's. Algorithm:
//  1. Take the head seq H (the ledger's projection), then scan the data root;
//     a listing that fails part-way ends the run with nothing appended.
//  2. For each live fork F of template T at H:
//       no guests/F entry, F recorded within the grace (gc/recent_forks.h)
//                                               -> pending, reported, no event
//       no guests/F entry                       -> fork_lost(T, F, instance_missing)
//       parsed, ForkOfTemplate != T, and F's memory does not link T
//                                               -> fork_lost(T, F, metadata_disagrees),
//         and if it names another active template U -> fork_recovered(U, F, metadata_disagrees)
//       parsed, ForkOfTemplate != T, memory links T -> kept, reported (the link outranks)
//       parsed, ForkOfTemplate != T, memory not examinable or shared with no
//       known template's                        -> kept, reported (it may be T's)
//       unreadable, half-made, a leftover, or not an instance
//                                               -> kept live and reported (fail closed),
//                                                  with the link as proof when it names T
//  3. For each parsed instance whose ForkOfTemplate names an active template
//     but which is not live                     -> fork_recovered(untracked_fork);
//     naming an unknown or retired template     -> reported as dangling, no event.
//     An entry with unreadable metadata, not live, no template's source, whose
//     memory links exactly one active template T -> fork_recovered(T, memory_link).
//  4. Sweep: an active template with no live forks after the corrections and
//     no guests/<source> entry is an orphan    -> template_retired(orphaned),
//     unless an entry may share its memory: any instance whose memory links
//     it while the journal counts it elsewhere (reported as a mismatch unless
//     it reaches it through its own template's source, a template made from
//     a fork; a template source's own memory file links nothing), an
//     instance counted nowhere whose memory cannot be attributed (holds
//     every orphan), a skipped guests/ entry (not an id, a symlink, not a
//     directory: never read, it may be anything), or a doubtful entry
//     (unreadable metadata, a leftover, a half-made fork) whose
//       memory links known templates            -> holds those
//       private memory                          -> holds none (a half-made
//                                                  fork: what its metadata names)
//       shared or symlinked memory no known template's, or not examinable
//                                               -> holds every orphan
//       no memory file: a leftover holds none, a half-made fork the template
//       its copied metadata names, unreadable metadata every orphan.
//     A template with live forks and no source is kept and reported. The
//     same holds keep a retired template's files (remove_template_files),
//     and a leftover the journal counts (a live fork, a source of a template
//     active or held) is kept, never offered for removal.
//  5. Commit corrections, sweeps and one reconcile_run marker in one write
//     transaction, after re-checking each against the events appended after H:
//     a fork or template touched meanwhile is left alone. A run with nothing
//     to append appends nothing at all (no marker), so a second run in a row
//     is a no-op. Template files are then removed only for templates the head
//     holds retired with no live fork.
#pragma once

#include "gc/recent_forks.h"
#include "gc/scanner.h"
#include "journal/event.h"
#include "projector/ledger.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fj::gc {

struct KeptTemplate {
  std::string template_id;
  std::string source;
  std::uint32_t forks = 0;
  std::string reason;
};

struct DanglingFork {
  std::string instance;
  std::string template_id;  // what its ForkOfTemplate names
  std::string why;          // "unknown template" | "retired template"
};

struct KeptFork {
  std::string fork;
  std::string template_id;
  std::string why;        // the unreadable reason, or why the entry is not an instance
  std::string proven_by;  // the memory link naming template_id, or empty
  bool readable = false;  // its metadata parses: kept because its memory may be the template's
};

// A guests/ entry that may share memory with templates it is not counted
// under: it holds back their sweep, and the removal of their files.
struct Holder {
  std::string instance;
  std::string why;
  bool every = false;                  // it may be any template's
  std::vector<std::string> templates;  // otherwise: these, sorted
};

// A template the sweep (or, retired, the removal of its files) left alone.
// It is held by the instances named here and by every holder with `every`.
struct HeldTemplate {
  std::string template_id;
  bool retired = false;
  std::vector<std::string> holders;  // scoped holders naming it, sorted
};

// An instance whose readable metadata and memory link name different
// templates: the link wins (no fork_lost, no recovery elsewhere).
struct LinkMismatch {
  std::string instance;
  std::string linked;    // the template its memory references
  std::string metadata;  // what its ForkOfTemplate names (may be empty)
  std::string evidence;  // the memory link
  bool live = false;     // the journal holds it live under `linked`
};

// A template whose source memory has more (or fewer) hardlinks than the
// entries found sharing it: links outside the data root, or forks missing.
struct LinkCount {
  std::string template_id;
  std::string source;
  std::uint64_t links = 0;  // the source memory's link count minus one
  std::uint64_t found = 0;  // other guests/ entries sharing its inode
};

// A source whose metadata still says IsTemplate for a template the journal
// holds retired, or does not know.
struct StuckFlag {
  std::string instance;
  std::string template_id;
  std::string why;  // "retired template" | "unknown template"
};

// A live fork with no guests/ entry yet, recorded within the grace: the VM
// manager may still be making its directory. Not lost, not needing anyone.
struct PendingFork {
  std::string fork;
  std::string template_id;
  std::uint64_t seq = 0;     // its fork event (0: the look back was cut short)
  std::uint64_t age_ns = 0;  // how long before the run it was recorded (seq 0: unknown, 0)
};

// A leftover (no metadata.json) the journal still counts: a live fork, or
// the source of a template that is active or whose memory an entry may share.
// It is reported, never offered for removal.
struct KeptLeftover {
  std::string instance;
  std::string why;  // "source of template T", "live fork of template T", ...
};

// A half-made fork, with the templates its copied metadata names.
struct HalfMade {
  HalfMadeFork entry;
  std::vector<std::string> templates;
};

// What a run concludes. A pure function of (projection at H, scan).
struct ReconcilePlan {
  std::uint64_t based_on_seq = 0;
  std::uint32_t scanned = 0;
  std::vector<Event> corrections;    // fork_lost / fork_recovered, origin reconcile
  std::vector<Event> sweeps;         // template_retired (orphaned), origin sweep
  std::vector<KeptTemplate> kept;    // live forks but no source
  std::vector<KeptFork> kept_forks;  // live forks kept because not readable as instances
  std::vector<PendingFork> pending;  // live forks with no directory yet, within the grace
  std::vector<DanglingFork> dangling;
  std::vector<UnreadableFile> unreadable;    // guests/* whose metadata.json cannot be read
  std::vector<std::string> leftovers;        // guests/* without metadata.json, to remove by hand
  std::vector<KeptLeftover> kept_leftovers;  // the same, but counted: to keep
  std::vector<HalfMade> half_made;
  std::vector<Skipped> skipped;    // guests/* never read (not an id, a symlink, a file)
  std::vector<Holder> holders;     // every entry that holds anything back
  std::vector<HeldTemplate> held;  // templates held back
  std::vector<LinkMismatch> link_mismatches;
  std::vector<LinkCount> link_counts;
  std::vector<StuckFlag> stuck_flags;
  std::string sweep_blocked;                    // a summary of `held`, or empty
  std::vector<std::string> retired_with_files;  // retired templates whose files remain, unheld

  // A person is needed: something on disk is unreadable, half-made, left over,
  // never read or contradictory, a live fork is kept on doubt, or a template
  // is held back. Proofs by link and link counts are reported but need no one.
  bool needs_attention() const;

  // Each kind of finding that needs a person, with its count (zero too), in
  // report order: what the daemon's log line and the CLI's closing line name.
  struct Finding {
    const char* name;  // "unreadable", "leftover", "link mismatch", ...
    std::size_t count;
  };
  std::vector<Finding> findings() const;
};

// `recent`: the forks recorded within the grace (none: every live fork with
// no directory is lost).
ReconcilePlan plan_reconcile(const Projection& state, const ScanResult& scan, std::uint64_t time_ns,
                             const RecentForks& recent = {});

// How long after its fork event a live fork with no directory stays pending
// rather than lost: the longest a VM manager may take between recording a
// fork and making its directory.
inline constexpr std::chrono::seconds kDefaultForkGrace{600};

struct ReconcileOptions {
  bool dry_run = false;  // plan and report; write nothing at all
  ScanOptions scan;
  std::chrono::milliseconds fork_grace = kDefaultForkGrace;
  // Removes a retired template's files. Called after the retire event is
  // durable, for templates this run swept and for retired templates whose
  // files are still on disk (so a crash in between heals next run), and only
  // for a template the head holds retired with no live fork: it must be
  // idempotent. Unset: files are left alone (and listed in the plan).
  std::function<Result<void>(const std::string& template_id)> remove_template_files;
};

struct ReconcileReport {
  ReconcilePlan plan;
  bool dry_run = false;
  bool committed = false;  // events were appended
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;           // the reconcile_run marker
  std::vector<Event> appended;          // corrections and sweeps as committed (no marker)
  std::vector<std::string> left_alone;  // planned but dropped at commit, with why
  std::vector<std::string> files_removed;
  std::vector<std::string> file_errors;

  // The corrections and sweeps this run stands for: as planned for a dry
  // run, as committed otherwise.
  std::vector<Event> events() const;
};

// Runs the whole algorithm against ledger's journal: catch up, scan, plan,
// apply_plan. Errors: the scanner's (the data root cannot be read) and the
// journal's; nothing is appended then.
Result<ReconcileReport> reconcile(Ledger& ledger, const std::string& data_root,
                                  const ReconcileOptions& options = {});

// Step 5 alone: re-checks `plan` (made from the projection at
// plan.based_on_seq and `scan`) against everything appended since, commits
// what still holds with its marker, then removes retired templates' files
// through options.remove_template_files. Honours options.dry_run.
Result<ReconcileReport> apply_plan(Ledger& ledger, ReconcilePlan plan, const ScanResult& scan,
                                   const ReconcileOptions& options = {});

}  // namespace fj::gc
