#include "gc/internal/recheck.h"

namespace fj::gc {

Recheck recheck(const ReconcilePlan& plan, const Projection& head, const TouchedSince& touched,
                std::uint64_t time_ns) {
  Recheck out;
  Projection scratch = head;
  std::uint64_t seq = head.seq();
  std::uint32_t corrections = 0, swept = 0;
  // The sweeps were weighed against holds that assume the plan's recoveries:
  // an instance being recovered holds nothing. When a recovery is left
  // alone, that instance is counted nowhere and may be any orphan's, so no
  // sweep commits; the next run plans them again. (A fork count is checked
  // for each sweep below.)
  bool recovery_left_alone = false;
  auto consider = [&](const Event& e) {
    const bool is_sweep = e.type == EventType::template_retired;
    std::string subject = is_sweep ? "sweep of template " + e.template_id
                                   : std::string(type_name(e.type)) + " of fork " + e.fork;
    if (is_sweep && recovery_left_alone) {
      out.left_alone.push_back(subject + ": planned beside a recovery left alone");
      return;
    }
    if (is_sweep ? touched.templates.contains(e.template_id) : touched.forks.contains(e.fork)) {
      out.left_alone.push_back(subject + ": changed after seq " +
                               std::to_string(plan.based_on_seq));
      return;
    }
    const Template* t = scratch.find(e.template_id);
    const Template* owner = has_fork(e.type) ? scratch.owner(e.fork) : nullptr;
    const bool still_right =
        t != nullptr && (e.type == EventType::fork_lost ? owner == t
                         : e.type == EventType::fork_recovered
                             ? owner == nullptr && t->state == TemplateState::active
                             : t->state == TemplateState::active && t->forks == 0);
    if (!still_right) {
      out.left_alone.push_back(subject + ": no longer true at seq " + std::to_string(head.seq()));
      return;
    }
    scratch.apply(++seq, view(e));
    out.still_right.push_back(e);
    (is_sweep ? swept : corrections) += 1;
  };
  for (const Event& e : plan.corrections) {
    const std::size_t before = out.left_alone.size();
    consider(e);
    recovery_left_alone |= e.type == EventType::fork_recovered && out.left_alone.size() > before;
  }
  for (const Event& e : plan.sweeps) consider(e);
  if (out.still_right.empty()) return out;

  out.decision.events = out.still_right;
  Event marker;
  marker.type = EventType::reconcile_run;
  marker.origin = Origin::reconcile;
  marker.time_ns = time_ns;
  marker.run =
      ReconcileStats{plan.based_on_seq, plan.scanned,
                     static_cast<std::uint32_t>(plan.unreadable.size() + plan.leftovers.size() +
                                                plan.kept_leftovers.size() + plan.half_made.size()),
                     corrections, swept};
  out.decision.events.push_back(std::move(marker));
  return out;
}

}  // namespace fj::gc
