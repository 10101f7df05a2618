// The audit: proves a journal intact or says exactly where it is not. It
// reads every record in one read transaction and checks, without stopping at
// the first problem: each record's checksum, version and type; that seqs run
// 1..head with no gap; the SHA-256 hash chain against every stored checkpoint
// (an edit is localised to one window of 4,096 seqs) and against the stored
// head; every replay anomaly; that the newest snapshot equals a full replay
// at its seq; and optionally that an earlier audited (seq, chain) is still
// part of the history (so truncation or rewriting is detected).
//
// An incremental audit (AuditOptions::from) starts at a point an earlier
// audit verified instead of seq 1, and costs only what was appended since.
// It checks everything above for the records after that point, replaying
// them onto the projection verified there, and sees a truncation below the
// point and any rewrite of the history before it that reaches the stored
// chain values (the checkpoint at the point, later checkpoints, the stored
// head: a rewriter who recomputes the chain changes them all). It does not
// read the records before the point, so a flipped byte, a deleted record or
// a rewrite there that leaves the stored chain values alone, and a snapshot
// stored below the point, are seen only by a full audit.
#pragma once

#include "journal/journal.h"
#include "projector/projection.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace fj {

struct AuditFinding {
  std::uint64_t seq = 0;
  std::string kind;  // checksum_mismatch, corrupt_record, unknown_version, unknown_type,
                     // seq_gap, chain_mismatch, chain_checkpoint_missing, chain_head,
                     // anomaly, snapshot_mismatch, snapshot_corrupt, expect_head
  std::string detail;
};

// A point an earlier audit verified: its head and chain head, and the replay
// to that seq (AuditReport::state).
struct AuditPoint {
  ChainPoint chain;
  Projection state;  // state.seq() == chain.seq
};

struct AuditOptions {
  // An earlier audit's (head seq, chain head). With `from`, at or after
  // from->chain.seq, and from->chain when not given.
  std::optional<ChainPoint> expect_head;
  // Called now and then with (records read, head seq), never two at once,
  // and on a thread of the audit's own (the walk's worker,
  // journal/journal.h) unless the walk is one batch long.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  // Audit only the records after this point (see above); nullptr: from seq 1.
  // Borrowed for the call.
  const AuditPoint* from = nullptr;
};

struct AuditReport {
  std::uint64_t head_seq = 0;
  ChainHash chain_head{};     // the chain value the audit computed at the head
  std::uint64_t records = 0;  // records read (after `from` when given)
  std::vector<AuditFinding> findings;
  // The replay to the head when there are no findings: with head_seq and
  // chain_head, the AuditPoint a later audit may start from.
  std::optional<Projection> state;
  bool ok() const { return findings.empty(); }
};

// Errors only when the journal cannot be read at all (damage is reported as
// findings), and invalid_argument for a `from` whose state is not at its seq
// or an expect_head before it. Runs in one read transaction; any thread.
Result<AuditReport> audit(const Journal& journal, const AuditOptions& options = {});

}  // namespace fj
