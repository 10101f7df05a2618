// forkjournal fleet counts and fleet verify: the fleet stream read alone
// (fleet/fleet_view.h). NATS failures exit 2, whatever their code, so that
// 1 keeps meaning "the stream does not check out".
#include "fleet/fleet_view.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "fleet/stream.h"
#include "journal/hex.h"
#include "journal/ids.h"
#include "present/render.h"

#include <boost/json.hpp>

#include <iostream>
#include <vector>

namespace fj::cli {
namespace {

namespace json = boost::json;

int nats_failure(const Error& e) {
  std::cerr << "forkjournal: " << e.message << '\n';
  return 2;
}

json::value break_json(const fleet::JournalFold& j) {
  if (!j.broken()) return nullptr;
  return json::object{{"seq", j.broken()->seq},
                      {"stream_seq", j.broken()->stream_seq},
                      {"detail", j.broken()->detail}};
}

// The journal id as the subject spells it, fit for a terminal: a subject
// outside the contract is shown whole, and anyone may publish one.
std::string id_of(const fleet::JournalFold& j) {
  return printable(j.journal_id(), 200);
}

// Counts rebuilt from the stream alone need the journal's history from seq 1:
// a subject that starts later (purged, or a stream keeping only recent
// messages per subject) gives counts of its tail only, which are wrong.
bool countable(const fleet::JournalFold& j) {
  return j.first_seq() <= 1;
}

std::string uncountable_why(const fleet::JournalFold& j) {
  return "not countable from the stream: its history there starts at seq " +
         std::to_string(j.first_seq()) +
         " (the earlier events were purged or removed by the stream's limits), and counts "
         "need every event from seq 1";
}

std::string break_line(const fleet::JournalFold& j) {
  return "journal " + id_of(j) + ": breaks at seq " + std::to_string(j.broken()->seq) +
         " (stream sequence " + std::to_string(j.broken()->stream_seq) + "): " + j.broken()->detail;
}

}  // namespace

int cmd_fleet_counts(const Options& o) {
  auto view = fleet::read_fleet(o.nats);
  if (!view) return nats_failure(view.error());
  // Journals left out of the totals (not countable) or counted only up to a
  // break: either makes the totals partial, and says which.
  std::uint64_t templates = 0, forks = 0, counted = 0;
  std::vector<const fleet::JournalFold*> uncountable, broken;
  for (const fleet::JournalFold& j : view->journals) {
    if (!countable(j)) {
      uncountable.push_back(&j);
      continue;
    }
    if (j.broken()) broken.push_back(&j);
    ++counted;
    templates += j.state().template_count();
    forks += j.state().live_fork_count();
  }
  const bool partial = !uncountable.empty() || !broken.empty();
  if (o.json) {
    json::array journals;
    for (const fleet::JournalFold& j : view->journals) {
      const bool counts = countable(j);
      json::array tpls;
      if (counts) {
        for (const Template* t : j.state().templates()) tpls.push_back(render::template_json(*t));
      }
      journals.push_back(json::object{
          {"journal_id", id_of(j)},
          {"host", j.host()},
          {"shipped_seq", j.head_seq()},
          {"first_seq", j.first_seq()},
          {"lag_events", nullptr},
          {"lag", "unknown"},
          {"countable", counts},
          {"uncountable", counts ? json::value(nullptr) : json::value(uncountable_why(j))},
          {"templates", std::move(tpls)},
          {"live_forks", counts ? json::value(j.state().live_fork_count()) : json::value(nullptr)},
          {"anomalies", counts ? json::value(j.state().anomalies().size()) : json::value(nullptr)},
          {"broken", break_json(j)}});
    }
    json::array missing, damaged;
    for (const fleet::JournalFold* j : uncountable)
      missing.push_back(json::object{{"journal_id", id_of(*j)}, {"first_seq", j->first_seq()}});
    for (const fleet::JournalFold* j : broken)
      damaged.push_back(json::object{{"journal_id", id_of(*j)}, {"seq", j->broken()->seq}});
    std::cout << json::serialize(
                     json::object{{"stream", std::string(fleet::kStreamName)},
                                  {"messages", view->messages},
                                  {"journals", std::move(journals)},
                                  {"totals", json::object{{"journals", counted},
                                                          {"templates", templates},
                                                          {"live_forks", forks},
                                                          {"partial", partial},
                                                          {"uncountable", std::move(missing)},
                                                          {"broken", std::move(damaged)}}}})
              << '\n';
  } else {
    std::cout << "stream " << fleet::kStreamName << ": " << plural(counted, "journal") << ", "
              << plural(templates, "template") << ", " << plural(forks, "live fork") << " ("
              << plural(view->messages, "message") << ")";
    if (partial) {
      std::cout << "; partial:";
      if (!uncountable.empty()) {
        std::cout << ' ' << plural(uncountable.size(), "journal")
                  << " not countable from the stream, left out (";
        for (std::size_t i = 0; i < uncountable.size(); ++i) {
          std::cout << (i == 0 ? "" : ", ") << id_of(*uncountable[i]) << " from seq "
                    << uncountable[i]->first_seq();
        }
        std::cout << ')' << (broken.empty() ? "" : ";");
      }
      if (!broken.empty()) {
        std::cout << ' ' << plural(broken.size(), "journal") << " counted only up to a break (";
        for (std::size_t i = 0; i < broken.size(); ++i) {
          std::cout << (i == 0 ? "" : ", ") << id_of(*broken[i]) << " at seq "
                    << broken[i]->broken()->seq;
        }
        std::cout << ')';
      }
    }
    std::cout << '\n';
    for (const fleet::JournalFold& j : view->journals) {
      std::cout << "\njournal " << id_of(j) << "  host " << (j.host().empty() ? "?" : j.host())
                << "  shipped seq " << j.head_seq() << "  lag unknown\n";
      if (!countable(j)) {
        std::cout << "  " << uncountable_why(j) << "; left out of the totals\n";
        continue;
      }
      if (j.broken()) {
        std::cout << "  broken at seq " << j.broken()->seq << ": counts as of seq " << j.head_seq()
                  << " (see 'forkjournal fleet verify')\n";
      }
      std::cout << "  " << plural(j.state().template_count(), "template") << ", "
                << plural(j.state().live_fork_count(), "live fork") << '\n';
      if (j.state().template_count() != 0) {
        std::vector<std::vector<std::string>> rows{
            {"TEMPLATE", "STATE", "FORKS", "SOURCE", "NAME"}};
        for (const Template* t : j.state().templates()) {
          rows.push_back({t->id.str(), std::string(state_name(t->state)), std::to_string(t->forks),
                          t->source.str(), t->name});
        }
        print_table(rows, {false, false, true, false, false}, "  ");
      }
    }
  }
  // A damaged stream serves no counts silently, as a corrupt journal would
  // not; nor does one that lacks a journal's beginning.
  int code = 0;
  for (const fleet::JournalFold& j : view->journals) {
    if (!countable(j)) {
      std::cerr << "forkjournal: journal " << id_of(j) << ": " << uncountable_why(j) << '\n';
      code = 2;
      continue;
    }
    if (!j.broken()) continue;
    std::cerr << "forkjournal: " << break_line(j) << '\n';
    code = 2;
  }
  return code;
}

int cmd_fleet_verify(const Options& o) {
  auto view = fleet::read_fleet(o.nats);
  if (!view) return nats_failure(view.error());
  bool clean = true;
  if (o.json) {
    json::array journals;
    for (const fleet::JournalFold& j : view->journals) {
      clean = clean && !j.broken();
      journals.push_back(json::object{{"journal_id", id_of(j)},
                                      {"host", j.host()},
                                      {"messages", j.messages()},
                                      {"first_seq", j.first_seq()},
                                      {"verified_seq", j.head_seq()},
                                      {"chain_from_seed", j.chain_from_seed()},
                                      {"chain", to_hex(j.chain())},
                                      {"ok", !j.broken()},
                                      {"broken", break_json(j)}});
    }
    std::cout << json::serialize(json::object{{"stream", std::string(fleet::kStreamName)},
                                              {"messages", view->messages},
                                              {"ok", clean},
                                              {"journals", std::move(journals)}})
              << '\n';
  } else {
    for (const fleet::JournalFold& j : view->journals) {
      if (j.broken()) {
        clean = false;
        std::cout << break_line(j) << '\n';
        continue;
      }
      std::cout << "journal " << id_of(j) << ": ok, seqs " << j.first_seq() << ".." << j.head_seq()
                << " from " << j.host() << ", chain "
                << (j.chain_from_seed()
                        ? "recomputed from the seed"
                        : "carried from the first message's Fj-Chain (the stream starts at seq " +
                              std::to_string(j.first_seq()) + ": earlier events were purged)")
                << '\n';
    }
    std::cout << (clean ? "ok: " : "broken: ") << plural(view->journals.size(), "journal") << ", "
              << plural(view->messages, "message") << " in stream " << fleet::kStreamName << '\n';
  }
  return clean ? 0 : 1;
}

}  // namespace fj::cli
