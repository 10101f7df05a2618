// The replay-side measurements, shared by the `replay` and `scaling`
// commands. Each returns one value per repetition (after a warm-up run); the
// corpus's journal must not be open in this process while they run (each
// opens what it needs, and LMDB forbids opening an environment twice).
#pragma once

#include "bench/corpus.h"

#include <string>
#include <vector>

namespace fj::bench {

// The warm figures, in seconds per repetition. The journal, a bare LMDB
// environment and the SQLite database are opened once and kept open (so every
// page is mapped and cached), and the repetitions run interleaved: each round
// runs every measurement (an untimed run, then the timed one), so noise from
// other processes on the machine hits all of them alike and their ratios stay
// meaningful.
struct WarmTimes {
  std::vector<double> lmdb_scan;      // bare LMDB cursor scan over every record
  std::vector<double> replay;         // fj::replay: decode, checksum, evolve from seq 1
  std::vector<double> sqlite_replay;  // the same over the SQLite copy (empty without SQLite)
  std::vector<double> sqlite_scan;    // bare SQLite scan of every seq and record byte
};
Result<WarmTimes> time_warm(const Corpus& c, int reps);

// The first-pass figures (bench/first_pass.h), in seconds per repetition,
// each run in a fresh process. Interleaved like WarmTimes: each round runs
// every measurement once, round 0 is the warm-up.
struct FirstPassTimes {
  std::vector<double> replay;         // fj::replay, page cache warm
  std::vector<double> scan;           // the bare LMDB scan, page cache warm
  std::vector<double> audit;          // fj::audit, page cache warm
  std::vector<double> sqlite_replay;  // empty without SQLite
  // MemoryProbe's ns per load, once a round before its first pass.
  std::vector<double> load_4mib_ns;
  std::vector<double> load_16mib_ns;
};
Result<FirstPassTimes> time_first_pass(const Corpus& c, int reps);

// The same with the file read dropped from the page cache just before each
// run (drop_from_page_cache), for fj::replay, the scan and the SQLite replay.
struct ColdTimes {
  std::vector<double> replay;
  std::vector<double> scan;
  std::vector<double> sqlite_replay;  // empty without SQLite
  double max_resident = 0;            // largest fraction of a file still cached after a drop
};
Result<ColdTimes> time_cold(const Corpus& c, int reps);

// Seconds to open the journal and rebuild the projection: from seq 1
// (fj::replay) or, with `from_snapshot`, from the newest snapshot plus the
// tail (fj::load, which must find the corpus's snapshot).
Result<std::vector<double>> time_boot(const Corpus& c, int reps, bool from_snapshot);

struct ReplayMemory {
  // In MB (10^6 bytes).
  std::vector<double> peak_mb;  // peak RssAnon of a process that only replays
  std::vector<double> end_mb;   // its RssAnon at the end, the projection still alive
  double baseline_mb = 0;       // its RssAnon before opening the journal
};
// Runs `<this program> rss-probe --journal DIR` `reps` times after a warm-up.
Result<ReplayMemory> measure_replay_memory(const Corpus& c, int reps);

// The probe's side: opens `journal_dir` read-only, replays it while a thread
// samples RssAnon every millisecond, and prints
// {"baseline_kb": .., "peak_kb": .., "end_kb": .., "events": ..} on stdout.
// Returns the process exit code.
int run_rss_probe(const std::string& journal_dir);

}  // namespace fj::bench
