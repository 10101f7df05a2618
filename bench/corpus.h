// A measured corpus: one workload written to a journal (and, on request, the
// same encoded records copied into SQLite) in a temporary directory that is
// removed with the Corpus. Building checks that a replay of the journal, and
// of the SQLite copy, ends in exactly the state the workload implies, so a
// figure is never measured on wrong data.
#pragma once

#include "bench/measure.h"
#include "bench/platform.h"
#include "bench/workload.h"
#include "projector/projection.h"

#include <cstdint>
#include <optional>
#include <string>

namespace fj::bench {

struct CorpusOptions {
  WorkloadSpec spec;
  // Store a snapshot (fj::Ledger::snapshot) at this seq; 0: none.
  std::uint64_t snapshot_seq = 0;
  bool with_sqlite = true;
};

struct Corpus {
  TempDir dir;
  std::string journal_dir;
  std::string sqlite_path;  // empty without SQLite
  std::uint64_t events = 0;
  std::uint64_t snapshot_seq = 0;
  WorkloadTotals totals;
};

// Events per append transaction while building (SyncMode::none).
inline constexpr std::size_t kBuildBatch = 100'000;

Result<Corpus> build_corpus(const CorpusOptions& options, Progress& progress);

// invalid_argument naming the first difference between `state` and what a
// replay of the whole workload must give.
Result<void> check_replayed(const Projection& state, const WorkloadTotals& totals,
                            std::uint64_t events);

}  // namespace fj::bench
