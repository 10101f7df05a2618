// Replay and load: a Projection rebuilt from a Journal. Replay decodes every
// record (checksum first) and folds evolve over it; any corrupt record stops
// the replay with an error naming its seq, so no count is ever served from a
// damaged journal. Load starts from the newest snapshot that matches the
// journal and replays the rest.
//
// Errors of every function here: invalid_argument (`to` beyond the head),
// the corruption codes with Error::seq naming the record at fault
// (corrupt_record, checksum_mismatch, unknown_version, unknown_type, seq_gap,
// corrupt_page), lmdb_error. Each runs in its own read transaction (or the
// caller's Reader) and may be called from any thread. replay and load read a
// long range (kPipelineMinEvents or more) on one helper thread of their own
// while the calling thread applies (projector/internal/pipeline.h); it has
// ended when they return. apply_range and load_from use the calling thread
// only.
#pragma once

#include "journal/journal.h"
#include "projector/projection.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fj {

// Applies the records (state.seq(), to] read through `reader` to `state`.
// Stops at the first corrupt record; `state` then holds everything before it.
Result<void> apply_range(Reader& reader, Projection& state, std::uint64_t to);

// A full replay from seq 1 up to `to` (kHead: the journal's head). Uses no
// snapshot's state, only the newest snapshot's table sizes to reserve room
// up front (a hint: any snapshot, even a damaged one, gives the same result).
Result<Projection> replay(const Journal& journal, std::uint64_t to = kHead);

// A stored snapshot that load() passed over, and why.
struct IgnoredSnapshot {
  std::uint64_t seq = 0;
  std::string reason;  // e.g. "snapshot: checksum mismatch"
  // "snapshot at seq N: <reason>", the line the tools print.
  std::string text() const;
};

struct LoadReport {
  std::uint64_t snapshot_seq = 0;        // 0: no usable snapshot, replayed from seq 1
  std::uint64_t replayed = 0;            // events applied after the snapshot
  std::vector<IgnoredSnapshot> ignored;  // each newer snapshot not used, newest first
};

// The projection as of `to` (kHead: the head): the newest valid snapshot at
// or below `to`, plus the events after it. Snapshots that fail to decode, have
// another version, or whose record checksum does not match the journal are
// ignored (and listed in the report), never trusted.
Result<Projection> load(const Journal& journal, std::uint64_t to = kHead,
                        LoadReport* report = nullptr);
// The same inside an existing transaction.
Result<Projection> load_from(Reader& reader, std::uint64_t to, LoadReport& report);

}  // namespace fj
