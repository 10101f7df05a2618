#include "projector/projection.h"

#include <algorithm>

namespace fj {

std::string_view state_name(TemplateState s) noexcept {
  return s == TemplateState::active ? "active" : "retired";
}

std::string_view anomaly_name(AnomalyKind k) noexcept {
  switch (k) {
    case AnomalyKind::duplicate_template:
      return "duplicate_template";
    case AnomalyKind::unknown_template:
      return "unknown_template";
    case AnomalyKind::retired_template:
      return "retired_template";
    case AnomalyKind::fork_already_live:
      return "fork_already_live";
    case AnomalyKind::not_a_member:
      return "not_a_member";
    case AnomalyKind::retire_with_live_forks:
      return "retire_with_live_forks";
    case AnomalyKind::already_retired:
      return "already_retired";
  }
  return "unknown";
}

const Template* Projection::find(std::string_view template_id) const {
  const auto it = template_index_.find(template_id);
  return it == template_index_.end() ? nullptr : &templates_[it->second];
}

Template* Projection::find_mut(std::string_view template_id) {
  const auto it = template_index_.find(template_id);
  return it == template_index_.end() ? nullptr : &templates_[it->second];
}

const Template* Projection::owner(std::string_view fork) const {
  const auto it = forks_.find(fork);
  return it == forks_.end() ? nullptr : &templates_[it->second];
}

std::optional<std::pair<const Template*, std::uint64_t>> Projection::lost(
    std::string_view fork) const {
  const auto it = lost_.find(fork);
  if (it == lost_.end()) return std::nullopt;
  return std::pair{&templates_[it->second.template_index], it->second.seq};
}

std::vector<const Template*> Projection::templates() const {
  std::vector<const Template*> out;
  out.reserve(templates_.size());
  for (const Template& t : templates_) out.push_back(&t);
  std::sort(out.begin(), out.end(),
            [](const Template* a, const Template* b) { return a->id.view() < b->id.view(); });
  return out;
}

std::vector<std::string> Projection::live_forks(std::string_view template_id) const {
  std::vector<std::string> out;
  const auto it = template_index_.find(template_id);
  if (it == template_index_.end()) return out;
  for (const auto& [fork, index] : forks_) {
    if (index == it->second) out.push_back(fork.str());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string_view, const Template*>> Projection::all_live_forks() const {
  std::vector<std::pair<std::string_view, const Template*>> out;
  out.reserve(forks_.size());
  for (const auto& [fork, index] : forks_) out.emplace_back(fork.view(), &templates_[index]);
  std::sort(out.begin(), out.end());
  return out;
}

void Projection::reserve(std::size_t templates, std::size_t live_forks, std::size_t lost_forks) {
  templates_.reserve(templates);
  template_index_.reserve(templates);
  forks_.reserve(live_forks);
  lost_.reserve(lost_forks);
}

void Projection::anomaly(std::uint64_t seq, AnomalyKind kind, const EventView& e) {
  anomalies_.push_back(Anomaly{seq, kind, std::string(e.template_id), std::string(e.fork)});
}

void Projection::add_fork(std::uint64_t seq, const EventView& e) {
  const auto t = template_index_.find(e.template_id);
  if (t == template_index_.end()) return anomaly(seq, AnomalyKind::unknown_template, e);
  Template& tpl = templates_[t->second];
  if (tpl.state != TemplateState::active) return anomaly(seq, AnomalyKind::retired_template, e);
  if (!forks_.insert(e.fork, t->second)) return anomaly(seq, AnomalyKind::fork_already_live, e);
  ++tpl.forks;
  tpl.last_seq = seq;
  if (!lost_.empty()) lost_.erase(e.fork);
}

void Projection::remove_fork(std::uint64_t seq, const EventView& e) {
  // One lookup in the common case: the fork's owner is the named template.
  const auto it = forks_.find(e.fork);
  if (it == forks_.end() || !IdEqual::same(templates_[it->second].id.view(), e.template_id)) {
    const bool known = template_index_.contains(e.template_id);
    return anomaly(seq, known ? AnomalyKind::not_a_member : AnomalyKind::unknown_template, e);
  }
  const std::uint32_t index = it->second;
  forks_.erase(it);
  Template& tpl = templates_[index];
  --tpl.forks;
  tpl.last_seq = seq;
  if (e.type == EventType::fork_lost) lost_.insert_or_assign(Id(e.fork), LostFork{index, seq});
}

void Projection::apply(std::uint64_t seq, const EventView& e) {
  seq_ = seq;
  switch (e.type) {
    case EventType::fork_added:
    case EventType::fork_recovered:
      return add_fork(seq, e);
    case EventType::fork_removed:
    case EventType::fork_lost:
      return remove_fork(seq, e);
    case EventType::template_registered: {
      const auto index = static_cast<std::uint32_t>(templates_.size());
      if (!template_index_.try_emplace(Id(e.template_id), index).second) {
        return anomaly(seq, AnomalyKind::duplicate_template, e);
      }
      templates_.push_back(Template{Id(e.template_id), Id(e.source), std::string(e.name),
                                    TemplateState::active, 0, seq, seq});
      return;
    }
    case EventType::template_retired: {
      Template* tpl = find_mut(e.template_id);
      if (tpl == nullptr) return anomaly(seq, AnomalyKind::unknown_template, e);
      if (tpl->state == TemplateState::retired) {
        return anomaly(seq, AnomalyKind::already_retired, e);
      }
      tpl->state = TemplateState::retired;
      tpl->last_seq = seq;
      if (tpl->forks != 0) anomaly(seq, AnomalyKind::retire_with_live_forks, e);
      return;
    }
    case EventType::reconcile_run:
      return;
  }
}

bool operator==(const Projection& a, const Projection& b) {
  if (a.seq_ != b.seq_ || a.templates_.size() != b.templates_.size() ||
      a.anomalies_ != b.anomalies_ || a.forks_.size() != b.forks_.size() ||
      a.lost_.size() != b.lost_.size()) {
    return false;
  }
  // Templates may be stored in another order only if registration order
  // differs, which cannot happen for the same log; compare by id anyway.
  for (const Template& t : a.templates_) {
    const Template* u = b.find(t.id.view());
    if (u == nullptr || !(t == *u)) return false;
  }
  for (const auto& [fork, index] : a.forks_) {
    const Template* other = b.owner(fork.view());
    if (other == nullptr || other->id != a.templates_[index].id) return false;
  }
  for (const auto& [fork, lost] : a.lost_) {
    const auto other = b.lost(fork.view());
    if (!other || other->first->id != a.templates_[lost.template_index].id ||
        other->second != lost.seq) {
      return false;
    }
  }
  return true;
}

}  // namespace fj
