// The journal-level half of the audit (Reader::verify_chain): a walk over
// every stored record (or every record after a verified ChainPoint) that does
// not stop at damage, recomputing the SHA-256 hash chain (journal/chain.h)
// and judging it against the stored checkpoints and head. What the records mean (decoding, replay,
// snapshots) is the audit's part (projector/audit.h).
#pragma once

#include "journal/chain.h"
#include "journal/error.h"
#include "journal/event.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace fj {

// The hooks are called one at a time, in key order, but not on the calling
// thread: during the walk on the walk's worker (Reader::verify_chain,
// journal/journal.h), while the calling thread goes on reading. So a hook
// must not use the Reader or its transaction (LMDB allows one thread in a
// transaction at a time), nor anything else the caller touches during the
// walk. When the walk ends with an error, the hooks may have seen records
// before the damage; what a hook throws is thrown by verify_chain.
struct VerifyHooks {
  // Each record with a well-formed key, in key order, with the chain value
  // after it; `record` is valid only during the call. May be empty.
  std::function<void(std::uint64_t seq, std::string_view record, const ChainHash& chain)> record;
  // The same records decoded (decode_into, journal/codec.h), called just
  // after `record`: `decoded` is decode's outcome, and `event` is meaningful
  // only if it succeeded; both are valid only during the call. Set, it makes
  // the walk decode on its hashing thread, beside the chain, instead of
  // leaving it to the caller's. May be empty.
  std::function<void(std::uint64_t seq, const Result<void>& decoded, const EventView& event,
                     const ChainHash& chain)>
      event;
  // A hint beside `event` (never called without it): called with an event
  // a few records before `event` gets it (only for records that decoded),
  // so that the caller can start loading what applying it will touch;
  // valid only during the call. May be empty.
  std::function<void(const EventView& event)> upcoming;
  // Each problem, in the order found: (seq at fault, kind, one-line detail).
  // Kinds: chain_head (stored head unreadable or at another seq),
  // corrupt_record (a malformed key; that record is skipped), seq_gap,
  // chain_checkpoint_missing, chain_mismatch (after which the walk carries on
  // from the stored checkpoint, so each window is judged on its own).
  std::function<void(std::uint64_t seq, std::string_view kind, std::string detail)> finding;
};

struct ChainWalk {
  std::uint64_t head_seq = 0;
  std::uint64_t records = 0;  // records with a well-formed key
  ChainHash chain{};          // the value computed at the last record
};

}  // namespace fj
