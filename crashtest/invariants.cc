#include "crashtest/invariants.h"

#include "journal/events.h"

#include "journal/codec.h"

#include <map>
#include <set>
#include <stdexcept>

namespace fj::invariants {
namespace {

std::string describe(const Error& e) {
  return std::string(code_name(e.code)) + ": " + e.message;
}

Violation failed(const std::string& what, const Error& e) {
  return Violation{what + ": " + describe(e)};
}

}  // namespace

void throw_exception_from_error(const Violation& v, const boost::source_location&) {
  throw std::runtime_error(v.what);
}

Checked<AuditReport> clean_audit(const Journal& journal, const AuditOptions& options) {
  auto audited = audit(journal, options);
  if (!audited) return failed("audit", audited.error());
  if (!audited->ok()) {
    std::string all;
    for (std::size_t i = 0; i < audited->findings.size() && i < 5; ++i) {
      const auto& f = audited->findings[i];
      all += "\n    seq " + std::to_string(f.seq) + " " + f.kind + ": " + f.detail;
    }
    return Violation{"audit found " + std::to_string(audited->findings.size()) +
                     " problem(s):" + all};
  }
  if (options.expect_head && audited->head_seq < options.expect_head->seq) {
    return Violation{"the head went back from seq " + std::to_string(options.expect_head->seq) +
                     " to " + std::to_string(audited->head_seq)};
  }
  return std::move(*audited);
}

Checked<> acknowledged_present(const Journal& journal, std::span<const AckedEvent> acks,
                               const AckWindow& window) {
  std::optional<Violation> found;
  std::set<std::uint64_t> claimed;
  auto read = journal.read([&](Reader& r) -> Result<void> {
    for (const AckedEvent& a : acks) {
      const std::string who = a.label + " (acknowledged at seq " + std::to_string(a.seq) + ")";
      if (a.seq <= window.after || a.seq > window.head) {
        found =
            Violation{who + " lies outside " + window.name + " (" +
                      std::to_string(window.after + 1) + "-" + std::to_string(window.head) + ")"};
        return {};
      }
      if (!claimed.insert(a.seq).second) {
        found = Violation{who + ": another request was acknowledged with the same seq"};
        return {};
      }
      auto record = r.record(a.seq);
      if (!record) return record.error();
      if (!*record) {
        found = Violation{who + ": the seq is missing"};
        return {};
      }
      auto e = decode(a.seq, **record);
      if (!e) {
        found = Violation{who + ": " + describe(e.error())};
        return {};
      }
      if (e->type != a.type || e->origin != Origin::api || e->template_id != a.template_id ||
          e->fork != a.fork || e->source != a.source) {
        found = Violation{who + " holds " + std::string(type_name(e->type)) + " " +
                          std::string(e->template_id) + " " + std::string(e->fork) +
                          ", not the acknowledged " + std::string(type_name(a.type)) + " " +
                          a.template_id + " " + a.fork};
        return {};
      }
    }
    return {};
  });
  if (!read) return failed("reading acknowledged seqs", read.error());
  if (found) return *found;
  if (window.complete) {
    for (std::uint64_t seq = window.after + 1; seq <= window.head; ++seq) {
      if (!claimed.contains(seq)) {
        return Violation{"seq " + std::to_string(seq) + " was never acknowledged"};
      }
    }
  }
  return {};
}

Checked<Loaded> load_matches_replay(const Journal& journal, std::uint64_t head) {
  auto replayed = replay(journal);
  if (!replayed) return failed("full replay", replayed.error());
  auto loaded = load_matches(journal, head, *replayed);
  if (!loaded) return loaded.error();
  return Loaded{std::move(*replayed), std::move(*loaded)};
}

Checked<LoadReport> load_matches(const Journal& journal, std::uint64_t head,
                                 const Projection& expected) {
  LoadReport report;
  auto loaded = load(journal, kHead, &report);
  if (!loaded) return failed("load (snapshot + tail)", loaded.error());
  if (!report.ignored.empty()) {
    return Violation{"load ignored a stored snapshot: " + report.ignored.front().text()};
  }
  if (!(*loaded == expected) || expected.seq() != head) {
    return Violation{"load (snapshot at seq " + std::to_string(report.snapshot_seq) +
                     " + tail) differs from a full replay to seq " + std::to_string(head)};
  }
  if (!expected.anomalies().empty()) {
    return Violation{"the replay has anomalies, first at seq " +
                     std::to_string(expected.anomalies().front().seq)};
  }
  return report;
}

Checked<RunsInLog> reconcile_runs_whole(const Journal& journal, std::uint64_t after,
                                        std::uint64_t head, std::span<const AckedRun> acked) {
  struct Marker {
    ReconcileStats run;
    std::uint64_t first = 0;  // first event of its block
  };
  std::map<std::uint64_t, Marker> markers;
  std::optional<Violation> found;
  auto read = journal.read([&](Reader& r) -> Result<void> {
    std::uint64_t block_first = 0;
    std::uint32_t corrections = 0, swept = 0;
    auto walked = for_each_event(r, after + 1, head, [&](std::uint64_t seq, const EventView& e) {
      if (found) return;
      const bool correction =
          e.origin == Origin::reconcile &&
          (e.type == EventType::fork_lost || e.type == EventType::fork_recovered);
      const bool sweep = e.origin == Origin::sweep && e.type == EventType::template_retired;
      if (correction || sweep) {
        if (block_first == 0) block_first = seq;
        (correction ? corrections : swept) += 1;
        return;
      }
      if (e.type == EventType::reconcile_run) {
        if (block_first == 0) {
          found = Violation{"reconcile_run at seq " + std::to_string(seq) +
                            " follows no correction or sweep"};
          return;
        }
        if (e.run.corrections != corrections || e.run.swept != swept) {
          found = Violation{"reconcile_run at seq " + std::to_string(seq) + " counts " +
                            std::to_string(e.run.corrections) + " corrections and " +
                            std::to_string(e.run.swept) + " sweeps, but seqs " +
                            std::to_string(block_first) + "-" + std::to_string(seq - 1) + " hold " +
                            std::to_string(corrections) + " and " + std::to_string(swept)};
          return;
        }
        if (e.run.based_on_seq >= block_first) {
          found = Violation{"reconcile_run at seq " + std::to_string(seq) + " is based on seq " +
                            std::to_string(e.run.based_on_seq) + ", not before its corrections"};
          return;
        }
        markers[seq] = Marker{e.run, block_first};
        block_first = 0;
        corrections = swept = 0;
        return;
      }
      if (block_first != 0) {
        found = Violation{"corrections at seqs " + std::to_string(block_first) + "-" +
                          std::to_string(seq - 1) + " have no reconcile_run marker (seq " +
                          std::to_string(seq) + " is a " + std::string(type_name(e.type)) + ")"};
      }
      return;
    });
    if (!walked) return walked;
    if (!found && block_first != 0) {
      found = Violation{"corrections at seqs " + std::to_string(block_first) + "-" +
                        std::to_string(head) + " at the head have no reconcile_run marker"};
    }
    return {};
  });
  if (!read) return failed("walking the new events", read.error());
  if (found) return *found;
  for (const AckedRun& run : acked) {
    const auto it = markers.find(run.last);
    if (it == markers.end() || it->second.first != run.first ||
        it->second.run.corrections != run.corrections || it->second.run.swept != run.swept) {
      return Violation{"the reconcile run acknowledged at seqs " + std::to_string(run.first) + "-" +
                       std::to_string(run.last) + " (" + std::to_string(run.corrections) +
                       " corrections, " + std::to_string(run.swept) +
                       " sweeps) is not in the log as acknowledged"};
    }
  }
  RunsInLog in_log;
  in_log.runs = markers.size();
  for (const auto& [seq, m] : markers) in_log.corrections += seq - m.first;
  return in_log;
}

Checked<> snapshot_round_trip(Journal& journal, std::uint64_t head, const Projection& replayed) {
  auto ledger = Ledger::open(journal);
  if (!ledger) return failed("Ledger::open", ledger.error());
  const auto at = ledger->snapshot();
  if (!at) return failed("writing a snapshot", at.error());
  if (*at != head) {
    return Violation{"a snapshot was stored at seq " + std::to_string(*at) + ", not the head " +
                     std::to_string(head)};
  }
  LoadReport again;
  auto reloaded = load(journal, kHead, &again);
  if (!reloaded) return failed("loading the new snapshot", reloaded.error());
  if (head > 0 && again.snapshot_seq != head) {
    return Violation{
        "the snapshot written at seq " + std::to_string(head) + " was not used by load (" +
        (again.ignored.empty() ? std::string("no reason") : again.ignored.front().text()) + ")"};
  }
  if (!(*reloaded == replayed)) return Violation{"the reloaded snapshot differs from the replay"};
  return {};
}

}  // namespace fj::invariants
