// The hash chain (journal/chain.h) carried along a forward read of the
// events, so that a reader can hand out each event with the chain value
// after it without walking from seq 1: the walk starts at the stored
// checkpoint nearest below the first seq (or the seed) and recomputes from
// there. Every stored value the walk passes is checked against the
// recomputed one: each checkpoint, and the chain head once the walk reaches
// the head. So a value handed out never disagrees with what the journal
// stores; an edit before the starting checkpoint that left the stored chain
// values alone is found only by an audit from the seed (forkjournal audit).
//
// The records the cursor walks over without handing them out (towards the
// first seq, and on to a checkpoint) are decoded too, so a record damaged
// there is reported by its own seq as a decode error (checksum_mismatch,
// corrupt_record, unknown_version, unknown_type), as a read of it would,
// not as a chain value that disagrees further on.
//
// Errors: those decode errors, naming the record; corrupt_meta when a stored
// checkpoint is missing or malformed, or disagrees with the recomputed value,
// or the chain head does: the chain cannot tell which record differs from
// what was hashed, so the message names the seqs since the last stored value
// the cursor agreed with (Error::seq is the disagreeing value's seq); the
// Reader's errors (seq_gap, corrupt_page, lmdb_error) while reading.
//
// Lifetime and threads: a plain value, used by one thread at a time. It
// keeps no reference to a Reader, so one cursor follows the journal across
// many read transactions (each call takes the Reader of the current one).
#pragma once

#include "journal/chain.h"
#include "journal/journal.h"

#include <cstdint>
#include <string_view>

namespace fj {

class ChainCursor {
 public:
  // A cursor whose next record is `first` (1 <= first <= head + 1): the
  // chain value after first - 1, recomputed from the nearest checkpoint at or
  // below first - 1.
  static Result<ChainCursor> before(Reader& reader, std::uint64_t first,
                                    std::string_view journal_id);

  // The same in steps, for a reader that bounds the work of each read
  // transaction: a cursor at the checkpoint at or below first - 1, to be
  // moved on towards first - 1 by walk_towards(), which names a damaged
  // record on the way as before() does (by its seq, the walk noted).
  static Result<ChainCursor> at_checkpoint(Reader& reader, std::uint64_t first,
                                           std::string_view journal_id);
  Result<void> walk_towards(Reader& reader, std::uint64_t first, std::uint64_t through);

  // Extends the chain by `record`, which must be the record at next_seq(),
  // and returns the value after it (checked against a checkpoint at a
  // multiple of kChainCheckpointEvery).
  Result<ChainHash> advance(Reader& reader, std::string_view record);

  // Advances over the records from next_seq() through `through` (a no-op
  // when through < next_seq()), decoding each one first, for a reader that
  // checks chain values it does not hand out.
  Result<void> walk(Reader& reader, std::uint64_t through);

  // Checks the value against the stored chain head when the cursor is at
  // the head `head` of the reader's transaction; a no-op otherwise.
  Result<void> check_head(Reader& reader, std::uint64_t head) const;

  // The seq the next advance() takes.
  std::uint64_t next_seq() const noexcept { return at_.seq + 1; }
  // The value after next_seq() - 1.
  const ChainPoint& point() const noexcept { return at_; }

 private:
  explicit ChainCursor(ChainPoint at) : at_(at), checked_(at.seq) {}
  ChainPoint at_;
  // The seq of the last stored value the chain started from or agreed with
  // (0: the seed).
  std::uint64_t checked_;
};

}  // namespace fj
