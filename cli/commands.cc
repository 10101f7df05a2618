#include "cli/commands.h"

#include "cli/event_line.h"
#include "cli/table.h"
#include "cli/target_dir.h"
#include "fleet/witness.h"
#include "journal/events.h"
#include "journal/hex.h"
#include "journal/ids.h"
#include "journal/internal/format.h"
#include "present/render.h"
#include "projector/audit.h"
#include "projector/ledger.h"

#include <boost/json/serialize.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <unistd.h>

namespace fj::cli {
using namespace fj::render;
namespace {

namespace json = boost::json;

void print_json(const json::value& v) {
  std::cout << json::serialize(v) << '\n';
}

Result<Journal> open_read(const Options& o) {
  return Journal::open(o.journal, JournalOptions{.read_only = true});
}

Result<Journal> open_write(const Options& o) {
  return Journal::open(o.journal, JournalOptions{.sync = o.sync});
}

int execute(const Options& o, const Command& command) {
  auto journal = open_write(o);
  if (!journal) return report(journal.error());
  auto ledger = Ledger::open(*journal);
  if (!ledger) return report(ledger.error());
  auto outcome = ledger->execute(command, Origin::cli);
  if (!outcome) return report(outcome.error());
  const Projection& state = ledger->projection();
  if (outcome->first_seq == 0) {
    std::cout << "nothing to append: already recorded at seq " << outcome->already_at << '\n';
    return 0;
  }
  auto printed = journal->read([&](Reader& r) -> Result<void> {
    return for_each_event(
        r, outcome->first_seq, outcome->last_seq, [&](std::uint64_t seq, const EventView& e) {
          std::cout << "seq " << seq << ": " << type_name(e.type) << ' ' << event_details(e);
          if (const Template* t = state.find(e.template_id)) {
            std::cout << " (" << plural(t->forks, "live fork") << ")";
          }
          std::cout << '\n';
        });
  });
  return printed ? 0 : report(printed.error());
}

json::value witness_json(const std::optional<fleet::WitnessReport>& w) {
  if (!w) return nullptr;
  return json::object{
      {"ok", !w->difference},
      {"shipped_first", w->shipped_first},
      {"shipped_head", w->shipped_head},
      {"compared", w->compared},
      {"unshipped", w->unshipped()},
      {"difference", w->difference ? json::value(json::object{{"seq", w->difference->seq},
                                                              {"detail", w->difference->detail}})
                                   : json::value(nullptr)}};
}

void print_witness(const fleet::WitnessReport& w) {
  if (w.difference) {
    std::cout << "witness: the stream and the journal differ at seq " << w.difference->seq << ": "
              << w.difference->detail << '\n';
    return;
  }
  if (w.compared == 0) {
    std::cout << "witness: the stream holds no event of this journal yet\n";
  } else {
    std::cout << "witness: the stream's seqs " << w.shipped_first << ".." << w.shipped_head
              << " match the local records and chain\n";
  }
  if (w.unshipped() != 0) {
    std::cout << "witness: " << plural(w.unshipped(), "event") << " after seq " << w.shipped_head
              << " not shipped yet\n";
  }
}

}  // namespace

int report(const Error& e) {
  std::string kind;
  if (e.refusal()) kind = "refused (" + std::string(code_name(e.code)) + "): ";
  if (e.corruption()) kind = "corrupt journal (" + std::string(code_name(e.code)) + "): ";
  std::cerr << "forkjournal: " << kind << e.message << '\n';
  return e.refusal() ? 1 : 2;
}

int cmd_init(const Options& o) {
  // A directory this process may not list is no "non-empty directory": say
  // why it cannot be used.
  if (auto target = inspect_target(o.journal); !target) return report(target.error());
  auto journal = Journal::create(o.journal, JournalOptions{.sync = o.sync});
  if (!journal) return report(journal.error());
  std::cout << "initialized journal " << o.journal << " (id " << journal->info().journal_id
            << ", format version " << int(journal->info().format_version) << ")\n";
  return 0;
}

int cmd_register(const Options& o) {
  return execute(o, RegisterTemplate{o.template_id, o.source, o.name});
}
int cmd_fork(const Options& o) {
  return execute(o, AddFork{o.template_id, o.fork});
}
int cmd_unfork(const Options& o) {
  return execute(o, RemoveFork{o.template_id, o.fork});
}
int cmd_retire(const Options& o) {
  return execute(o, RetireTemplate{o.template_id});
}

int cmd_counts(const Options& o) {
  auto journal = open_read(o);
  if (!journal) return report(journal.error());
  auto state = load(*journal, o.as_of.value_or(kHead));
  if (!state) return report(state.error());
  if (o.json) {
    json::array templates;
    for (const Template* t : state->templates()) templates.push_back(template_json(*t));
    print_json(json::object{{"seq", state->seq()}, {"templates", std::move(templates)}});
    return 0;
  }
  std::cout << "as of seq " << state->seq() << ": " << plural(state->template_count(), "template")
            << ", " << plural(state->live_fork_count(), "live fork") << '\n';
  if (state->template_count() != 0) {
    std::vector<std::vector<std::string>> rows{{"TEMPLATE", "STATE", "FORKS", "SOURCE", "NAME"}};
    for (const Template* t : state->templates()) {
      // A name is free text: quoted and escaped, it reads as one column.
      rows.push_back({t->id.str(), std::string(state_name(t->state)), std::to_string(t->forks),
                      t->source.str(), t->name.empty() ? std::string() : quoted(t->name)});
    }
    print_table(rows, {false, false, true, false, false});
  }
  if (!state->anomalies().empty()) {
    std::cout << plural(state->anomalies().size(), "anomaly")
              << " in the log (see 'forkjournal replay')\n";
  }
  return 0;
}

int cmd_log(const Options& o) {
  if (o.template_filter) {
    if (auto ok = check_id("template id", *o.template_filter); !ok) return report(ok.error());
  }
  const std::uint64_t from = o.from.value_or(1);
  const std::uint64_t to = o.to.value_or(kHead);
  auto journal = open_read(o);
  if (!journal) return report(journal.error());
  auto done = journal->read([&](Reader& r) -> Result<void> {
    // A --to past the head reads to the head, but a --from past the next
    // seq is a mistake, as in export (the head + 1 prints nothing yet).
    auto head = r.head();
    if (!head) return head.error();
    // A --to alone below the default --from (--to 0) is an empty range.
    if (from > to && !o.from) return {};
    if (from > to) {
      return make_error(Errc::invalid_argument,
                        "--from " + std::to_string(from) + " is after --to " + std::to_string(to) +
                            " (the head is seq " + std::to_string(*head) + ")");
    }
    if (from > *head + 1) {
      return make_error(Errc::invalid_argument,
                        "--from " + std::to_string(from) + " is beyond the head (seq " +
                            std::to_string(*head) + "): log starts at the head + 1 (seq " +
                            std::to_string(*head + 1) + ") at most");
    }
    return for_each_event(r, from, to, [&](std::uint64_t seq, const EventView& e) -> Result<void> {
      if (o.template_filter && e.template_id != *o.template_filter) return {};
      if (o.json) {
        print_event_line(std::cout, seq, e);
      } else {
        char head[96];
        std::snprintf(head, sizeof head, "%8llu  %s  %-9s  %-19s  ",
                      static_cast<unsigned long long>(seq), rfc3339(e.time_ns).c_str(),
                      std::string(origin_name(e.origin)).c_str(),
                      std::string(type_name(e.type)).c_str());
        std::cout << head << event_details(e) << '\n';
      }
      return {};
    });
  });
  std::cout.flush();
  return done ? 0 : report(done.error());
}

int cmd_explain(const Options& o) {
  if (auto ok = check_id("template id", o.template_id); !ok) return report(ok.error());
  auto journal = open_read(o);
  if (!journal) return report(journal.error());
  // Replay from seq 1, recording every event that touched the template and
  // the count right after it.
  json::array events;
  std::vector<std::vector<std::string>> rows{{"SEQ", "TIME", "ORIGIN", "EVENT", "DETAIL", "FORKS"}};
  Projection state;
  auto done = journal->read([&](Reader& r) -> Result<void> {
    auto head = r.head();
    if (!head) return head.error();
    return for_each_event(r, 1, *head, [&](std::uint64_t seq, const EventView& e) -> Result<void> {
      const std::size_t anomalies = state.anomalies().size();
      state.apply(seq, e);
      if (e.template_id != o.template_id) return {};
      const Template* t = state.find(o.template_id);
      const std::uint32_t count = t != nullptr ? t->forks : 0;
      const bool anomaly = state.anomalies().size() != anomalies;
      json::object ev = event_json(seq, e);
      ev["forks"] = count;
      if (anomaly) ev["anomaly"] = anomaly_name(state.anomalies().back().kind);
      events.push_back(std::move(ev));
      std::string detail = e.type == EventType::template_registered
                               ? "source=" + std::string(e.source)
                               : std::string(e.fork);
      if (e.reason != Reason::none) detail += " (" + std::string(reason_name(e.reason)) + ")";
      if (anomaly) {
        detail +=
            " [anomaly: " + std::string(anomaly_name(state.anomalies().back().kind)) + ", ignored]";
      }
      rows.push_back({std::to_string(seq), rfc3339(e.time_ns), std::string(origin_name(e.origin)),
                      std::string(type_name(e.type)), detail, std::to_string(count)});
      return {};
    });
  });
  if (!done) return report(done.error());
  const Template* t = state.find(o.template_id);
  if (t == nullptr) {
    return report(
        make_error(Errc::not_found, "template '" + o.template_id + "' is not registered"));
  }
  const auto live = state.live_forks(o.template_id);
  if (o.json) {
    json::object out = template_json(*t);
    out["seq"] = state.seq();
    json::array forks;
    for (const auto& f : live) forks.push_back(json::string(f));
    out["live_forks"] = std::move(forks);
    out["events"] = std::move(events);
    print_json(out);
    return 0;
  }
  std::cout << "template " << t->id.view() << " ("
            << (t->name.empty() ? std::string("no name") : quoted(t->name)) << "), source "
            << t->source.view() << ", " << state_name(t->state) << ", "
            << plural(t->forks, "live fork") << " as of seq " << state.seq() << '\n';
  print_table(rows, {true, false, false, false, false, true});
  if (!live.empty()) {
    std::cout << "live forks:";
    for (const auto& f : live) std::cout << ' ' << f;
    std::cout << '\n';
  }
  return 0;
}

int cmd_replay(const Options& o) {
  auto journal = open_read(o);
  if (!journal) return report(journal.error());
  const auto start = std::chrono::steady_clock::now();
  auto full = replay(*journal);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!full) return report(full.error());
  // The same state through the newest snapshot, which must agree.
  LoadReport report_info;
  auto fast = load(*journal, full->seq(), &report_info);
  if (!fast) return report(fast.error());
  const bool matches = *fast == *full;
  const double eps = seconds > 0 ? static_cast<double>(full->seq()) / seconds : 0;
  if (o.json) {
    json::array anomalies;
    for (const Anomaly& a : full->anomalies()) anomalies.push_back(anomaly_json(a));
    json::array templates;
    for (const Template* t : full->templates()) templates.push_back(template_json(*t));
    // What the text says too: the snapshots passed over and the tail
    // replayed on top of the one used (all of it when none is).
    json::array ignored;
    for (const IgnoredSnapshot& i : report_info.ignored) {
      ignored.push_back(json::object{{"seq", i.seq}, {"reason", i.reason}});
    }
    print_json(json::object{{"seq", full->seq()},
                            {"events", full->seq()},
                            {"seconds", seconds},
                            {"events_per_second", eps},
                            {"templates", std::move(templates)},
                            {"live_forks", full->live_fork_count()},
                            {"anomalies", std::move(anomalies)},
                            {"snapshot_seq", report_info.snapshot_seq},
                            {"tail_events", report_info.replayed},
                            {"ignored_snapshots", std::move(ignored)},
                            {"matches_snapshot", matches}});
  } else {
    char line[160];
    std::snprintf(line, sizeof line, "replayed %llu events from seq 1 in %.3f s (%.0f events/s)\n",
                  static_cast<unsigned long long>(full->seq()), seconds, eps);
    std::cout << line << plural(full->template_count(), "template") << ", "
              << plural(full->live_fork_count(), "live fork") << ", "
              << plural(full->anomalies().size(), "anomaly") << '\n';
    for (const Anomaly& a : full->anomalies()) std::cout << "  anomaly " << anomaly_text(a) << '\n';
    for (const IgnoredSnapshot& i : report_info.ignored) {
      std::cout << "  ignored " << i.text() << '\n';
    }
    if (report_info.snapshot_seq == 0) {
      std::cout << "no snapshot in use: the fast path replays from seq 1 too\n";
    } else {
      std::cout << "snapshot at seq " << report_info.snapshot_seq << " + "
                << plural(report_info.replayed, "event") << " of tail "
                << (matches ? "matches" : "DOES NOT MATCH") << " the full replay\n";
    }
  }
  if (!matches) {
    std::cerr << "forkjournal: the snapshot-based projection differs from the full replay\n";
    return 1;
  }
  return 0;
}

