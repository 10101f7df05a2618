// The first pass: one read of a journal (or its SQLite copy) in a fresh
// process, as a user meets it in `forkjournal replay`, `forkjournal audit` or
// a daemon boot without a usable snapshot. A fresh process maps the file
// anew, so every page of the map faults in once and every table grows from
// empty; a repeat inside one process pays neither, which is why the first
// pass is measured on its own.
//
// The harness runs `<this program> first-pass --what WHAT --path PATH` and
// reads the one line of JSON the child prints. The child times the open and
// the read together, not the process start (the same for every WHAT).
#pragma once

#include "journal/error.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace fj::bench {

enum class FirstPass {
  replay,         // fj::replay of the journal from seq 1
  scan,           // the bare LMDB scan (LmdbScan)
  audit,          // fj::audit of the whole journal
  sqlite_replay,  // SqliteLog::replay of the SQLite copy
};

// "replay", "scan", "audit", "sqlite-replay".
std::string_view first_pass_name(FirstPass what) noexcept;

struct FirstPassRun {
  double seconds = 0;         // open + the whole read, inside the child
  std::uint64_t records = 0;  // records the child read
};

// Runs the child on `path` (a journal directory, or the SQLite file for
// sqlite_replay). io_error when the child fails or prints no JSON;
// invalid_argument when an audit reports findings (the corpus is intact).
Result<FirstPassRun> run_first_pass(FirstPass what, const std::string& path);

// The child's side: prints {"seconds": .., "records": ..} on stdout and
// returns the process exit code (0, or 2 with the error on stderr).
int first_pass_child(const std::string& what, const std::string& path);

}  // namespace fj::bench
