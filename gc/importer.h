// Bootstraps an empty journal from a running deployment's data root: one
// template_registered per readable template.json and one fork_added per
// provable fork (a parsed instance whose ForkOfTemplate names an imported
// template), all with origin `import`, in one write transaction.
//
// Unreadable instances cannot be proved either way, so they are reported,
// never guessed: fix their metadata and run the reconciler, which recovers
// them as untracked forks.
#pragma once

#include "gc/reconciler.h"
#include "gc/scanner.h"
#include "projector/ledger.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fj::gc {

struct CountMismatch {
  std::string template_id;
  std::int64_t recorded = 0;  // fork_count in template.json
  std::uint32_t proven = 0;   // forks found on disk
};

struct ImportReport {
  std::vector<Event> events;  // as appended (or planned, when refused)
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint32_t scanned = 0;
  std::vector<UnreadableFile> unreadable;            // guests/*
  std::vector<UnreadableFile> unreadable_templates;  // templates/*
  std::vector<DanglingFork> dangling;                // forks of templates not imported
  std::vector<CountMismatch> mismatches;

  bool needs_attention() const {
    return !unreadable.empty() || !unreadable_templates.empty() || !dangling.empty();
  }
};

// Pure planning: the events an import of `scan` appends, and the report.
ImportReport plan_import(const ScanResult& scan, std::uint64_t time_ns);

// Errors: not_empty (the journal already holds events; nothing appended),
// the scanner's and the journal's.
Result<ImportReport> import_data_root(Ledger& ledger, const std::string& data_root,
                                      const ScanOptions& options = {});

}  // namespace fj::gc