int cmd_snapshot(const Options& o) {
  auto journal = open_write(o);
  if (!journal) return report(journal.error());
  auto ledger = Ledger::open(*journal);
  if (!ledger) return report(ledger.error());
  // The state stored is a full replay's, not the one loaded from the newest
  // snapshot: a snapshot that `replay` proves wrong is replaced, never
  // stored again (docs/operations.md, Snapshots).
  auto replayed = replay(*journal);
  if (!replayed) return report(replayed.error());
  const std::uint64_t loaded_from = ledger->load_report().snapshot_seq;
  auto stored = ledger->snapshot_replayed(std::move(*replayed));
  if (!stored) return report(stored.error());
  if (stored->repaired) {
    std::cout << "the snapshot at seq " << loaded_from
              << " differs from a full replay from seq 1: replaced by the replayed state, other "
                 "snapshots deleted (restart a forkjournald serving this journal: it loaded the "
                 "wrong state)\n";
  }
  if (stored->seq == 0) {
    std::cout << "journal is empty: no snapshot stored\n";
  } else {
    std::cout << "snapshot stored at seq " << stored->seq << " ("
              << plural(ledger->projection().template_count(), "template") << ", "
              << plural(ledger->projection().live_fork_count(), "live fork") << ")\n";
  }
  return 0;
}

