// The audit: proves a journal intact or says exactly where it is not. It
// reads every record in one read transaction and checks, without stopping at
// the first problem: each record's checksum, version and type; that seqs run
// 1..head with no gap; the SHA-256 hash chain against every stored checkpoint
// (an edit is localised to one window of 4,096 seqs) and against the stored
// head; every replay anomaly; that the newest snapshot equals a full replay
// at its seq; and optionally that an earlier audited (seq, chain) is still
// part of the history (so truncation or rewriting is detected).
#pragma once

#include "journal/journal.h"

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

struct AuditOptions {
  std::optional<ChainPoint> expect_head;  // an earlier audit's (head seq, chain head)
  // Called now and then with (records read, head seq).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct AuditReport {
  std::uint64_t head_seq = 0;
  ChainHash chain_head{};  // the chain value the audit computed at the head
  std::uint64_t records = 0;
  std::vector<AuditFinding> findings;
  bool ok() const { return findings.empty(); }
};

// Errors only when the journal cannot be read at all; damage is reported as
// findings.
Result<AuditReport> audit(const Journal& journal, const AuditOptions& options = {});

}  // namespace fj
