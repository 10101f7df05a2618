// The power-loss explorer: records the seeded workload (workload.h) under the
// write recorder, builds the crash states a power loss may leave
// (crash_model.h), checks each in a process of its own (state_check.h) and
// tallies what each sync mode loses.
//
// What each mode promises (README, "Durability") and what a run checks:
//  - full: nothing acknowledged lost, no wrong count, nothing crashes; a
//    state may be refused only while it holds no acknowledged event (a
//    journal whose create had not committed);
//  - nometa: the last commits may be lost, the counts never wrong, no state
//    refused or crashing;
//  - none: no promise; the run reports what it finds.
//
// Errors: explore throws std::runtime_error (one line) when the run cannot be
// made or trusted: the recorder missing, the workload failing, the trace not
// reproducing the journal the workload left (the recorder missed a write),
// the complete recording failing its own check.
// Threads: single-threaded; forks a process per state.
#pragma once

#include "journal/journal.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fj::power_loss {

struct ExploreOptions {
  SyncMode sync = SyncMode::full;
  std::uint64_t seed = 0;
  std::uint64_t max_states = 2000;  // 0: every candidate
  int requests = 120;
  std::string recorder;  // libfjrecord.so
  std::string self;      // this executable, which runs the workload
  // Empty, or a directory to keep the trace, the journal, up to 20 failing
  // states (failed-K) and up to 20 states that crashed the check (crashed-N,
  // N the state's number) in.
  std::string keep;
  bool progress = false;  // a progress line on stderr
};

// A state whose checking process died (LMDB aborts on some damaged pages).
struct CrashedState {
  std::uint64_t number = 0;  // its place among the distinct states checked, from 1
  std::string description;   // the crash point, what is present and torn, the acknowledgements
  std::string died;          // "the check died of signal 6 in the boot"
  std::string kept;          // the directory --keep kept its files in, or empty
};

struct ExploreReport {
  SyncMode sync = SyncMode::full;
  std::uint64_t seed = 0;
  std::uint64_t operations = 0;  // recorded
  std::uint64_t acks = 0;        // acknowledged events in the recording
  std::uint64_t points = 0;      // crash points with distinct states
  std::uint64_t candidates = 0;  // states the model can build
  std::uint64_t max_pending = 0;
  std::uint64_t states = 0;      // distinct states checked
  std::uint64_t duplicates = 0;  // sampled states equal to one checked already
  std::uint64_t opened = 0;      // opened read-only, audited clean, replayed
  std::uint64_t booted = 0;
  std::uint64_t acked_lost = 0;  // acknowledged events missing, summed over states
  std::uint64_t states_losing = 0;
  std::uint64_t wrong_counts = 0;
  std::uint64_t refused = 0;
  std::uint64_t refused_holding_acks = 0;
  std::uint64_t crashed = 0;                            // the checking process died
  std::vector<CrashedState> crashes;                    // the first 20 of them
  std::map<std::string, std::uint64_t> refusals;        // "<stage>: <code>" -> states
  std::map<std::string, std::string> refusal_examples;  // "<stage>: <code>" -> the first such
  std::vector<std::string> examples;                    // the first failing states, one line each
  std::string keep;                                     // ExploreOptions::keep
  double seconds = 0;

  // Whether the mode kept its promise (see above).
  bool promise_kept() const;
};

ExploreReport explore(const ExploreOptions& options);

std::string to_json(const ExploreReport& r);
std::string to_text(const ExploreReport& r);

}  // namespace fj::power_loss
