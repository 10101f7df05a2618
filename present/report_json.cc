#include "present/report_json.h"

namespace fj::gc {

namespace json = boost::json;

json::array to_json(const std::vector<UnreadableFile>& files) {
  json::array out;
  for (const auto& u : files) {
    out.push_back(json::object{
        {"instance", u.id}, {"reason", unreadable_name(u.reason)}, {"detail", u.detail}});
  }
  return out;
}

json::array to_json(const std::vector<DanglingFork>& forks) {
  json::array out;
  for (const auto& d : forks) {
    out.push_back(
        json::object{{"instance", d.instance}, {"template", d.template_id}, {"reason", d.why}});
  }
  return out;
}

json::array to_json(const std::vector<LinkMismatch>& mismatches) {
  json::array out;
  for (const auto& m : mismatches) {
    out.push_back(json::object{{"instance", m.instance},
                               {"linked", m.linked},
                               {"metadata", m.metadata},
                               {"evidence", m.evidence},
                               {"live", m.live}});
  }
  return out;
}

json::object to_json(const ReconcileReport& report) {
  const ReconcilePlan& plan = report.plan;
  json::array corrections, swept, kept, kept_forks, left_alone, retired_files;
  for (const Event& e : report.events()) {
    if (e.type == EventType::template_retired) {
      swept.push_back(json::string(e.template_id));
      continue;
    }
    corrections.push_back(json::object{{"type", type_name(e.type)},
                                       {"template", e.template_id},
                                       {"fork", e.fork},
                                       {"reason", reason_name(e.reason)},
                                       {"evidence", e.evidence}});
  }
  for (const auto& k : plan.kept) {
    kept.push_back(json::object{{"template", k.template_id},
                                {"source", k.source},
                                {"forks", k.forks},
                                {"reason", k.reason}});
  }
  for (const auto& k : plan.kept_forks) {
    kept_forks.push_back(json::object{
        {"fork", k.fork},
        {"template", k.template_id},
        {"reason", k.why},
        {"proven_by", k.proven_by.empty() ? json::value(nullptr) : json::value(k.proven_by)}});
  }
  json::array pending;
  for (const auto& p : plan.pending) {
    pending.push_back(json::object{
        {"fork", p.fork},
        {"template", p.template_id},
        {"seq", p.seq == 0 ? json::value(nullptr) : json::value(p.seq)},
        {"age_seconds",
         p.seq == 0 ? json::value(nullptr) : json::value(static_cast<double>(p.age_ns) / 1e9)}});
  }
  json::array leftovers, half_made, holders, held, link_counts, stuck;
  for (const auto& l : plan.leftovers) leftovers.push_back(json::string(l));
  json::array skipped;
  for (const auto& k : plan.skipped)
    skipped.push_back(json::object{{"entry", k.name}, {"reason", k.why}});
  json::array kept_leftovers;
  for (const auto& k : plan.kept_leftovers) {
    kept_leftovers.push_back(json::object{{"instance", k.instance}, {"reason", k.why}});
  }
  for (const auto& h : plan.half_made) {
    json::array templates;
    for (const auto& t : h.templates) templates.push_back(json::string(t));
    half_made.push_back(json::object{
        {"instance", h.entry.id}, {"names", h.entry.names}, {"templates", std::move(templates)}});
  }
  for (const auto& h : plan.holders) {
    json::array templates;
    for (const auto& t : h.templates) templates.push_back(json::string(t));
    holders.push_back(json::object{{"instance", h.instance},
                                   {"reason", h.why},
                                   {"every_template", h.every},
                                   {"templates", std::move(templates)}});
  }
  for (const auto& h : plan.held) {
    json::array by;
    for (const auto& x : h.holders) by.push_back(json::string(x));
    held.push_back(json::object{
        {"template", h.template_id}, {"retired", h.retired}, {"holders", std::move(by)}});
  }
  for (const auto& c : plan.link_counts) {
    link_counts.push_back(json::object{
        {"template", c.template_id}, {"source", c.source}, {"links", c.links}, {"found", c.found}});
  }
  for (const auto& f : plan.stuck_flags) {
    stuck.push_back(
        json::object{{"instance", f.instance}, {"template", f.template_id}, {"reason", f.why}});
  }
  for (const auto& s : report.left_alone) left_alone.push_back(json::string(s));
  for (const auto& s : plan.retired_with_files) retired_files.push_back(json::string(s));
  return json::object{
      {"based_on_seq", plan.based_on_seq},
      {"scanned", plan.scanned},
      {"dry_run", report.dry_run},
      {"corrections", std::move(corrections)},
      {"swept", std::move(swept)},
      {"kept", std::move(kept)},
      {"kept_forks", std::move(kept_forks)},
      {"pending", std::move(pending)},
      {"unreadable", to_json(plan.unreadable)},
      {"dangling", to_json(plan.dangling)},
      {"leftovers", std::move(leftovers)},
      {"kept_leftovers", std::move(kept_leftovers)},
      {"half_made", std::move(half_made)},
      {"skipped", std::move(skipped)},
      {"holders", std::move(holders)},
      {"held", std::move(held)},
      {"link_mismatches", to_json(plan.link_mismatches)},
      {"link_counts", std::move(link_counts)},
      {"stuck_flags", std::move(stuck)},
      {"sweep_blocked",
       plan.sweep_blocked.empty() ? json::value(nullptr) : json::value(plan.sweep_blocked)},
      {"left_alone", std::move(left_alone)},
      {"retired_with_files", std::move(retired_files)},
      {"committed", report.committed},
      {"first_seq", report.first_seq},
      {"last_seq", report.last_seq},
      {"needs_attention", plan.needs_attention()}};
}

}  // namespace fj::gc
