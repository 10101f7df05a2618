// Replay and the validated write path: the glue between a Journal and a
// Projection. Replay decodes every record (checksum first) and folds evolve
// over it; any corrupt record stops the replay with an error naming its seq,
// so no count is ever served from a damaged journal.
#pragma once

#include "journal/journal.h"
#include "projector/decide.h"
#include "projector/projection.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace fj {

inline constexpr std::uint64_t kHead = std::numeric_limits<std::uint64_t>::max();

// Applies the records (state.seq(), to] read through `reader` to `state`.
// Stops at the first corrupt record; `state` then holds everything before it.
Result<void> apply_range(Reader& reader, Projection& state, std::uint64_t to);

// A full replay from seq 1 up to `to` (kHead: the journal's head). No snapshot.
Result<Projection> replay(const Journal& journal, std::uint64_t to = kHead);

struct LoadReport {
  std::uint64_t snapshot_seq = 0;    // 0: no usable snapshot, replayed from seq 1
  std::uint64_t replayed = 0;        // events applied after the snapshot
  std::vector<std::string> ignored;  // why each newer snapshot was not used
};

// The projection as of `to` (kHead: the head): the newest valid snapshot at
// or below `to`, plus the events after it. Snapshots that fail to decode, have
// another version, or whose record checksum does not match the journal are
// ignored (and listed in the report), never trusted.
Result<Projection> load(const Journal& journal, std::uint64_t to = kHead,
                        LoadReport* report = nullptr);

struct Outcome {
  std::uint64_t first_seq = 0;  // 0 when the command was an idempotent no-op
  std::uint64_t last_seq = 0;
  std::uint64_t already_at = 0;  // for a no-op: the seq that already made it true
};

// A journal writer with its live projection. Each execute() runs in one write
// transaction: catch up on events other processes appended, decide against
// the projection at the head, append, commit; only then is the projection
// advanced. Not thread-safe: use one Ledger per thread (or serialise calls).
class Ledger {
 public:
  using Clock = std::function<std::uint64_t()>;  // unix nanoseconds

  // `journal` must outlive the Ledger. Loads the projection as load() does.
  static Result<Ledger> open(Journal& journal, Clock clock = {});

  const Projection& projection() const noexcept { return state_; }
  const LoadReport& load_report() const noexcept { return report_; }
  // The clock this ledger stamps events with (unix nanoseconds).
  std::uint64_t now() const { return clock_(); }

  // Applies events appended by others since the last call.
  Result<void> catch_up();

  // Validates and appends one command. Refusals (already_exists, not_found,
  // retired, already_live, in_use) and invalid_argument append nothing.
  Result<Outcome> execute(const Command& command, Origin origin);

  // The general write path execute() is built on: in one write transaction,
  // catches up to the head, calls fn(projection at the head, reader) and
  // appends the events it decides on. An error from fn appends nothing. fn
  // may run more than once (after the map grows) and must not keep side
  // effects of an earlier run. The reader sees the journal as of this
  // transaction (e.g. to inspect events appended after an earlier seq).
  using DecideFn = std::function<Result<Decision>(const Projection&, Reader&)>;
  Result<Outcome> transact(const DecideFn& fn);

  // Stores a snapshot of the projection at the journal's head; returns its seq
  // (0 for an empty journal, where nothing is stored).
  Result<std::uint64_t> snapshot();

 private:
  Ledger(Journal& journal, Clock clock) : journal_(&journal), clock_(std::move(clock)) {}

  Journal* journal_;
  Clock clock_;
  Projection state_;
  LoadReport report_;
};

std::uint64_t wall_clock_ns();

}  // namespace fj
