#include "gc/importer.h"

#include "gc/internal/evidence.h"

#include <map>

namespace fj::gc {

ImportReport plan_import(const ScanResult& scan, std::uint64_t time_ns) {
  ImportReport report;
  report.scanned = static_cast<std::uint32_t>(scan.scanned());
  report.half_made = scan.half_made;
  report.unreadable_templates = scan.unreadable_templates;

  const auto imported_event = [&](EventType type, const std::string& template_id) {
    Event e;
    e.type = type;
    e.origin = Origin::import;
    e.time_ns = time_ns;
    e.template_id = template_id;
    return e;
  };
  std::map<std::string, std::uint32_t, std::less<>> proven;
  for (const TemplateRecord& t : scan.templates) {
    Event e = imported_event(EventType::template_registered, t.id);
    e.source = t.source;
    e.name = t.name;
    report.events.push_back(std::move(e));
    proven[t.id] = 0;
  }
  for (const Instance& in : scan.instances) {
    if (in.fork_of.empty()) continue;
    const auto it = proven.find(in.fork_of);
    if (it == proven.end()) {
      report.dangling.push_back(DanglingFork{in.id, in.fork_of, "unknown template"});
      continue;
    }
    ++it->second;
    Event e = imported_event(EventType::fork_added, in.fork_of);
    e.fork = in.id;
    report.events.push_back(std::move(e));
  }
  // The same evidence as the reconciler's, against what is imported so far.
  Projection imported;
  std::uint64_t seq = 0;
  for (const Event& e : report.events) imported.apply(++seq, view(e));
  const MemoryIndex links(imported, scan);
  for (const UnreadableFile& u : scan.unreadable) {
    if (u.reason == Unreadable::missing) {
      report.leftovers.push_back(u.id);
      continue;
    }
    const Attribution a = links.attribute(u.id);
    if (links.is_source(u.id) || a.templates.size() != 1) {
      report.unreadable.push_back(u);
      continue;
    }
    report.linked.push_back(LinkedImport{u.id, a.templates[0], a.evidence});
    ++proven[a.templates[0]];
    Event e;
    e.type = EventType::fork_added;
    e.origin = Origin::import;
    e.time_ns = time_ns;
    e.template_id = a.templates[0];
    e.fork = u.id;
    report.events.push_back(std::move(e));
  }
  // Readable forks whose memory links another template than they name.
  for (const Instance& in : scan.instances) {
    const Attribution a = links.attribute(in.id);
    for (const std::string& linked : a.templates) {
      if (linked == in.fork_of || links.is_source_of(in.id, linked)) continue;
      report.link_mismatches.push_back(
          LinkMismatch{in.id, linked, in.fork_of, a.evidence, imported.owner(in.id) != nullptr});
    }
  }
  for (const TemplateRecord& t : scan.templates) {
    const std::uint32_t found = proven[t.id];
    if (t.fork_count && *t.fork_count != static_cast<std::int64_t>(found)) {
      report.mismatches.push_back(CountMismatch{t.id, *t.fork_count, found});
    }
  }
  return report;
}

Result<ImportReport> import_data_root(Ledger& ledger, const std::string& data_root,
                                      const ScanOptions& options) {
  auto scanned = scan(data_root, options);
  if (!scanned) return scanned.error();
  ImportReport report = plan_import(*scanned, ledger.now());
  auto outcome = ledger.transact([&](const Projection& head, Reader&) -> Result<Decision> {
    if (head.seq() != 0) {
      return make_error(Errc::not_empty, "the journal already holds " + std::to_string(head.seq()) +
                                             " events; import only bootstraps an empty journal");
    }
    return Decision{report.events, 0};
  });
  if (!outcome) return outcome.error();
  report.first_seq = outcome->first_seq;
  report.last_seq = outcome->last_seq;
  return report;
}

}  // namespace fj::gc
