// The validated write path: a Journal with its live Projection, where every
// write is decided against the projection at the head and appended in the
// same write transaction. Replay and load are in projector/replay.h.
#pragma once

#include "journal/journal.h"
#include "projector/decide.h"
#include "projector/projection.h"
#include "projector/replay.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace fj {

struct Outcome {
  std::uint64_t first_seq = 0;  // 0 when the command was an idempotent no-op
  std::uint64_t last_seq = 0;
  std::uint64_t already_at = 0;  // for a no-op: the seq that already made it true
  bool replayed = false;         // a retried request id: the original outcome
};

// One client request of a batch.
struct Request {
  Command command;
  std::string request_id;  // empty: none; else see is_valid_request_id()
};

// A fingerprint of a command's content, stored with its request id so that an
// id reused for a different command is refused rather than answered wrongly.
std::uint32_t fingerprint(const Command& command);

// A journal writer with its live projection. Each write runs in one write
// transaction: catch up on events other processes appended, decide against
// the projection at the head, append, commit. Not thread-safe: use one Ledger
// per thread (or serialise calls).
class Ledger {
 public:
  using Clock = std::function<std::uint64_t()>;  // unix nanoseconds

  // `journal` must outlive the Ledger. Loads the projection as load() does.
  // Without a clock, events are stamped with the wall clock. Errors: those of
  // load() (projector/replay.h).
  static Result<Ledger> open(Journal& journal, Clock clock = {});

  // The projection at the last write or catch-up. A write that fails
  // leaves it as the journal holds it: the events it decided on are taken
  // back (by reloading) before the write returns its error. Should the
  // journal also refuse that read, in_sync() is false and the projection
  // may hold them until a catch_up() succeeds: do not act on it then.
  const Projection& projection() const noexcept { return state_; }
  bool in_sync() const noexcept { return !dirty_; }
  Journal& journal() const noexcept { return *journal_; }
  const LoadReport& load_report() const noexcept { return report_; }
  // The clock this ledger stamps events with (unix nanoseconds).
  std::uint64_t now() const { return clock_(); }

  // Applies events appended by others since the last call. Errors: the
  // corruption codes naming the seq at fault (the projection then holds
  // every event before it), lmdb_error.
  Result<void> catch_up();

  // Validates and appends one command. Refusals (already_exists, not_found,
  // retired, already_live, in_use) and invalid_argument append nothing; so
  // do journal errors (those of catch_up(), journal_full, lmdb_error).
  Result<Outcome> execute(const Command& command, Origin origin);

  // Group commit: decides every request in order against the projection
  // including the requests before it, and appends all their events in one
  // write transaction. A refused request gets its error and does not affect
  // the others. A request whose request_id is already stored gets the stored
  // outcome (replayed) and appends nothing; an id stored for a different
  // command is refused with invalid_argument. The outer error (nothing
  // appended for anyone) is a journal failure.
  Result<std::vector<Result<Outcome>>> execute_batch(std::span<const Request> batch, Origin origin);

  // The general write path used by the reconciler and import: in one write transaction,
  // catches up to the head, calls fn(projection at the head, reader) and
  // appends the events it decides on. An error from fn appends nothing. fn
  // may run more than once (after the map grows) and must not keep side
  // effects of an earlier run. The reader sees the journal as of this
  // transaction (e.g. to inspect events appended after an earlier seq).
  using DecideFn = std::function<Result<Decision>(const Projection&, Reader&)>;
  Result<Outcome> transact(const DecideFn& fn);

  // Stores a snapshot of the projection at the journal's head; returns its seq
  // (0 for an empty journal, where nothing is stored). Errors: those of
  // catch_up(), journal_full (the map is at max_map_size; nothing stored),
  // lmdb_error.
  Result<std::uint64_t> snapshot();

  struct CheckedSnapshot {
    std::uint64_t seq = 0;  // 0 for an empty journal, where nothing is stored
    bool repaired = false;  // the projection loaded from the snapshots was wrong
  };
  // Stores a snapshot at the head of `replayed`, a full replay from seq 1
  // (replay() in projector/replay.h, taken before this call: the events
  // appended since are applied to it here), not of the projection loaded
  // from the newest snapshot. When the two differ, the snapshot loaded is
  // proven wrong (its checksums pass, its state does not follow from the
  // events: forged, or written by a faulty build): the projection becomes
  // the replayed state and every other snapshot is deleted, since an
  // older one may be as wrong and `--as-of` would still use it. Errors:
  // those of snapshot(), the corruption codes of the records applied, and
  // invalid_argument when `replayed` is past the head.
  Result<CheckedSnapshot> snapshot_replayed(Projection replayed);

 private:
  Ledger(Journal& journal, Clock clock) : journal_(&journal), clock_(std::move(clock)) {}

  // Reloads the projection from the journal after a write that applied
  // events and did not commit; on a read error it stays marked dirty.
  void discard_uncommitted();
  // Catches up inside a write transaction; reloads first if an aborted
  // transaction left uncommitted events in the projection.
  Result<void> catch_up_in(Reader& reader);
  // Appends the events and applies them to the projection at once (marking it
  // dirty until the transaction commits).
  Result<Outcome> append_decided(WriteTxn& w, const Decision& decision);
  // Stores `state` (the projection, or a replay of the same journal) as the
  // snapshot at its seq, keeping the newest `keep` snapshots; returns the
  // seq (0: empty, nothing stored).
  Result<std::uint64_t> store_snapshot(WriteTxn& w, const Projection& state, std::size_t keep);
  template <class Fn>
  auto write(Fn&& fn) -> decltype(fn(std::declval<WriteTxn&>()));

  Journal* journal_;
  Clock clock_;
  Projection state_;
  LoadReport report_;
  bool dirty_ = false;  // state_ holds events of a transaction that did not commit
};

}  // namespace fj
