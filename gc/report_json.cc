#include "gc/report_json.h"

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
    kept_forks.push_back(
        json::object{{"fork", k.fork}, {"template", k.template_id}, {"reason", k.why}});
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
      {"unreadable", to_json(plan.unreadable)},
      {"dangling", to_json(plan.dangling)},
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
