#include "bench/workload.h"

#include <algorithm>
#include <deque>

namespace fj::bench {
namespace {

// Events are 1 ms apart, starting on 2025-11-24.
constexpr std::uint64_t kStartNs = 1'764'000'000'000'000'000ull;
constexpr std::uint64_t kStepNs = 1'000'000;

}  // namespace

std::string_view shape_name(Shape s) noexcept {
  switch (s) {
    case Shape::steady:
      return "steady";
    case Shape::growing:
      return "growing";
    case Shape::soak:
      return "soak";
  }
  return "unknown";
}

std::uint32_t default_templates(Shape s) noexcept {
  switch (s) {
    case Shape::steady:
      return 100;
    case Shape::growing:
      return 2'000;
    case Shape::soak:
      return 20'000;
  }
  return 100;
}

std::uint32_t default_live_forks(Shape s) noexcept {
  switch (s) {
    case Shape::steady:
      return 10'000;
    case Shape::growing:
      return 40'000;
    case Shape::soak:
      return 65'000;
  }
  return 10'000;
}

std::string make_id(std::string_view prefix, std::mt19937_64& rng) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string id(prefix);
  std::uint64_t bits = 0;
  for (int left = 0; id.size() < kIdLength; --left) {
    if (left == 0) {
      bits = rng();
      left = 12;  // 36^12 < 2^64
    }
    id.push_back(kDigits[bits % 36]);
    bits /= 36;
  }
  return id;
}

// Builds a Workload step by step while tracking the state it implies.
class WorkloadBuilder {
 public:
  explicit WorkloadBuilder(const WorkloadSpec& spec) : spec_(spec), rng_(spec.seed) {
    w_.steps_.reserve(spec.events);
  }

  Workload run() {
    const std::uint64_t n = spec_.events;
    const std::uint32_t k = std::max<std::uint32_t>(spec_.templates, 1);
    const std::uint64_t ramp_end = std::max<std::uint64_t>(growing() ? n : n / 10, 1);
    const std::uint64_t rotate_every = n / 20;
    const std::uint64_t reconcile_every = n / 50;
    std::uint64_t next_rotation = ramp_end + rotate_every;
    std::uint64_t next_reconcile = reconcile_every;
    std::uint32_t initial = 0;

    while (!full()) {
      const std::uint64_t i = w_.steps_.size();
      if (initial < k && i >= initial * ramp_end / k) {
        register_template();
        ++initial;
      } else if (rotate_every != 0 && i >= next_rotation) {
        rotate();
        next_rotation += rotate_every;
      } else if (reconcile_every != 0 && i >= next_reconcile) {
        reconcile(i);
        next_reconcile += reconcile_every;
      } else if (active_.empty()) {
        register_template();
      } else if (live_.empty() || rng_() % 1'000'000 < fork_odds_ppm()) {
        fork(Origin::api);
      } else {
        unfork(rng_() % live_.size(), EventType::fork_removed);
      }
    }
    WorkloadTotals& t = w_.totals_;
    t.templates_registered = w_.templates_.size();
    t.templates_active = active_.size();
    t.live_forks = live_.size();
    for (const auto& s : w_.steps_) ++t.by_type[static_cast<std::size_t>(s.type)];
    return std::move(w_);
  }

 private:
  bool full() const { return w_.steps_.size() >= spec_.events; }
  bool growing() const { return spec_.shape != Shape::steady; }

  bool push(Workload::Step s) {
    if (full()) return false;
    w_.steps_.push_back(s);
    return true;
  }

  // Probability (parts per million) that the next fork/unfork is a fork:
  // 0.5 at the target, higher below it, lower above it.
  std::uint64_t fork_odds_ppm() const {
    double target = spec_.live_forks;
    if (growing() && target > 0) {
      // At least one fork, so that the start of the log is not all unforks.
      target = std::max(1.0, target * static_cast<double>(w_.steps_.size() + 1) /
                                 static_cast<double>(spec_.events));
    }
    if (target <= 0) return 0;
    const double p = 0.5 + 0.5 * (target - static_cast<double>(live_.size())) / target;
    return static_cast<std::uint64_t>(std::clamp(p, 0.02, 0.98) * 1e6);
  }

  void register_template() {
    const auto t = static_cast<std::uint32_t>(w_.templates_.size());
    if (!push({EventType::template_registered, Reason::none, Origin::api, 0, t, 0, 0})) return;
    w_.templates_.push_back({make_id("tpl", rng_), make_id("src", rng_),
                             "standby-" + std::to_string(t) + " (web, 2 vCPU)"});
    active_.push_back(t);
  }