int cmd_stats(const Options& o) {
  auto journal = open_read(o);
  if (!journal) return report(journal.error());
  std::array<std::uint64_t, kMaxEventType + 1> by_type{};
  std::uint64_t record_bytes = 0;
  std::vector<std::uint64_t> snapshots;
  Projection state;
  auto done = journal->read([&](Reader& r) -> Result<void> {
    auto head = r.head();
    if (!head) return head.error();
    auto seqs = r.snapshot_seqs();
    if (!seqs) return seqs.error();
    snapshots = std::move(*seqs);
    return for_each_event(
        r, 1, *head,
        [&](std::uint64_t seq, const EventView& e, std::string_view record) -> Result<void> {
          ++by_type[static_cast<std::size_t>(e.type)];
          record_bytes += record.size();
          state.apply(seq, e);
          return {};
        });
  });
  if (!done) return report(done.error());
  auto file = journal->file_size();
  if (!file) return report(file.error());
  std::uint64_t active = 0;
  for (const Template* t : state.templates()) active += t->state == TemplateState::active;
  const JournalInfo& info = journal->info();
  const std::uint64_t events = state.seq();
  json::object by_type_json;
  for (std::uint8_t t = 1; t <= kMaxEventType; ++t) {
    by_type_json[type_name(static_cast<EventType>(t))] = by_type[t];
  }
  json::array snapshot_seqs;
  for (auto s : snapshots) snapshot_seqs.push_back(s);
  json::object out{{"journal", info.path},
                   {"journal_id", info.journal_id},
                   {"format_version", info.format_version},
                   {"created", rfc3339(info.created_ns)},
                   {"head_seq", events},
                   {"events_by_type", std::move(by_type_json)},
                   {"templates", state.template_count()},
                   {"active_templates", active},
                   {"live_forks", state.live_fork_count()},
                   {"anomalies", state.anomalies().size()},
                   {"snapshots", std::move(snapshot_seqs)},
                   {"record_bytes", record_bytes},
                   {"file_bytes", *file},
                   {"map_bytes", journal->map_size()}};
  if (o.json) {
    print_json(out);
    return 0;
  }
  std::cout << "journal        " << info.path << '\n'
            << "id             " << info.journal_id << '\n'
            << "format         version " << int(info.format_version) << '\n'
            << "created        " << rfc3339(info.created_ns) << '\n'
            << "head seq       " << events << '\n';
  for (std::uint8_t t = 1; t <= kMaxEventType; ++t) {
    char line[64];
    std::snprintf(line, sizeof line, "  %-20s %llu\n",
                  std::string(type_name(static_cast<EventType>(t))).c_str(),
                  static_cast<unsigned long long>(by_type[t]));
    std::cout << line;
  }
  std::cout << "templates      " << state.template_count() << " (" << active << " active)\n"
            << "live forks     " << state.live_fork_count() << '\n'
            << "anomalies      " << state.anomalies().size() << '\n'
            << "snapshots      ";
  if (snapshots.empty()) std::cout << "none";
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    std::cout << (i == 0 ? "seq " : " seq ") << snapshots[i];
  }
  std::cout << '\n' << "record bytes   " << record_bytes;
  if (events != 0) std::cout << " (" << record_bytes / events << " per event)";
  std::cout << '\n'
            << "file size      " << *file << " bytes (map " << journal->map_size() << " bytes)\n";
  return 0;
}

}  // namespace fj::cli

