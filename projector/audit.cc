#include "projector/audit.h"

#include "journal/hex.h"
#include "projector/internal/snapshot.h"

#include <algorithm>
#include <cstring>

namespace fj {

Result<AuditReport> audit(const Journal& journal, const AuditOptions& options) {
  const AuditPoint* from = options.from;
  if (from && from->state.seq() != from->chain.seq) {
    return make_error(Errc::invalid_argument, "the audit's starting projection is at seq " +
                                                  std::to_string(from->state.seq()) +
                                                  ", its chain point at seq " +
                                                  std::to_string(from->chain.seq));
  }
  if (from && options.expect_head && options.expect_head->seq < from->chain.seq) {
    return make_error(Errc::invalid_argument, "an audit from seq " +
                                                  std::to_string(from->chain.seq) +
                                                  " cannot check the chain at the earlier seq " +
                                                  std::to_string(options.expect_head->seq));
  }
  const std::optional<ChainPoint> expect =
      options.expect_head ? options.expect_head
                          : (from ? std::optional<ChainPoint>(from->chain) : std::nullopt);
  const ChainPoint start =
      from ? from->chain : ChainPoint{0, chain_seed(journal.info().journal_id)};

  return journal.read([&](Reader& r) -> Result<AuditReport> {
    AuditReport report;
    auto& findings = report.findings;
    const auto find = [&](std::uint64_t seq, std::string kind, std::string detail) {
      findings.push_back(AuditFinding{seq, std::move(kind), std::move(detail)});
    };
    const auto check_expected = [&](std::uint64_t seq, const ChainHash& chain) {
      if (!expect || seq != expect->seq || chain == expect->value) return;
      if (seq == 0) {
        // The seed hashes the journal id alone: what differs is the journal.
        find(seq, "expect_head",
             "the chain seed (seq 0) is " + to_hex(chain) + ", not the expected " +
                 to_hex(expect->value) + ": this is not the journal that head was taken from");
        return;
      }
      find(seq, "expect_head",
           "the chain at seq " + std::to_string(seq) + " is " + to_hex(chain) +
               ", not the expected " + to_hex(expect->value) +
               ": history up to that seq was rewritten");
    };
    auto head = r.head();
    if (!head) return head.error();
    report.head_seq = *head;

    bool replay_trusted = true;
    Projection state = from ? from->state : Projection{};
    // The walk checks the seqs after start: an expected head at start (the
    // chain seed, as an empty journal's audit and backup print it) is
    // checked here.
    check_expected(start.seq, start.value);

    // The newest snapshot, compared with the replay when it reaches its seq
    // (SnapshotCodec::matches: its tables are never built here). The blob
    // is valid until this read transaction ends. A snapshot found unsound
    // is reported first at its seq, as when it was decoded before the walk.
    auto stored_snapshot = r.snapshot_at_most(*head);
    if (!stored_snapshot) return stored_snapshot.error();
    std::vector<AuditFinding> snapshot_corrupt;
    const auto unsound = [&](const Error& e) {
      snapshot_corrupt.push_back(
          AuditFinding{(*stored_snapshot)->seq, "snapshot_corrupt", e.message});
    };
    std::optional<SnapshotSizes> snapshot;
    bool snapshot_checked = false;
    if (*stored_snapshot) {
      auto sizes = SnapshotCodec::sizes((*stored_snapshot)->blob);
      if (sizes) {
        snapshot = *sizes;
        // Room for what the replay will hold, as a replay sized from its
        // snapshot has (replay.cc): growing from empty rebuilt the fork
        // table at each doubling, each time on fresh pages for the kernel
        // to zero, on the thread that applies.
        state.reserve(sizes->templates, sizes->live_forks, sizes->lost_forks);
      } else {
        // decode names the first thing wrong; sizes reads less.
        auto decoded = SnapshotCodec::decode((*stored_snapshot)->blob);
        unsound(decoded ? sizes.error() : decoded.error());
        snapshot_checked = true;
      }
    }
    const auto check_snapshot = [&](std::uint64_t seq) {
      if (!snapshot || seq != snapshot->seq) return;
      snapshot_checked = true;
      const std::string_view blob = (*stored_snapshot)->blob;
      // After a missing or unreadable record a comparison would mislead;
      // the snapshot's own soundness is still reported.
      const Result<bool> same = [&]() -> Result<bool> {
        if (replay_trusted) return SnapshotCodec::matches(blob, state);
        if (auto decoded = SnapshotCodec::decode(blob); !decoded) return decoded.error();
        return true;
      }();
      if (!same) {
        unsound(same.error());
      } else if (!*same) {
        find(seq, "snapshot_mismatch",
             "the snapshot at seq " + std::to_string(seq) +
                 " differs from a full replay to that seq");
      }
    };
    if (start.seq > 0) check_snapshot(start.seq);

    VerifyHooks hooks;
    hooks.finding = [&](std::uint64_t seq, std::string_view kind, std::string detail) {
      // After a missing or unreadable record a replay would only mislead.
      if (kind == "seq_gap" || kind == "corrupt_record") replay_trusted = false;
      find(seq, std::string(kind), std::move(detail));
    };
    // Called on the walk's worker thread, in key order, with each record
    // decoded beside its chain value: the calling thread only reads and
    // hashes the windows the worker has not reached (Reader::verify_chain),
    // so the replaying thread, as in a two-thread replay, waits on no one.
    hooks.event = [&](std::uint64_t seq, const Result<void>& decoded, const EventView& e,
                      const ChainHash& chain) {
      if (!decoded) {
        find(seq, std::string(code_name(decoded.error().code)), decoded.error().message);
        replay_trusted = false;
      } else if (replay_trusted) {
        state.apply(seq, e);
      }
      check_snapshot(seq);
      check_expected(seq, chain);
      if (options.progress && (seq & 0xFFFF) == 0) options.progress(seq, *head);
    };
    hooks.upcoming = [&](const EventView& e) {
      if (replay_trusted) state.prefetch(e);
    };
    auto walk = r.verify_chain(start, hooks);
    if (!walk) return walk.error();
    report.records = walk->records;
    report.chain_head = walk->chain;

    // A snapshot whose seq the walk never applied (it is before the audit's
    // starting point, its record is missing, or the blob names another
    // seq) is still checked for soundness.
    if (*stored_snapshot && !snapshot_checked) {
      if (auto decoded = SnapshotCodec::decode((*stored_snapshot)->blob); !decoded) {
        unsound(decoded.error());
      }
    }
    findings.insert(findings.begin(), snapshot_corrupt.begin(), snapshot_corrupt.end());
    if (expect && expect->seq > *head) {
      find(expect->seq, "expect_head",
           "the journal ends at seq " + std::to_string(*head) + ", before the expected seq " +
               std::to_string(expect->seq) + ": it was truncated");
    }
    for (const Anomaly& a : state.anomalies()) {
      find(a.seq, "anomaly",
           std::string(anomaly_name(a.kind)) + " template=" + a.template_id +
               (a.fork.empty() ? "" : " fork=" + a.fork));
    }
    std::stable_sort(findings.begin(), findings.end(),
                     [](const AuditFinding& a, const AuditFinding& b) { return a.seq < b.seq; });
    if (findings.empty()) report.state = std::move(state);
    return report;
  });
}

}  // namespace fj
