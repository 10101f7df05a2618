// The benchmark workload: a deterministic journal of N events with the mix a
// VM manager produces over time (see generate() for the exact schedule).
//
// Events are stored compactly (16 bytes each, plus one pool entry per id) so
// that millions of them fit in a few tens of MB; event(i) materialises an
// fj::EventView that borrows from the Workload, without allocating. The same
// spec and seed always give the same events, so every peer (LMDB, SQLite, the
// file registry) and every run sees identical input.
#pragma once

#include "journal/event.h"

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace fj::bench {

// The VM manager's ids are 24 characters; ours are a 3-letter kind prefix
// ("tpl", "src", "frk") and 21 random base-36 characters.
inline constexpr std::size_t kIdLength = 24;

std::string make_id(std::string_view prefix, std::mt19937_64& rng);

// How the journal's population evolves over the log (Workload::generate).
enum class Shape {
  steady,   // templates registered early, live forks ramp up then hover (a long-running fleet)
  growing,  // templates registered all along, the live-fork target climbs to the end
  soak,     // growing with many templates and forks, as a long kill -9 soak leaves
};

// "steady", "growing", "soak".
std::string_view shape_name(Shape s) noexcept;

// The --templates and --live-forks a shape uses when not given: steady 100 /
// 10,000; growing 2,000 / 40,000; soak 20,000 / 65,000 (the soak journal's
// 20,912 templates and 64,545 live forks, rounded).
std::uint32_t default_templates(Shape s) noexcept;
std::uint32_t default_live_forks(Shape s) noexcept;

struct WorkloadSpec {
  std::uint64_t events = 0;
  std::uint32_t templates = 100;      // active templates once the ramp-up is over
  std::uint32_t live_forks = 10'000;  // the fork/unfork mix hovers around this many
  std::uint64_t seed = 0x666f726b;
  Shape shape = Shape::steady;
};

// What a correct replay of the whole workload must end with.
struct WorkloadTotals {
  std::array<std::uint64_t, kMaxEventType + 1> by_type{};  // events per EventType number
  std::uint64_t templates_registered = 0;
  std::uint64_t templates_active = 0;
  std::uint64_t live_forks = 0;
  std::uint64_t lost_forks = 0;  // forks removed by fork_lost
};

class Workload {
 public:
  // Schedule over N events (K templates, L live forks), steady shape:
  //   - the K templates are registered one by one over the first 10% of the log;
  //   - forks and unforks of random active templates, with the fork probability
  //     pulled towards L live forks (0.5 at L), so the live set ramps up and then
  //     hovers around L;
  //   - every N/20 events after the ramp-up the oldest template is rotated out:
  //     its forks are removed, it is retired (deleted) and a new one registered;
  //   - every N/50 events a reconciler run: one fork_lost (instance_missing) of a
  //     random live fork, one fork_recovered (untracked_fork) of a new fork, and
  //     the reconcile_run marker.
  // The growing and soak shapes register the K templates evenly over the
  // whole log (so no rotation happens) and pull the live forks towards a
  // target that climbs linearly from 0 to L at the last event; reconciler
  // runs as above. Their replay keeps meeting a live-fork table and a
  // template map larger than any before, as a journal that grew with its
  // fleet does.
  // Every event is valid against the projection at its seq (replay records no
  // anomaly). A multi-event step cut off at N stays valid.
  static Workload generate(const WorkloadSpec& spec);

  std::uint64_t size() const noexcept { return steps_.size(); }

  // The event stored at seq i + 1. Borrows from this Workload.
  EventView event(std::uint64_t i) const noexcept;

  const WorkloadTotals& totals() const noexcept { return totals_; }

 private:
  struct Step {
    EventType type{};
    Reason reason = Reason::none;
    Origin origin = Origin::api;
    std::uint8_t unused = 0;
    std::uint32_t tpl = 0;    // index into templates_
    std::uint32_t fork = 0;   // index into the fork id pool
    std::uint32_t extra = 0;  // index into evidence_ (corrections) or runs_ (reconcile_run)
  };
  static_assert(sizeof(Step) == 16);

  struct TemplateIds {
    std::string id;
    std::string source;
    std::string name;
  };

  std::string_view fork_id(std::uint32_t f) const noexcept {
    return std::string_view(fork_ids_).substr(std::size_t{f} * kIdLength, kIdLength);
  }

  friend class WorkloadBuilder;

  std::vector<Step> steps_;
  std::vector<TemplateIds> templates_;
  std::string fork_ids_;  // kIdLength bytes per fork, indexed by Step::fork
  std::vector<std::string> evidence_;
  std::vector<ReconcileStats> runs_;
  WorkloadTotals totals_;
};

}  // namespace fj::bench
