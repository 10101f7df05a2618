// forkjournal reconcile and import: the commands that read a VM manager's
// data root.
#include "cli/commands.h"
#include "gc/importer.h"
#include "gc/reconciler.h"
#include "present/duration.h"
#include "present/render.h"
#include "present/report_json.h"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace fj::cli {
using namespace fj::render;
namespace {

namespace json = boost::json;

void print_unreadable(const std::vector<gc::UnreadableFile>& files, const char* what) {
  for (const auto& u : files) {
    std::cout << "  " << what << ' ' << u.id << ": " << gc::unreadable_name(u.reason) << " ("
              << u.detail << ")\n";
  }
}

void print_link_mismatches(const std::vector<gc::LinkMismatch>& mismatches) {
  for (const auto& m : mismatches) {
    std::cout << "  " << (m.live ? "live fork " : "instance ") << m.instance
              << ": its memory links template " << m.linked << " but ForkOfTemplate names "
              << (m.metadata.empty() ? "none" : m.metadata) << " (" << m.evidence << ")\n";
  }
}

void print_dangling(const std::vector<gc::DanglingFork>& forks) {
  for (const auto& d : forks) {
    std::cout << "  dangling fork " << d.instance << ": ForkOfTemplate names " << d.why << " "
              << d.template_id << " (no event)\n";
  }
}

// An age to a tenth of a second: "8.2 s".
std::string age(std::uint64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ns) / 1e9);
  return text;
}

// The closing line: every kind of finding above that needs a person.
void print_causes(const gc::ReconcilePlan& plan) {
  std::cout << "needs attention: see the";
  const char* sep = " ";
  for (const gc::ReconcilePlan::Finding& f : plan.findings()) {
    if (f.count == 0) continue;
    std::cout << sep << f.name;
    sep = ", ";
  }
  std::cout << " entries above\n";
}

}  // namespace

int cmd_reconcile(const Options& o) {
  auto journal = Journal::open(o.journal, JournalOptions{.sync = o.sync, .read_only = o.dry_run});
  if (!journal) return report(journal.error());
  auto ledger = Ledger::open(*journal);
  if (!ledger) return report(ledger.error());
  gc::ReconcileOptions options;
  options.dry_run = o.dry_run;
  options.fork_grace = *parse_duration(o.fork_grace);  // checked by the option's validator
  auto run = gc::reconcile(*ledger, o.data_root, options);
  if (!run) return report(run.error());
  const gc::ReconcilePlan& plan = run->plan;
  const std::vector<Event> corrections_and_sweeps = run->events();
  const int code = plan.needs_attention() ? 1 : 0;
  if (o.json) {
    json::object out = gc::to_json(*run);
    out.emplace("data_root", o.data_root);
    std::cout << json::serialize(out) << '\n';
    return code;
  }

  std::cout << (o.dry_run ? "dry run: " : "") << "reconciled " << o.data_root << " against seq "
            << plan.based_on_seq << ": " << plan.scanned << " guests entries, "
            << plan.unreadable.size() << " unreadable\n";
  for (const Event& e : corrections_and_sweeps) {
    std::cout << "  " << (o.dry_run ? "would append " : "") << type_name(e.type) << ' '
              << event_details(view(e)) << '\n';
  }
  for (const auto& k : plan.kept_forks) {
    std::cout << "  kept live fork " << k.fork << " of " << k.template_id << ": " << k.why;
    if (!k.proven_by.empty()) {
      std::cout << "; proven by its memory link: " << k.proven_by;
    } else if (!k.readable) {
      std::cout << " (an unreadable fork is still a fork)";
    }
    std::cout << '\n';
  }
  for (const auto& p : plan.pending) {
    std::cout << "  pending fork " << p.fork << " of " << p.template_id << ": no guests/" << p.fork
              << " yet, recorded "
              << (p.seq == 0 ? "at a time not looked up (the look back was cut short)"
                             : age(p.age_ns) + " ago (seq " + std::to_string(p.seq) + ")")
              << "; lost if still missing after the " << o.fork_grace << " grace\n";
  }
  print_link_mismatches(plan.link_mismatches);
  for (const auto& k : plan.kept)
    std::cout << "  kept template " << k.template_id << ": " << k.reason << '\n';
  print_unreadable(plan.unreadable, "unreadable instance");
  for (const auto& l : plan.leftovers) {
    std::cout << "  leftover guests/" << l
              << ": no metadata.json (a delete that did not finish?); remove it by hand\n";
  }
  for (const auto& k : plan.kept_leftovers) {
    std::cout << "  guests/" << k.instance << ": " << k.why
              << ", its metadata.json is missing; keep it\n";
  }
  for (const auto& s : plan.skipped) {
    std::cout << "  skipped guests/" << s.name << ": " << s.why
              << " (never read: it may be any fork)\n";
  }
  for (const auto& h : plan.half_made) {
    std::cout << "  half-made fork guests/" << h.entry.id << ": its metadata.json is "
              << h.entry.names << "'s (a fork that died before writing its own)";
    for (std::size_t i = 0; i < h.templates.size(); ++i) {
      std::cout << (i == 0 ? "; it may need template " : ", ") << h.templates[i];
    }
    std::cout << '\n';
  }
  for (const auto& f : plan.stuck_flags) {
    std::cout << "  stuck template flag on " << f.instance << ": IsTemplate names " << f.why << ' '
              << f.template_id << " (the VM manager will not start or restore it)\n";
  }
  for (const auto& c : plan.link_counts) {
    std::cout << "  template " << c.template_id << ": source memory has " << c.links
              << " other link" << (c.links == 1 ? "" : "s") << ", " << c.found
              << " found under guests/ (links outside the data root, or forks missing)\n";
  }
  print_dangling(plan.dangling);
  const bool any_every = std::any_of(plan.holders.begin(), plan.holders.end(),
                                     [](const gc::Holder& h) { return h.every; });
  for (const auto& h : plan.held) {
    std::cout << "  " << (h.retired ? "files kept: retired template " : "not swept: orphan ")
              << h.template_id << " may share memory with ";
    for (std::size_t i = 0; i < h.holders.size(); ++i) {
      std::cout << (i == 0 ? "" : ", ") << h.holders[i];
    }
    if (any_every) {
      std::cout << (h.holders.empty() ? "" : ", or with ") << "the entries holding every template";
    }
    std::cout << '\n';
  }
  for (const auto& h : plan.holders) {
    std::cout << "  " << h.instance << " holds back ";
    if (h.every) {
      std::cout << "every template";
    } else {
      for (std::size_t i = 0; i < h.templates.size(); ++i) {
        std::cout << (i == 0 ? "" : ", ") << h.templates[i];
      }
    }
    std::cout << ": " << h.why << '\n';
  }
  for (const auto& s : run->left_alone) std::cout << "  left alone: " << s << '\n';
  for (const auto& s : plan.retired_with_files) {
    std::cout << "  retired template " << s << " still has files under templates/\n";
  }
  if (o.dry_run) {
    std::cout << "nothing written (dry run)\n";
  } else if (run->committed) {
    std::cout << "appended seqs " << run->first_seq << "-" << run->last_seq
              << " (reconcile_run marker at seq " << run->last_seq << ")\n";
  } else if (!run->left_alone.empty()) {
    std::cout << "nothing appended: every planned event was left alone (the journal changed "
                 "since the scan; the next run plans again)\n";
  } else if (!plan.pending.empty()) {
    std::cout << "nothing appended: the pending forks are weighed again at the next run\n";
  } else {
    std::cout << "the journal already agrees with the disk: nothing appended\n";
  }
  if (code != 0) print_causes(plan);
  return code;
}

