// forkjournal fleet counts and fleet verify: the fleet stream read alone
// (fleet/fleet_view.h). NATS failures exit 2, whatever their code, so that
// 1 keeps meaning "the stream does not check out".
#include "fleet/fleet_view.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "fleet/stream.h"
#include "journal/hex.h"
#include "present/render.h"

#include <boost/json.hpp>

#include <iostream>

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

std::string break_line(const fleet::JournalFold& j) {
  return "journal " + j.journal_id() + ": breaks at seq " + std::to_string(j.broken()->seq) +
         " (stream sequence " + std::to_string(j.broken()->stream_seq) + "): " + j.broken()->detail;
}

}  // namespace

int cmd_fleet_counts(const Options& o) {
  auto view = fleet::read_fleet(o.nats);
  if (!view) return nats_failure(view.error());
  std::uint64_t templates = 0, forks = 0;
  for (const fleet::JournalFold& j : view->journals) {
    templates += j.state().template_count();
    forks += j.state().live_fork_count();
  }
  if (o.json) {
    json::array journals;
    for (const fleet::JournalFold& j : view->journals) {
      json::array tpls;
      for (const Template* t : j.state().templates()) tpls.push_back(render::template_json(*t));
      journals.push_back(json::object{{"journal_id", j.journal_id()},
                                      {"host", j.host()},
                                      {"shipped_seq", j.head_seq()},
                                      {"first_seq", j.first_seq()},
                                      {"lag_events", nullptr},
                                      {"lag", "unknown"},
                                      {"templates", std::move(tpls)},
                                      {"live_forks", j.state().live_fork_count()},
                                      {"anomalies", j.state().anomalies().size()},
                                      {"broken", break_json(j)}});
    }
    std::cout << json::serialize(
                     json::object{{"stream", std::string(fleet::kStreamName)},
                                  {"messages", view->messages},
                                  {"journals", std::move(journals)},
                                  {"totals", json::object{{"journals", view->journals.size()},
                                                          {"templates", templates},
                                                          {"live_forks", forks}}}})
              << '\n';
  } else {
    std::cout << "stream " << fleet::kStreamName << ": " << plural(view->journals.size(), "journal")
              << ", " << plural(templates, "template") << ", " << plural(forks, "live fork") << " ("
              << plural(view->messages, "message") << ")\n";
    for (const fleet::JournalFold& j : view->journals) {
      std::cout << "\njournal " << j.journal_id() << "  host "
                << (j.host().empty() ? "?" : j.host()) << "  shipped seq " << j.head_seq()
                << "  lag unknown\n";
      if (j.first_seq() > 1) {
        std::cout << "  the stream starts at seq " << j.first_seq()
                  << ": the earlier events were purged, these counts are partial\n";
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
  // A damaged stream serves no counts silently, as a corrupt journal would not.
  int code = 0;
  for (const fleet::JournalFold& j : view->journals) {
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
      journals.push_back(json::object{{"journal_id", j.journal_id()},
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
      std::cout << "journal " << j.journal_id() << ": ok, seqs " << j.first_seq() << ".."
                << j.head_seq() << " from " << j.host() << ", chain "
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
