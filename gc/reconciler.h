// The boot reconciler and orphan sweeper. It compares the projection at the
// journal's head H with what the scanner finds in the VM manager's data root
// and heals every disagreement by appending correction events; it never
// edits state in place and never makes a live fork disappear on doubt.
//
// Algorithm (the rules of the design, in order):
//  1. Take the head seq H (the ledger's projection), then scan the data root.
//  2. For each live fork F of template T at H:
//       no guests/F entry                       -> fork_lost(T, F, instance_missing)
//       parsed, ForkOfTemplate != T             -> fork_lost(T, F, metadata_disagrees),
//         and if it names another active template U -> fork_recovered(U, F, metadata_disagrees)
//       unreadable, or not an instance          -> kept live and reported (fail closed)
//  3. For each parsed instance whose ForkOfTemplate names an active template
//     but which is not live                     -> fork_recovered(untracked_fork);
//     naming an unknown or retired template     -> reported as dangling, no event.
//  4. Sweep: an active template with no live forks after the corrections and
//     no guests/<source> entry                  -> template_retired(orphaned);
//     nothing is swept while any instance is unreadable; a template with
//     live forks and no source is kept and reported.
//  5. Commit corrections, sweeps and one reconcile_run marker in one write
//     transaction, after re-checking each against the events appended after H:
//     a fork or template touched meanwhile is left alone. A run with nothing
//     to append appends nothing at all (no marker), so a second run in a row
//     is a no-op.
#pragma once

#include "gc/scanner.h"
#include "journal/event.h"
#include "projector/ledger.h"

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
  std::string why;  // the unreadable reason, or why the entry is not an instance
};

// What a run concludes. A pure function of (projection at H, scan).
struct ReconcilePlan {
  std::uint64_t based_on_seq = 0;
  std::uint32_t scanned = 0;
  std::vector<Event> corrections;    // fork_lost / fork_recovered, origin reconcile
  std::vector<Event> sweeps;         // template_retired (orphaned), origin sweep
  std::vector<KeptTemplate> kept;    // live forks but no source
  std::vector<KeptFork> kept_forks;  // live forks kept because unreadable
  std::vector<DanglingFork> dangling;
  std::vector<UnreadableFile> unreadable;       // every unreadable guests/* entry
  std::string sweep_blocked;                    // why nothing was swept, or empty
  std::vector<std::string> retired_with_files;  // retired templates whose files remain

  bool needs_attention() const { return !unreadable.empty() || !dangling.empty() || !kept.empty(); }
};

ReconcilePlan plan_reconcile(const Projection& state, const ScanResult& scan,
                             std::uint64_t time_ns);

struct ReconcileOptions {
  bool dry_run = false;  // plan and report; write nothing at all
  ScanOptions scan;
  // Removes a retired template's files. Called after the retire event is
  // durable, for templates this run swept and for retired templates whose
  // files are still on disk (so a crash in between heals next run): it must
  // be idempotent. Unset: files are left alone (and listed in the plan).
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