int cmd_import(const Options& o) {
  auto journal = Journal::open(o.journal, JournalOptions{.sync = o.sync});
  if (!journal) return report(journal.error());
  auto ledger = Ledger::open(*journal);
  if (!ledger) return report(ledger.error());
  auto run = gc::import_data_root(*ledger, o.data_root);
  if (!run) return report(run.error());
  const int code = run->needs_attention() ? 1 : 0;
  std::uint32_t templates = 0, forks = 0;
  for (const Event& e : run->events) (e.type == EventType::fork_added ? forks : templates) += 1;
  if (o.json) {
    json::array mismatches, linked, leftovers, half_made;
    for (const auto& l : run->linked) {
      linked.push_back(json::object{
          {"instance", l.instance}, {"template", l.template_id}, {"evidence", l.evidence}});
    }
    for (const auto& l : run->leftovers) leftovers.push_back(json::string(l));
    for (const auto& h : run->half_made) {
      half_made.push_back(json::object{{"instance", h.id}, {"names", h.names}});
    }
    for (const auto& m : run->mismatches) {
      mismatches.push_back(json::object{{"template", m.template_id},
                                        {"recorded_fork_count", m.recorded},
                                        {"proven_forks", m.proven}});
    }
    json::object out{{"data_root", o.data_root},
                     {"scanned", run->scanned},
                     {"templates", templates},
                     {"forks", forks},
                     {"first_seq", run->first_seq},
                     {"last_seq", run->last_seq},
                     {"unreadable", gc::to_json(run->unreadable)},
                     {"linked", std::move(linked)},
                     {"leftovers", std::move(leftovers)},
                     {"half_made", std::move(half_made)},
                     {"link_mismatches", gc::to_json(run->link_mismatches)},
                     {"unreadable_templates", gc::to_json(run->unreadable_templates)},
                     {"dangling", gc::to_json(run->dangling)},
                     {"fork_count_mismatches", std::move(mismatches)},
                     {"needs_attention", run->needs_attention()}};
    std::cout << json::serialize(out) << '\n';
    return code;
  }
  std::cout << "imported " << templates << " template" << (templates == 1 ? "" : "s") << " and "
            << forks << " provable fork" << (forks == 1 ? "" : "s") << " from " << o.data_root;
  if (run->first_seq != 0) std::cout << " (seqs " << run->first_seq << "-" << run->last_seq << ")";
  std::cout << '\n';
  for (const auto& m : run->mismatches) {
    std::cout << "  template " << m.template_id << ": template.json says fork_count " << m.recorded
              << ", " << m.proven << " fork" << (m.proven == 1 ? "" : "s")
              << " proven on disk (the journal records what was proven)\n";
  }
  for (const auto& l : run->linked) {
    std::cout << "  imported " << l.instance << " as a fork of " << l.template_id
              << " on its memory link alone (its metadata is unreadable): " << l.evidence << '\n';
  }
  print_unreadable(run->unreadable, "unreadable instance");
  for (const auto& l : run->leftovers) {
    std::cout << "  leftover guests/" << l << ": no metadata.json; not imported\n";
  }
  for (const auto& h : run->half_made) {
    std::cout << "  half-made fork guests/" << h.id << ": its metadata.json is " << h.names
              << "'s; not imported\n";
  }
  print_link_mismatches(run->link_mismatches);
  print_unreadable(run->unreadable_templates, "unreadable template");
  print_dangling(run->dangling);
  if (code != 0) {
    std::cout << "needs attention: unreadable, leftover or half-made instances may be forks; fix "
                 "their metadata, then run 'forkjournal reconcile'\n";
  }
  return code;
}

}  // namespace fj::cli