  std::uint32_t new_fork(std::uint32_t tpl) {
    const auto f = static_cast<std::uint32_t>(fork_tpl_.size());
    w_.fork_ids_ += make_id("frk", rng_);
    fork_tpl_.push_back(tpl);
    return f;
  }

  // A new fork of a random active template: fork_added, or with a reason the
  // reconciler's fork_recovered.
  void fork(Origin origin, Reason reason = Reason::none) {
    if (full()) return;
    const std::uint32_t tpl = active_[rng_() % active_.size()];
    const EventType type =
        reason == Reason::none ? EventType::fork_added : EventType::fork_recovered;
    const std::uint32_t f = new_fork(tpl);
    std::uint32_t evidence = 0;
    if (reason != Reason::none) {
      w_.evidence_.push_back("guests/" + std::string(w_.fork_id(f)) +
                             "/metadata.json: ForkOfTemplate=" + w_.templates_[tpl].id +
                             ", not live in the journal");
      evidence = static_cast<std::uint32_t>(w_.evidence_.size() - 1);
    }
    push({type, reason, origin, 0, tpl, f, evidence});
    live_.push_back(f);
  }

  // Removes live_[index] with a fork_removed or a fork_lost.
  void unfork(std::size_t index, EventType type) {
    const std::uint32_t f = live_[index];
    Workload::Step s{type, Reason::none, Origin::api, 0, fork_tpl_[f], f, 0};
    if (type == EventType::fork_lost) {
      s.reason = Reason::instance_missing;
      s.origin = Origin::reconcile;
      w_.evidence_.push_back("guests/" + std::string(w_.fork_id(f)) +
                             "/metadata.json: no such file or directory");
      s.extra = static_cast<std::uint32_t>(w_.evidence_.size() - 1);
    }
    if (!push(s)) return;
    if (type == EventType::fork_lost) ++w_.totals_.lost_forks;
    live_[index] = live_.back();
    live_.pop_back();
  }

  // Deletes the oldest template (unforking its forks first) and registers a
  // replacement, as a VM manager does when it rebuilds a standby image.
  void rotate() {
    if (active_.empty()) return;
    const std::uint32_t tpl = active_.front();
    for (std::size_t j = live_.size(); j-- > 0;) {
      if (fork_tpl_[live_[j]] == tpl) unfork(j, EventType::fork_removed);
      if (full()) return;
    }
    if (!push({EventType::template_retired, Reason::deleted, Origin::api, 0, tpl, 0, 0})) return;
    active_.pop_front();
    register_template();
  }

  void reconcile(std::uint64_t head) {
    std::uint32_t corrections = 0;
    if (!live_.empty()) {
      unfork(rng_() % live_.size(), EventType::fork_lost);
      ++corrections;
    }
    if (!active_.empty()) {
      fork(Origin::reconcile, Reason::untracked_fork);
      ++corrections;
    }
    w_.runs_.push_back(ReconcileStats{
        head, static_cast<std::uint32_t>(live_.size() + active_.size()), 0, corrections, 0});
    push({EventType::reconcile_run, Reason::none, Origin::reconcile, 0, 0, 0,
          static_cast<std::uint32_t>(w_.runs_.size() - 1)});
  }

  WorkloadSpec spec_;
  std::mt19937_64 rng_;
  Workload w_;
  std::deque<std::uint32_t> active_;     // active templates, oldest first
  std::vector<std::uint32_t> live_;      // live forks, unordered
  std::vector<std::uint32_t> fork_tpl_;  // template of every fork ever created
};

Workload Workload::generate(const WorkloadSpec& spec) {
  return WorkloadBuilder(spec).run();
}

EventView Workload::event(std::uint64_t i) const noexcept {
  const Step& s = steps_[i];
  EventView e;
  e.type = s.type;
  e.origin = s.origin;
  e.reason = s.reason;
  e.time_ns = kStartNs + i * kStepNs;
  switch (s.type) {
    case EventType::template_registered: {
      const TemplateIds& t = templates_[s.tpl];
      e.template_id = t.id;
      e.source = t.source;
      e.name = t.name;
      break;
    }
    case EventType::fork_added:
    case EventType::fork_removed:
      e.template_id = templates_[s.tpl].id;
      e.fork = fork_id(s.fork);
      break;
    case EventType::fork_recovered:
    case EventType::fork_lost:
      e.template_id = templates_[s.tpl].id;
      e.fork = fork_id(s.fork);
      e.evidence = evidence_[s.extra];
      break;
    case EventType::template_retired:
      e.template_id = templates_[s.tpl].id;
      break;
    case EventType::reconcile_run:
      e.run = runs_[s.extra];
      break;
  }
  return e;
}

}  // namespace fj::bench
