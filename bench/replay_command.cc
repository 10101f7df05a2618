// forkjournal-bench replay: how fast a journal rebuilds its counts, side by
// side with the bare LMDB scan (the floor) and SQLite (the peer): first in a
// fresh process as a user meets it, then cold, then the warm repeat.
#include "bench/commands.h"
#include "bench/replay_measures.h"

#include <cstdio>

namespace fj::bench {
namespace {

boost::json::object parameters(const CommonArgs& a, std::uint64_t events, Shape shape) {
  return {{"events", events},
          {"shape", shape_name(shape)},
          {"templates", a.templates},
          {"live_forks", a.live_forks},
          {"repetitions", a.repetitions}};
}

std::string percent(double fraction) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f%%", fraction * 100);
  return buffer;
}

}  // namespace

Result<Report> run_replay(const ReplayArgs& args) {
  const CommonArgs& a = args.common;
  const std::uint64_t n = args.events;
  const int reps = a.repetitions;
  Progress progress;

  CorpusOptions options;
  options.spec = WorkloadSpec{n, a.templates, a.live_forks};
  options.spec.shape = args.shape;
  options.snapshot_seq = n * 99 / 100;  // a 1% tail
  auto corpus = build_corpus(options, progress);
  if (!corpus) return corpus.error();
  const Corpus& c = *corpus;

  Report r;
  r.command = "replay";
  r.title = "forkjournal-bench replay: " + grouped(n) + " events, " +
            std::string(shape_name(args.shape)) + " shape, " + std::to_string(a.templates) +
            " templates, " + grouped(c.totals.live_forks) + " live forks at the end";
  r.parameters = parameters(a, n, args.shape);
  r.parameters["snapshot_seq"] = c.snapshot_seq;
  if (args.templates_clamped_from != 0) {
    r.notes.push_back("the " + std::string(shape_name(args.shape)) + " shape's " +
                      grouped(args.templates_clamped_from) + " templates do not fit " + grouped(n) +
                      " events: " + grouped(a.templates) + " templates, one registered per event");
    progress.note(r.notes.back());
  }

  progress.note("warm, interleaved: bare LMDB scan, fj::replay, SQLite replay, SQLite scan");
  auto warm = time_warm(c, reps);
  if (!warm) return warm.error();
  progress.note(
      "first pass, fresh processes: bare LMDB scan, fj::replay, fj::audit, SQLite replay");
  auto first = time_first_pass(c, reps);
  if (!first) return first.error();
  progress.note("cold page cache, fresh processes: bare LMDB scan, fj::replay, SQLite replay");
  auto cold = time_cold(c, reps);
  if (!cold) return cold.error();
  progress.note("boot: open + full replay, open + snapshot + tail");
  auto full = time_boot(c, reps, false);
  if (!full) return full.error();
  auto boot = time_boot(c, reps, true);
  if (!boot) return boot.error();
  progress.note("replay memory (rss-probe processes)");
  auto memory = measure_replay_memory(c, reps);
  if (!memory) return memory.error();
  auto journal_bytes = file_size(c.journal_dir + "/data.mdb");
  if (!journal_bytes) return journal_bytes.error();
  auto sqlite_bytes = file_size(c.sqlite_path);
  if (!sqlite_bytes) return sqlite_bytes.error();

  const auto per_event = [&](std::uint64_t bytes) {
    return std::vector<double>{static_cast<double>(bytes) / static_cast<double>(n)};
  };
  r.figures = {
      figure("replay_first_eps", "events/s", rates(n, first->replay),
             "first pass: a fresh process opens the journal and runs fj::replay from seq 1; "
             "page cache warm"),
      figure("lmdb_scan_first_eps", "events/s", rates(n, first->scan),
             "first pass of the bare LMDB scan (the floor) in a fresh process; page cache warm"),
      figure("sqlite_replay_first_eps", "events/s", rates(n, first->sqlite_replay),
             "first pass of the SQLite replay in a fresh process; page cache warm"),
      figure("audit_first_eps", "events/s", rates(n, first->audit),
             "first pass of fj::audit (the whole journal) in a fresh process; page cache warm"),
      figure("memory_load_4mib_ns", "ns", first->load_4mib_ns,
             "one dependent load in random order over 4 MiB, in each first-pass round: the "
             "host's cache latency"),
      figure("memory_load_16mib_ns", "ns", first->load_16mib_ns,
             "the same over 16 MiB, about the soak shape's tables: near the 4 MiB figure when "
             "the host leaves this process enough of its shared cache, near DRAM's when not"),
      figure("replay_cold_eps", "events/s", rates(n, cold->replay),
             "fj::replay in a fresh process after POSIX_FADV_DONTNEED on data.mdb"),
      figure("lmdb_scan_cold_eps", "events/s", rates(n, cold->scan),
             "the bare LMDB scan in a fresh process after POSIX_FADV_DONTNEED on data.mdb"),
      figure("sqlite_replay_cold_eps", "events/s", rates(n, cold->sqlite_replay),
             "the SQLite replay in a fresh process after POSIX_FADV_DONTNEED on its file"),
      figure("lmdb_scan_eps", "events/s", rates(n, warm->lmdb_scan),
             "warm repeat: bare LMDB cursor scan reading every key and value byte"),
      figure("replay_eps", "events/s", rates(n, warm->replay),
             "warm repeat: fj::replay from seq 1 (decode, CRC32C, evolve), journal kept open"),
      figure("sqlite_replay_eps", "events/s", rates(n, warm->sqlite_replay),
             "warm repeat: same records in SQLite (WAL), same decode + evolve"),
      figure("sqlite_scan_eps", "events/s", rates(n, warm->sqlite_scan),
             "warm repeat: bare SQLite scan reading every seq and record byte"),
      figure("full_replay_seconds", "s", *full, "open + fj::replay from seq 1"),
      figure("snapshot_boot_seconds", "s", *boot,
             "open + fj::load: snapshot at seq " + grouped(c.snapshot_seq) + " + " +
                 grouped(n - c.snapshot_seq) + "-event tail"),
      figure("rss_anon_mb", "MB", memory->peak_mb,
             "peak RssAnon of a process that only replays (baseline " +
                 number(memory->baseline_mb) + " MB)"),
      figure("rss_anon_end_mb", "MB", memory->end_mb,
             "its RssAnon at the end of the replay, the projection alive"),
      figure("bytes_per_event", "bytes", per_event(*journal_bytes), "data.mdb size / events"),
      figure("sqlite_bytes_per_event", "bytes", per_event(*sqlite_bytes),
             "SQLite file size / events"),
  };

  const auto median = [&](const char* name) { return r.find(name)->value.median; };
  const double replay_eps = median("replay_eps");
  const double first_share = median("replay_first_eps") / median("lmdb_scan_first_eps");
  const double audit_share = median("audit_first_eps") / median("replay_first_eps");
  const double boot_share = median("snapshot_boot_seconds") / median("full_replay_seconds");
  r.ratios = {
      {"replay_first_eps / lmdb_scan_first_eps", first_share},
      {"replay_cold_eps / lmdb_scan_cold_eps",
       median("replay_cold_eps") / median("lmdb_scan_cold_eps")},
      {"audit_first_eps / replay_first_eps", audit_share},
      {"replay_first_eps / sqlite_replay_first_eps",
       median("replay_first_eps") / median("sqlite_replay_first_eps")},
      {"replay_first_eps / replay_eps", median("replay_first_eps") / replay_eps},
      {"replay_eps / lmdb_scan_eps", replay_eps / median("lmdb_scan_eps")},
      {"replay_eps / sqlite_replay_eps", replay_eps / median("sqlite_replay_eps")},
      {"sqlite_scan_eps / lmdb_scan_eps", median("sqlite_scan_eps") / median("lmdb_scan_eps")},
      {"replay_cold_eps / replay_eps", median("replay_cold_eps") / replay_eps},
      {"snapshot_boot_seconds / full_replay_seconds", boot_share},
  };
  r.bars = {
      {"replay_first_eps >= 1/2 lmdb_scan_first_eps", first_share, 0.5, true},
      {"audit_first_eps >= 1/2 replay_first_eps", audit_share, 0.5, true},
      {"replay_eps >= 1/3 lmdb_scan_eps (aim 1/2)", replay_eps / median("lmdb_scan_eps"), 1.0 / 3,
       true},
      {"replay_eps >= 10 M events/s", replay_eps, 10e6, true},
      {"replay_eps >= 3x sqlite_replay_eps (aim 5x)", replay_eps / median("sqlite_replay_eps"), 3,
       true},
      {"snapshot_boot_seconds <= 5% full_replay_seconds", boot_share, 0.05, false},
  };
  r.extra["rss_anon_baseline_mb"] = memory->baseline_mb;
  r.extra["cold_cache_max_resident_fraction"] = cold->max_resident;
  // Here a load that hits the shared cache takes about 20 ns and one from
  // DRAM 110-150 ns, so a ratio above 3 says most 16 MiB loads went to DRAM
  // (bench/README.md, "The host's cache share").
  const double cache_share = median("memory_load_16mib_ns") / median("memory_load_4mib_ns");
  if (cache_share > 3) {
    r.notes.push_back("a random load over 16 MiB took " + number(cache_share) +
                      " times one over 4 MiB: the host's other tenants held most of the shared "
                      "cache, so replays whose tables are larger (the soak shape's) waited on "
                      "memory and their first-pass ratio is lower than in a quiet run");
  }
  if (cold->max_resident > 0.05) {
    r.notes.push_back("after the page-cache drop up to " + percent(cold->max_resident) +
                      " of a dropped file was still resident, so the cold figures are partly warm");
  }
  progress.note("done");
  return r;
}

}  // namespace fj::bench
