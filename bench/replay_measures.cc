#include "bench/replay_measures.h"

#include "bench/first_pass.h"
#include "bench/lmdb_scan.h"
#include "bench/memory_probe.h"
#include "bench/sqlite_log.h"
#include "journal/journal.h"
#include "projector/replay.h"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>

namespace fj::bench {
namespace {

Result<Journal> open_read_only(const Corpus& c) {
  JournalOptions o;
  o.read_only = true;
  return Journal::open(c.journal_dir, o);
}

Error short_read(const std::string& what, std::uint64_t got, std::uint64_t want) {
  return make_error(Errc::invalid_argument, what + " read " + std::to_string(got) +
                                                " records, the corpus has " + std::to_string(want));
}

}  // namespace

Result<WarmTimes> time_warm(const Corpus& c, int reps) {
  auto journal = open_read_only(c);
  if (!journal) return journal.error();
  auto scan = LmdbScan::open(c.journal_dir);
  if (!scan) return scan.error();
  std::optional<SqliteLog> db;
  if (!c.sqlite_path.empty()) {
    auto opened = SqliteLog::open(c.sqlite_path);
    if (!opened) return opened.error();
    db.emplace(std::move(*opened));
  }

  // One measurement: a run that returns the number of records it read.
  struct Measure {
    const char* what;
    std::function<Result<std::uint64_t>()> run;
    std::vector<double>* seconds;
  };
  WarmTimes out;
  std::vector<Measure> measures = {
      {"the LMDB scan",
       [&]() -> Result<std::uint64_t> {
         auto r = scan->scan();
         if (!r) return r.error();
         return r->records;
       },
       &out.lmdb_scan},
      {"fj::replay",
       [&]() -> Result<std::uint64_t> {
         auto state = replay(*journal);
         if (!state) return state.error();
         return state->seq();
       },
       &out.replay},
  };
  if (db) {
    measures.push_back({"the SQLite replay",
                        [&]() -> Result<std::uint64_t> {
                          auto state = db->replay();
                          if (!state) return state.error();
                          return state->seq();
                        },
                        &out.sqlite_replay});
    measures.push_back({"the SQLite scan",
                        [&]() -> Result<std::uint64_t> {
                          auto r = db->scan();
                          if (!r) return r.error();
                          return r->records;
                        },
                        &out.sqlite_scan});
  }

  // Round 0 is the warm-up. In every round each measurement runs twice and
  // only the second run is timed: the first puts back in the CPU caches and
  // TLB what the previous measurement evicted, so that each figure is its own
  // warm steady state, as when its repetitions run back to back.
  for (int round = 0; round <= reps; ++round) {
    for (Measure& m : measures) {
      for (int run = 0; run < 2; ++run) {
        Stopwatch clock;
        auto records = m.run();
        const double s = clock.seconds();
        if (!records) return records.error();
        if (*records != c.events) return short_read(m.what, *records, c.events);
        if (run == 1 && round > 0) m.seconds->push_back(s);
      }
    }
  }
  return out;
}

namespace {

// One fresh-process run that must read every record of the corpus.
Result<double> first_pass_seconds(const Corpus& c, FirstPass what) {
  const std::string& path = what == FirstPass::sqlite_replay ? c.sqlite_path : c.journal_dir;
  auto run = run_first_pass(what, path);
  if (!run) return run.error();
  if (run->records != c.events) {
    return short_read("the first-pass " + std::string(first_pass_name(what)), run->records,
                      c.events);
  }
  return run->seconds;
}

// Rounds 0..reps of `measures`, each run once per round; round 0 is the
// warm-up. `before` runs ahead of every run, untimed.
template <class Before>
Result<void> interleave(const Corpus& c, int reps,
                        std::vector<std::pair<FirstPass, std::vector<double>*>> measures,
                        Before&& before) {
  for (int round = 0; round <= reps; ++round) {
    for (auto& [what, seconds] : measures) {
      if (auto ok = before(what); !ok) return ok.error();
      auto s = first_pass_seconds(c, what);
      if (!s) return s.error();
      if (round > 0) seconds->push_back(*s);
    }
  }
  return {};
}

}  // namespace

Result<FirstPassTimes> time_first_pass(const Corpus& c, int reps) {
  FirstPassTimes out;
  std::vector<std::pair<FirstPass, std::vector<double>*>> measures{
      {FirstPass::scan, &out.scan},
      {FirstPass::replay, &out.replay},
      {FirstPass::audit, &out.audit},
  };
  if (!c.sqlite_path.empty()) measures.emplace_back(FirstPass::sqlite_replay, &out.sqlite_replay);
  // A size the cache share seen here always held, and one beyond it in loud
  // minutes (bench/README.md, "The host's cache share").
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  constexpr std::size_t kLoads = std::size_t{1} << 20;
  MemoryProbe small(4 * kMiB);
  MemoryProbe large(16 * kMiB);
  auto done = interleave(c, reps, std::move(measures), [&](FirstPass what) -> Result<void> {
    if (what == FirstPass::scan) {
      out.load_4mib_ns.push_back(small.ns_per_load(kLoads));
      out.load_16mib_ns.push_back(large.ns_per_load(kLoads));
    }
    return {};
  });
  if (!done) return done.error();
  // Round 0 is the warm-up, as for the passes.
  out.load_4mib_ns.erase(out.load_4mib_ns.begin());
  out.load_16mib_ns.erase(out.load_16mib_ns.begin());
  return out;
}

Result<ColdTimes> time_cold(const Corpus& c, int reps) {
  ColdTimes out;
  std::vector<std::pair<FirstPass, std::vector<double>*>> measures{
      {FirstPass::scan, &out.scan},
      {FirstPass::replay, &out.replay},
  };
  if (!c.sqlite_path.empty()) measures.emplace_back(FirstPass::sqlite_replay, &out.sqlite_replay);
  auto done = interleave(c, reps, std::move(measures), [&](FirstPass what) -> Result<void> {
    const std::string file =
        what == FirstPass::sqlite_replay ? c.sqlite_path : c.journal_dir + "/data.mdb";
    auto resident = drop_from_page_cache(file);
    if (!resident) return resident.error();
    out.max_resident = std::max(out.max_resident, *resident);
    return {};
  });
  if (!done) return done.error();
  return out;
}

Result<std::vector<double>> time_boot(const Corpus& c, int reps, bool from_snapshot) {
  return repeat(reps, [&]() -> Result<double> {
    Stopwatch clock;
    auto journal = open_read_only(c);
    if (!journal) return journal.error();
    LoadReport report;
    auto state = from_snapshot ? load(*journal, kHead, &report) : replay(*journal);
    const double s = clock.seconds();
    if (!state) return state.error();
    if (state->seq() != c.events) return short_read("the boot", state->seq(), c.events);
    if (from_snapshot && report.snapshot_seq != c.snapshot_seq) {
      return make_error(Errc::invalid_argument,
                        "boot: fj::load started from seq " + std::to_string(report.snapshot_seq) +
                            ", not from the snapshot at seq " + std::to_string(c.snapshot_seq));
    }
    return s;
  });
}

Result<ReplayMemory> measure_replay_memory(const Corpus& c, int reps) {
  ReplayMemory out;
  std::vector<double> ends;  // also the warm-up's, dropped below
  const std::vector<std::string> argv{self_path(), "rss-probe", "--journal", c.journal_dir};
  auto peaks = repeat(reps, [&]() -> Result<double> {
    auto output = run_program(argv);
    if (!output) return output.error();
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(*output, ec);
    if (ec || !v.is_object()) {
      return make_error(Errc::io_error, "rss-probe printed no JSON: " + *output);
    }
    const auto& o = v.as_object();
    const auto kb = [&](const char* key) { return boost::json::value_to<double>(o.at(key)); };
    if (static_cast<std::uint64_t>(kb("events")) != c.events) {
      return short_read("rss-probe", static_cast<std::uint64_t>(kb("events")), c.events);
    }
    // MB, 10^6 bytes, as the figures' unit says (RssAnon counts KiB).
    const auto mb = [&](const char* key) { return kb(key) * 1024 / 1e6; };
    out.baseline_mb = mb("baseline_kb");
    ends.push_back(mb("end_kb"));
    return mb("peak_kb");
  });
  if (!peaks) return peaks.error();
  out.peak_mb = std::move(*peaks);
  out.end_mb.assign(ends.end() - static_cast<std::ptrdiff_t>(out.peak_mb.size()), ends.end());
  return out;
}

int run_rss_probe(const std::string& journal_dir) {
  const std::uint64_t baseline = rss_anon_kb();
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> peak{baseline};
  std::thread sampler([&] {
    while (!done.load(std::memory_order_relaxed)) {
      const std::uint64_t now = rss_anon_kb();
      if (now > peak.load(std::memory_order_relaxed)) peak.store(now, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  JournalOptions o;
  o.read_only = true;
  auto journal = Journal::open(journal_dir, o);
  Result<Projection> state = journal ? replay(*journal) : Result<Projection>(journal.error());
  const std::uint64_t end = rss_anon_kb();
  done = true;
  sampler.join();
  if (!state) {
    std::fprintf(stderr, "forkjournal-bench rss-probe: %s\n", state.error().message.c_str());
    return 2;
  }
  const std::uint64_t top = std::max(peak.load(), end);
  std::printf("{\"baseline_kb\": %llu, \"peak_kb\": %llu, \"end_kb\": %llu, \"events\": %llu}\n",
              static_cast<unsigned long long>(baseline), static_cast<unsigned long long>(top),
              static_cast<unsigned long long>(end), static_cast<unsigned long long>(state->seq()));
  return 0;
}

}  // namespace fj::bench
