// The fleet stream as a witness of a local journal's history: every message
// shipped for the journal is compared with the local record at its seq (the
// exact bytes) and with the local chain value there (recomputed from the
// local records, from chain_seed). The stream was written as history was
// made, so a later local rewrite of shipped events shows even when the
// rewriter recomputed the local chain and its checkpoints (which a local
// audit cannot see), and so does a local truncation below the shipped head.
// Events the stream does not hold yet are reported as unshipped, not as a
// difference.
//
// Errors: invalid_argument (the URLs), unavailable (no server answered, a
// read timed out), not_found (no stream), and a local read's errors
// (corruption codes naming the seq, lmdb_error). Threads: any; one read
// transaction is held while the journal's subject is read.
#pragma once

#include "fleet/journal_fold.h"
#include "journal/journal.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace fj::fleet {

struct WitnessReport {
  std::uint64_t local_head = 0;
  std::uint64_t shipped_first = 0;  // 0: the stream holds nothing for this journal
  std::uint64_t shipped_head = 0;   // the last shipped seq compared
  std::uint64_t compared = 0;       // messages compared
  // The first seq where the stream and the journal differ (stream_seq: the
  // message); nullopt when all shipped messages match.
  std::optional<FoldBreak> difference;
  // Local events after the shipped head: not shipped yet, no difference.
  std::uint64_t unshipped() const {
    return local_head > shipped_head ? local_head - shipped_head : 0;
  }
};

Result<WitnessReport> witness(const Journal& journal, const std::string& urls,
                              std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace fj::fleet
