#include "bench/corpus.h"

#include "bench/sqlite_log.h"
#include "journal/journal.h"
#include "projector/ledger.h"

#include <vector>

namespace fj::bench {
namespace {

// Appends workload events [from, to) in batches of kBuildBatch.
Result<void> append_range(Journal& journal, const Workload& w, std::uint64_t from, std::uint64_t to,
                          Progress& progress) {
  std::vector<EventView> batch;
  batch.reserve(kBuildBatch);
  for (std::uint64_t i = from; i < to;) {
    batch.clear();
    for (; i < to && batch.size() < kBuildBatch; ++i) batch.push_back(w.event(i));
    auto appended = journal.append(batch);
    if (!appended) return appended.error();
    progress.fraction("  journal", i, w.size());
  }
  return {};
}

Error mismatch(const std::string& what, std::uint64_t got, std::uint64_t want) {
  return make_error(Errc::invalid_argument, "replay check: " + what + " is " + std::to_string(got) +
                                                ", the workload implies " + std::to_string(want));
}

}  // namespace

Result<void> check_replayed(const Projection& state, const WorkloadTotals& totals,
                            std::uint64_t events) {
  if (state.seq() != events) return mismatch("the replayed seq", state.seq(), events);
  if (state.template_count() != totals.templates_registered) {
    return mismatch("the template count", state.template_count(), totals.templates_registered);
  }
  if (state.live_fork_count() != totals.live_forks) {
    return mismatch("the live fork count", state.live_fork_count(), totals.live_forks);
  }
  if (!state.anomalies().empty()) {
    return mismatch("the anomaly count", state.anomalies().size(), 0);
  }
  return {};
}

Result<Corpus> build_corpus(const CorpusOptions& options, Progress& progress) {
  const std::uint64_t n = options.spec.events;
  progress.note("generating " + grouped(n) + " events (" + std::to_string(options.spec.templates) +
                " templates, " + grouped(options.spec.live_forks) + " live forks)");
  const Workload w = Workload::generate(options.spec);

  auto dir = TempDir::create("corpus");
  if (!dir) return dir.error();
  Corpus corpus{std::move(*dir), "", "", n, 0, w.totals()};
  corpus.journal_dir = corpus.dir.sub("journal");

  progress.note("writing the journal (batches of " + grouped(kBuildBatch) + " events, no sync)");
  {
    JournalOptions jo;
    jo.sync = SyncMode::none;
    // Room for the whole corpus up front (records average under 70 bytes);
    // growth would work too, at the cost of retried batches.
    jo.initial_map_size = (std::size_t{64} << 20) + static_cast<std::size_t>(n) * 160;
    auto journal = Journal::create(corpus.journal_dir, jo);
    if (!journal) return journal.error();
    const std::uint64_t split = options.snapshot_seq != 0 ? options.snapshot_seq : n;
    if (auto ok = append_range(*journal, w, 0, split, progress); !ok) return ok.error();
    if (options.snapshot_seq != 0) {
      auto ledger = Ledger::open(*journal);
      if (!ledger) return ledger.error();
      auto seq = ledger->snapshot();
      if (!seq) return seq.error();
      corpus.snapshot_seq = *seq;
      progress.note("  snapshot stored at seq " + grouped(*seq));
    }
    if (auto ok = append_range(*journal, w, split, n, progress); !ok) return ok.error();

    progress.note("checking a replay of the journal against the workload");
    auto state = replay(*journal);
    if (!state) return state.error();
    if (auto ok = check_replayed(*state, corpus.totals, n); !ok) return ok.error();

    if (options.with_sqlite) {
      progress.note("copying the records into SQLite (WAL)");
      corpus.sqlite_path = corpus.dir.sub("events.sqlite");
      auto sqlite = SqliteLog::create_from(corpus.sqlite_path, *journal);
      if (!sqlite) return sqlite.error();
      auto copy = sqlite->replay();
      if (!copy) return copy.error();
      if (!(*copy == *state)) {
        return make_error(Errc::invalid_argument,
                          "replay check: the SQLite copy replays to another state");
      }
    }
  }
  return corpus;
}

}  // namespace fj::bench
