// The file states a power loss may leave, built from a write trace: the pure
// core of the power-loss explorer (no disk; tested on hand-made traces).
//
// Crash point i (0 .. trace size): the first i operations were issued, all
// but the last of them completed (the recorder serialises them, so op i-1
// returned before op i began). At point i an operation is durable when
//  - a write or truncate: a sync of its file completed after it (fsync,
//    fdatasync, msync with MS_SYNC, sync, syncfs), or it went through an
//    O_DSYNC descriptor and completed itself;
//  - a name created, renamed or removed: an fsync of the directory (or sync,
//    syncfs) completed after it. POSIX gives a file's own fsync no say over
//    its name, so neither does the model.
// Every other issued write, truncate and name change is pending. A state
// holds what is durable plus any subset of what is pending, applied in issue
// order (the page cache holds the newest bytes, so an older write never lands
// over a newer one), and the newest pending write of each file may be torn:
// only some of its 512-byte sectors present.
//
// Which subsets: every one while a point has at most
// `exhaustive_pending` pending operations; beyond that none, all, each prefix
// in issue order (in-order writeback) and `sampled_subsets` random ones.
// Which tears: up to `tears_per_write` sector prefixes of the newest pending
// write of each file (the rest of what is pending present), and one random
// sector mask. Points whose states equal the next point's (a mark, an open,
// a sync that made nothing durable) are folded into the next one, which has
// the most acknowledgements. With max_states, a seeded uniform sample of the
// candidates is visited; without, all.
//
// Names in `ignore` are left out of every state (LMDB rebuilds lock.mdb
// when the first process opens an environment, so what a power loss leaves
// in it never reaches a reader).
//
// Errors: build() names the operation it cannot model: a name opened that
// existed before the recording began, a writable shared mapping of a file
// kept in the states (stores through it are invisible to the recorder).
// Threads: a built model is immutable; for_each_state may run on any thread.
#pragma once

#include "crashtest/power_loss/trace.h"

#include <boost/system/result.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace fj::power_loss {

struct ModelOptions {
  std::size_t sector = 512;
  std::size_t exhaustive_pending = 10;  // up to 2^10 subsets a point
  std::size_t sampled_subsets = 64;     // random subsets a point beyond that
  std::size_t tears_per_write = 8;
  std::uint64_t seed = 0;
  std::uint64_t max_states = 0;  // 0: every candidate
  std::vector<std::string> ignore{"lock.mdb"};
};

using Files = std::map<std::string, std::string>;  // name -> contents

struct CrashState {
  std::size_t point = 0;    // operations issued
  std::size_t pending = 0;  // operations pending at the point
  std::size_t present = 0;  // pending operations this state holds (a torn one counts)
  bool torn = false;
  std::string description;  // one line: the point, what is present, what is torn
  Files files;
};

class CrashModel {
 public:
  static boost::system::result<CrashModel, std::string> build(Trace trace,
                                                              ModelOptions options = {});

  const Trace& trace() const { return trace_; }
  // Crash points whose state sets differ (after folding).
  std::uint64_t points() const { return points_; }
  // States the model can build (the sample's population).
  std::uint64_t candidates() const { return candidates_; }
  // The most operations pending at one point.
  std::size_t max_pending() const { return max_pending_; }

  // Builds each selected state in point order and passes it to `visit`, which
  // returns false to stop.
  void for_each_state(const std::function<bool(const CrashState&)>& visit) const;

  // The files with every operation applied: what they held when the
  // recording ended.
  Files final_files() const;

 private:
  struct Step;  // one operation, resolved
  CrashModel() = default;

  Trace trace_;
  ModelOptions options_;
  std::vector<std::uint32_t> inode_;        // op -> inode it acts on (data ops)
  std::vector<std::size_t> durable_at_;     // op -> first point it is durable at
  std::vector<bool> unit_;                  // op changes a file or a name
  std::vector<std::size_t> folded_points_;  // points visited, ascending
  std::vector<std::uint64_t> point_candidates_;
  std::uint64_t points_ = 0;
  std::uint64_t candidates_ = 0;
  std::size_t max_pending_ = 0;
  std::uint32_t inodes_ = 0;
};

}  // namespace fj::power_loss