namespace fj::cli {

int cmd_audit(const Options& o) {
  AuditOptions options;
  if (!o.expect_head.empty()) {
    const auto colon = o.expect_head.find(':');
    const std::string seq = o.expect_head.substr(0, colon);
    const auto hash =
        colon == std::string::npos ? std::nullopt : chain_from_hex(o.expect_head.substr(colon + 1));
    if (seq.empty() || seq.size() > 19 ||
        seq.find_first_not_of("0123456789") != std::string::npos || !hash) {
      return report(make_error(Errc::invalid_argument,
                               "--expect-head '" + o.expect_head +
                                   "': expected SEQ:HEX, as printed by an earlier audit"));
    }
    options.expect_head = ChainPoint{std::stoull(seq), *hash};
  }
  auto journal = open_read(o);
  if (!journal) return report(journal.error());
  const bool show_progress = ::isatty(2) != 0;
  if (show_progress) {
    options.progress = [](std::uint64_t done, std::uint64_t total) {
      if (total < 1'000'000) return;
      std::cerr << "\raudit: " << (100 * done / total) << "% (seq " << done << " of " << total
                << ")" << std::flush;
    };
  }
  auto result = audit(*journal, options);
  if (show_progress && result && result->head_seq >= 1'000'000) std::cerr << "\r\033[K";
  if (!result) return report(result.error());
  std::optional<fleet::WitnessReport> witnessed;
  if (!o.witness.empty()) {
    auto w = fleet::witness(*journal, o.witness);
    if (!w) {
      // A witness that cannot be read is no finding about the journal.
      std::cerr << "forkjournal: witness " << o.witness << ": " << w.error().message << '\n';
      return 2;
    }
    witnessed = std::move(*w);
    if (witnessed->difference) {
      result->findings.push_back(
          AuditFinding{witnessed->difference->seq, "witness", witnessed->difference->detail});
    }
  }
  if (o.json) {
    json::array findings;
    for (const AuditFinding& f : result->findings) {
      findings.push_back(json::object{{"seq", f.seq}, {"kind", f.kind}, {"detail", f.detail}});
    }
    print_json(json::object{{"ok", result->ok()},
                            {"head_seq", result->head_seq},
                            {"chain_head", to_hex(result->chain_head)},
                            {"records", result->records},
                            {"findings", std::move(findings)},
                            {"witness", witness_json(witnessed)}});
  } else {
    std::cout << "audited " << result->records << " records of " << o.journal << "\n"
              << "head seq " << result->head_seq << ", chain head " << to_hex(result->chain_head)
              << '\n';
    // A head worth anchoring later audits to: only one that audits clean.
    if (result->ok()) {
      std::cout << "(keep \"" << result->head_seq << ":" << to_hex(result->chain_head)
                << "\" and pass it to a later audit as --expect-head)\n";
    }
    if (witnessed) print_witness(*witnessed);
    if (result->ok()) {
      std::cout << "ok: checksums, seqs, hash chain, replay and snapshot all check out"
                << (witnessed ? ", and the stream's copy matches\n" : "\n");
    } else {
      std::cout << plural(result->findings.size(), "finding") << ":\n";
      for (const AuditFinding& f : result->findings) {
        std::cout << "  seq " << f.seq << "  " << f.kind << ": " << f.detail << '\n';
      }
    }
  }
  return result->ok() ? 0 : 1;
}

}  // namespace fj::cli
