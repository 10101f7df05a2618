// Bootstraps an empty journal from a running deployment's data root: one
// template_registered per readable template.json and one fork_added per
// provable fork (a parsed instance whose ForkOfTemplate names an imported
// template), all with origin `import`, in one write transaction.
//
// An instance whose metadata cannot be read is imported as a fork only when
// its memory file links exactly one imported template's (gc/internal/evidence.h), and
// reported as proven by link; otherwise it is reported, never guessed: fix its
// metadata and run the reconciler, which recovers it as an untracked fork.
// Leftovers (no metadata.json) and half-made forks are reported, not imported.
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

struct LinkedImport {
  std::string instance;
  std::string template_id;
  std::string evidence;  // the memory link
};

struct ImportReport {
  std::vector<Event> events;  // as appended (or planned, when refused)
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint32_t scanned = 0;
  std::vector<UnreadableFile> unreadable;  // guests/* not imported: metadata unreadable, no link
  std::vector<LinkedImport> linked;        // guests/* imported on their memory link alone
  std::vector<std::string> leftovers;      // guests/* without metadata.json
  std::vector<HalfMadeFork> half_made;
  std::vector<LinkMismatch> link_mismatches;  // memory links a template the metadata does not name
  std::vector<UnreadableFile> unreadable_templates;  // templates/*
  std::vector<DanglingFork> dangling;                // forks of templates not imported
  std::vector<CountMismatch> mismatches;

  bool needs_attention() const {
    return !unreadable.empty() || !linked.empty() || !leftovers.empty() || !half_made.empty() ||
           !link_mismatches.empty() || !unreadable_templates.empty() || !dangling.empty();
  }
};

// Pure planning: the events an import of `scan` appends, and the report.
ImportReport plan_import(const ScanResult& scan, std::uint64_t time_ns);

// Errors: not_empty (the journal already holds events; nothing appended),
// the scanner's and the journal's.
Result<ImportReport> import_data_root(Ledger& ledger, const std::string& data_root,
                                      const ScanOptions& options = {});

}  // namespace fj::gc
