#include "projector/audit.h"

#include "journal/codec.h"
#include "journal/hex.h"
#include "projector/snapshot.h"

#include <algorithm>
#include <cstring>

namespace fj {
namespace {

std::string window(std::uint64_t checkpoint) {
  const std::uint64_t first =
      checkpoint >= kChainCheckpointEvery ? checkpoint - kChainCheckpointEvery + 1 : 1;
  return "seqs " + std::to_string(first) + "-" + std::to_string(checkpoint);
}

}  // namespace

Result<AuditReport> audit(const Journal& journal, const AuditOptions& options) {
  return journal.read([&](Reader& r) -> Result<AuditReport> {
    AuditReport report;
    auto& findings = report.findings;
    const auto find = [&](std::uint64_t seq, std::string kind, std::string detail) {
      findings.push_back(AuditFinding{seq, std::move(kind), std::move(detail)});
    };
    auto head = r.head();
    if (!head) return head.error();
    report.head_seq = *head;
    auto stored_head = r.chain_head();
    if (!stored_head) find(0, "chain_head", stored_head.error().message);

    // The newest snapshot, compared with the replay when it reaches its seq.
    std::optional<DecodedSnapshot> snapshot;
    auto stored_snapshot = r.snapshot_at_most(*head);
    if (!stored_snapshot) return stored_snapshot.error();
    if (*stored_snapshot) {
      auto decoded = SnapshotCodec::decode((*stored_snapshot)->blob);
      if (decoded) {
        snapshot = std::move(*decoded);
      } else {
        find((*stored_snapshot)->seq, "snapshot_corrupt", decoded.error().message);
      }
    }

    ChainHash chain = chain_seed(journal.info().journal_id);
    std::uint64_t last_good_checkpoint = 0;
    bool replay_trusted = true;
    Projection state;
    std::uint64_t expected = 1;
    // A damaged page cannot be read past: corrupt_page, naming its first seq.
    if (auto sound = r.check_pages(1); !sound) return sound.error();
    auto cursor = lmdb::Cursor::open(r.txn(), r.events_dbi());
    if (!cursor) return cursor.error();
    MDB_val key{}, value{};
    for (auto found = cursor->get(key, value, MDB_FIRST);;
         found = cursor->get(key, value, MDB_NEXT)) {
      if (!found) return found.error();
      if (!*found) break;
      std::uint64_t seq = 0;
      if (key.mv_size != sizeof seq) {
        find(expected, "corrupt_record", "malformed key after seq " + std::to_string(expected - 1));
        replay_trusted = false;
        continue;
      }
      std::memcpy(&seq, key.mv_data, sizeof seq);
      const std::string_view record = lmdb::to_view(value);
      if (seq != expected) {
        find(expected, "seq_gap",
             "seqs " + std::to_string(expected) + "-" + std::to_string(seq - 1) + " are missing");
        replay_trusted = false;
      }
      expected = seq + 1;
      ++report.records;

      chain = chain_next(chain, seq, record);
      if (seq % kChainCheckpointEvery == 0) {
        auto checkpoint = r.chain_checkpoint(seq);
        if (!checkpoint) return checkpoint.error();
        if (!*checkpoint) {
          find(seq, "chain_checkpoint_missing",
               "no stored chain checkpoint at seq " + std::to_string(seq));
        } else if (**checkpoint != chain) {
          find(seq, "chain_mismatch",
               "the hash chain differs from its checkpoint: a record in " + window(seq) +
                   " was changed, inserted or removed");
          chain = **checkpoint;  // resynchronise so later windows are judged on their own
        } else {
          last_good_checkpoint = seq;
        }
      }

      auto e = decode(seq, record);
      if (!e) {
        find(seq, std::string(code_name(e.error().code)), e.error().message);
        replay_trusted = false;
      } else if (replay_trusted) {
        state.apply(seq, *e);
      }
      if (snapshot && seq == snapshot->projection.seq() && replay_trusted &&
          !(snapshot->projection == state)) {
        find(seq, "snapshot_mismatch",
             "the snapshot at seq " + std::to_string(seq) +
                 " differs from a full replay to that seq");
      }
      if (options.expect_head && seq == options.expect_head->seq &&
          chain != options.expect_head->value) {
        find(seq, "expect_head",
             "the chain at seq " + std::to_string(seq) + " is " + to_hex(chain) +
                 ", not the expected " + to_hex(options.expect_head->value) +
                 ": history up to that seq was rewritten");
      }
      if (options.progress && (seq & 0xFFFF) == 0) options.progress(seq, *head);
    }
    report.chain_head = chain;

    if (stored_head) {
      if (stored_head->seq != *head) {
        find(*head, "chain_head",
             "the stored chain head is at seq " + std::to_string(stored_head->seq) +
                 ", the journal's head at seq " + std::to_string(*head));
      } else if (stored_head->value != chain) {
        find(*head, "chain_mismatch",
             "the hash chain at the head differs from the stored one: a record after seq " +
                 std::to_string(last_good_checkpoint) + " was changed, inserted or removed");
      }
    }
    if (options.expect_head && options.expect_head->seq > *head) {
      find(options.expect_head->seq, "expect_head",
           "the journal ends at seq " + std::to_string(*head) + ", before the expected seq " +
               std::to_string(options.expect_head->seq) + ": it was truncated");
    }
    for (const Anomaly& a : state.anomalies()) {
      find(a.seq, "anomaly",
           std::string(anomaly_name(a.kind)) + " template=" + a.template_id +
               (a.fork.empty() ? "" : " fork=" + a.fork));
    }
    std::stable_sort(findings.begin(), findings.end(),
                     [](const AuditFinding& a, const AuditFinding& b) { return a.seq < b.seq; });
    return report;
  });
}

}  // namespace fj
