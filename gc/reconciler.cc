#include "gc/reconciler.h"

#include <boost/unordered/unordered_flat_set.hpp>

#include <algorithm>

namespace fj::gc {
namespace {

std::string metadata_evidence(const std::string& id, const std::string& fork_of) {
  return "guests/" + id + "/metadata.json: ForkOfTemplate=\"" + fork_of + "\"";
}

Event correction(EventType type, std::string tpl, std::string fork, Reason reason,
                 std::string evidence, std::uint64_t time_ns) {
  Event e;
  e.type = type;
  e.origin = Origin::reconcile;
  e.time_ns = time_ns;
  e.template_id = std::move(tpl);
  e.fork = std::move(fork);
  e.reason = reason;
  e.evidence = std::move(evidence);
  return e;
}

const Template* active(const Projection& state, std::string_view id) {
  const Template* t = state.find(id);
  return t != nullptr && t->state == TemplateState::active ? t : nullptr;
}

void dangle(ReconcilePlan& plan, const Projection& state, const Instance& in) {
  const Template* t = state.find(in.fork_of);
  plan.dangling.push_back(
      DanglingFork{in.id, in.fork_of, t == nullptr ? "unknown template" : "retired template"});
}

}  // namespace

ReconcilePlan plan_reconcile(const Projection& state, const ScanResult& scan,
                             std::uint64_t time_ns) {
  ReconcilePlan plan;
  plan.based_on_seq = state.seq();
  plan.scanned = static_cast<std::uint32_t>(scan.scanned());
  plan.unreadable = scan.unreadable;
  // Net change per template from the corrections (for the sweep).
  boost::unordered_flat_map<std::string, std::int64_t> delta;

  // Rule 2: every live fork.
  for (const auto& [fork_view, tpl] : state.all_live_forks()) {
    const std::string fork(fork_view);
    const std::string tid = tpl->id.str();
    if (!scan.has_entry(fork)) {
      plan.corrections.push_back(correction(EventType::fork_lost, tid, fork,
                                            Reason::instance_missing,
                                            "guests/" + fork + ": no such directory", time_ns));
      --delta[tid];
      continue;
    }
    const Instance* in = scan.find(fork);
    if (in == nullptr) {  // present but unreadable or not an instance: fail closed
      const UnreadableFile* u = scan.find_unreadable(fork);
      std::string why = u != nullptr ? std::string(unreadable_name(u->reason)) : "not an instance";
      if (u == nullptr) {
        for (const Skipped& s : scan.skipped) {
          if (s.name == fork) why = s.why;
        }
      }
      plan.kept_forks.push_back(KeptFork{fork, tid, why});
      continue;
    }
    if (in->fork_of == tid) continue;
    const std::string evidence = metadata_evidence(fork, in->fork_of);
    plan.corrections.push_back(
        correction(EventType::fork_lost, tid, fork, Reason::metadata_disagrees, evidence, time_ns));
    --delta[tid];
    if (in->fork_of.empty()) continue;
    if (active(state, in->fork_of) != nullptr) {
      plan.corrections.push_back(correction(EventType::fork_recovered, in->fork_of, fork,
                                            Reason::metadata_disagrees, evidence, time_ns));
      ++delta[in->fork_of];
    } else {
      dangle(plan, state, *in);
    }
  }

  // Rule 3: forks on disk the projection lacks.
  for (const Instance& in : scan.instances) {
    if (in.fork_of.empty() || state.owner(in.id) != nullptr) continue;
    if (active(state, in.fork_of) == nullptr) {
      dangle(plan, state, in);
      continue;
    }
    plan.corrections.push_back(correction(EventType::fork_recovered, in.fork_of, in.id,
                                          Reason::untracked_fork,
                                          metadata_evidence(in.id, in.fork_of), time_ns));
    ++delta[in.fork_of];
  }

  // Rule 4: the sweep.
  std::vector<const Template*> orphans;
  for (const Template* t : state.templates()) {
    if (t->state == TemplateState::retired) {
      if (scan.has_template_dir(t->id.view())) plan.retired_with_files.push_back(t->id.str());
      continue;
    }
    if (scan.has_entry(t->source.view())) continue;
    const auto it = delta.find(t->id.str());
    const std::int64_t forks =
        static_cast<std::int64_t>(t->forks) + (it == delta.end() ? 0 : it->second);
    if (forks > 0) {
      plan.kept.push_back(KeptTemplate{
          t->id.str(), t->source.str(), static_cast<std::uint32_t>(forks),
          "source instance " + t->source.str() + " is gone but " + std::to_string(forks) +
              " live fork" + (forks == 1 ? " needs" : "s need") + " the template"});
    } else {
      orphans.push_back(t);
    }
  }
  if (!orphans.empty() && !scan.unreadable.empty()) {
    plan.sweep_blocked = std::to_string(scan.unreadable.size()) + " unreadable instance" +
                         (scan.unreadable.size() == 1 ? "" : "s") +
                         ": nothing is swept while any "
                         "instance is unreadable (" +
                         std::to_string(orphans.size()) + " orphan" +
                         (orphans.size() == 1 ? "" : "s") + " waiting)";
    orphans.clear();
  }
  for (const Template* t : orphans) {
    Event e;
    e.type = EventType::template_retired;
    e.origin = Origin::sweep;
    e.time_ns = time_ns;
    e.template_id = t->id.str();
    e.reason = Reason::orphaned;
    plan.sweeps.push_back(std::move(e));
  }
  return plan;
}

namespace {

// Re-checks the plan against the head and returns what is still right to
// append, followed by the reconcile_run marker (nothing at all when no
// correction or sweep survives).
Result<Decision> recheck(const ReconcilePlan& plan, const Projection& head, Reader& reader,
                         std::vector<std::string>& left_alone, std::vector<Event>& appended,
                         std::uint64_t time_ns) {
  left_alone.clear();
  appended.clear();
  boost::unordered_flat_set<std::string> forks, templates;
  auto touched = reader.for_each(plan.based_on_seq + 1, head.seq(),
                                 [&](std::uint64_t seq, std::string_view record) -> Result<void> {
                                   auto e = decode(seq, record);
                                   if (!e) return e.error();
                                   if (has_fork(e->type)) forks.emplace(e->fork);
                                   if (!e->template_id.empty()) templates.emplace(e->template_id);
                                   return {};
                                 });
  if (!touched) return touched.error();

  Projection scratch = head;
  std::uint64_t seq = head.seq();
  std::uint32_t corrections = 0, swept = 0;
  auto consider = [&](const Event& e) {
    const bool is_sweep = e.type == EventType::template_retired;
    std::string subject = is_sweep ? "sweep of template " + e.template_id
                                   : std::string(type_name(e.type)) + " of fork " + e.fork;
    if (is_sweep ? templates.contains(e.template_id) : forks.contains(e.fork)) {
      left_alone.push_back(subject + ": changed after seq " + std::to_string(plan.based_on_seq));
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
      left_alone.push_back(subject + ": no longer true at seq " + std::to_string(head.seq()));
      return;
    }
    scratch.apply(++seq, view(e));
    appended.push_back(e);
    (is_sweep ? swept : corrections) += 1;
  };
  for (const Event& e : plan.corrections) consider(e);
  for (const Event& e : plan.sweeps) consider(e);
  if (appended.empty()) return Decision{};

  Decision decision{appended, 0};
  Event marker;
  marker.type = EventType::reconcile_run;
  marker.origin = Origin::reconcile;
  marker.time_ns = time_ns;
  marker.run =
      ReconcileStats{plan.based_on_seq, plan.scanned,
                     static_cast<std::uint32_t>(plan.unreadable.size()), corrections, swept};
  decision.events.push_back(std::move(marker));
  return decision;
}

}  // namespace

std::vector<Event> ReconcileReport::events() const {
  if (!dry_run) return appended;
  std::vector<Event> all = plan.corrections;
  all.insert(all.end(), plan.sweeps.begin(), plan.sweeps.end());
  return all;
}

Result<ReconcileReport> reconcile(Ledger& ledger, const std::string& data_root,
                                  const ReconcileOptions& options) {
  if (auto ok = ledger.catch_up(); !ok) return ok.error();
  auto scanned = scan(data_root, options.scan);
  if (!scanned) return scanned.error();
  return apply_plan(ledger, plan_reconcile(ledger.projection(), *scanned, ledger.now()), *scanned,
                    options);
}

Result<ReconcileReport> apply_plan(Ledger& ledger, ReconcilePlan plan, const ScanResult& scan,
                                   const ReconcileOptions& options) {
  ReconcileReport report;
  report.plan = std::move(plan);
  report.dry_run = options.dry_run;
  if (options.dry_run) return report;

  const std::uint64_t time_ns = ledger.now();
  auto outcome = ledger.transact([&](const Projection& head, Reader& reader) {
    return recheck(report.plan, head, reader, report.left_alone, report.appended, time_ns);
  });
  if (!outcome) return outcome.error();
  report.committed = outcome->first_seq != 0;
  report.first_seq = outcome->first_seq;
  report.last_seq = outcome->last_seq;

  if (options.remove_template_files) {
    std::vector<std::string> targets = report.plan.retired_with_files;
    for (const Event& e : report.appended) {
      if (e.type == EventType::template_retired && scan.has_template_dir(e.template_id)) {
        targets.push_back(e.template_id);
      }
    }
    for (const std::string& id : targets) {
      if (auto ok = options.remove_template_files(id); ok) {
        report.files_removed.push_back(id);
      } else {
        report.file_errors.push_back(id + ": " + ok.error().message);
      }
    }
  }
  return report;
}

}  // namespace fj::gc
