// The fork-count projection: what the journal says is true at one seq. Built
// by folding evolve() over the events in seq order. Pure: no LMDB, no clock.
//
// Replay speed is the product's headline, so the hot path allocates nothing
// per event in the steady state for ids of up to 31 bytes: they live inline
// in 32-byte Id values inside open-addressing tables (the fork table's own,
// fork_table.h; boost::unordered_flat_map for the others), looked up by
// string_view without building a key.
#pragma once

#include "journal/event.h"
#include "journal/ids.h"
#include "projector/fork_table.h"
#include "projector/huge_page_allocator.h"
#include "projector/id.h"
#include "projector/id_equal.h"
#include "projector/id_hash.h"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fj {

// Hashed with XXH3, a library hash as fast here as any measured (id_hash.h);
// a table of 2 MiB or more on huge pages (huge_page_allocator.h).
template <class V>
using IdMap =
    boost::unordered_flat_map<Id, V, IdHash, IdEqual, HugePageAllocator<std::pair<const Id, V>>>;

enum class TemplateState : std::uint8_t { active = 1, retired = 2 };
std::string_view state_name(TemplateState s) noexcept;

struct Template {
  Id id;
  Id source;
  std::string name;
  TemplateState state = TemplateState::active;
  std::uint32_t forks = 0;  // live forks: the fork count
  std::uint64_t registered_seq = 0;
  std::uint64_t last_seq = 0;  // seq of the last event that touched it

  friend bool operator==(const Template&, const Template&) = default;
};

// Events that break an invariant. Stable numbers (stored in snapshots).
enum class AnomalyKind : std::uint8_t {
  duplicate_template = 1,      // template_registered for an id already registered
  unknown_template = 2,        // an event names a template never registered
  retired_template = 3,        // a fork added or recovered under a retired template
  fork_already_live = 4,       // a fork added or recovered that is live already
  not_a_member = 5,            // fork_removed/fork_lost for a fork not live under that template
  retire_with_live_forks = 6,  // template_retired while forks are live (they stay counted)
  already_retired = 7,         // template_retired twice
};
inline constexpr std::uint8_t kMaxAnomalyKind = 7;
std::string_view anomaly_name(AnomalyKind k) noexcept;

struct Anomaly {
  std::uint64_t seq = 0;
  AnomalyKind kind{};
  std::string template_id;
  std::string fork;

  friend bool operator==(const Anomaly&, const Anomaly&) = default;
};

// A fork that a reconciler recorded as lost (so a late unfork is a no-op).
struct LostFork {
  std::uint32_t template_index = 0;
  std::uint64_t seq = 0;  // the fork_lost event

  friend bool operator==(const LostFork&, const LostFork&) = default;
};

// Lifetime: the pointers and views the accessors return (find, owner, lost,
// templates, all_live_forks, anomalies) point into the projection. The next
// apply() invalidates them (its vectors may reallocate and its maps rehash),
// as do assigning or destroying the projection: copy what must outlive that.
// Threads: const members may run on several threads at once; apply() needs
// the projection to itself.
class Projection {
 public:
  // The seq of the last applied event (0: nothing applied).
  std::uint64_t seq() const noexcept { return seq_; }

  const Template* find(std::string_view template_id) const;
  // The template a live fork belongs to, or nullptr.
  const Template* owner(std::string_view fork) const;
  // The fork_lost record for a fork no longer live, if a reconciler lost it.
  std::optional<std::pair<const Template*, std::uint64_t>> lost(std::string_view fork) const;

  // Templates sorted by id.
  std::vector<const Template*> templates() const;
  // Live forks of one template, sorted.
  std::vector<std::string> live_forks(std::string_view template_id) const;
  // Every live fork with its template, sorted by fork id.
  std::vector<std::pair<std::string_view, const Template*>> all_live_forks() const;
  std::size_t template_count() const noexcept { return templates_.size(); }
  std::size_t live_fork_count() const noexcept { return forks_.size(); }
  // Asks the processor to load the fork table's slot and tag that applying
  // `e` will look up first; no effect on the state.
  void prefetch(const EventView& e) const noexcept { forks_.prefetch(e.fork); }
  const std::vector<Anomaly>& anomalies() const noexcept { return anomalies_; }

  // evolve: applies the event stored at `seq`. Precondition: seq > seq().
  // Never fails and never makes a count negative: an event that breaks an
  // invariant leaves the state unchanged (except as documented on
  // AnomalyKind) and is recorded as an anomaly.
  void apply(std::uint64_t seq, const EventView& e);

  // Room for this many templates, live forks and lost forks, so that a
  // replay expected to reach them does not rehash its tables on the way up.
  // A hint: never shrinks, and more are still accepted. Allocates (throws
  // std::bad_alloc like every growth of the tables).
  void reserve(std::size_t templates, std::size_t live_forks, std::size_t lost_forks);

  // Equal state (used to check that snapshot + tail equals a full replay).
  friend bool operator==(const Projection& a, const Projection& b);

 private:
  friend class SnapshotCodec;
  Template* find_mut(std::string_view template_id);
  void anomaly(std::uint64_t seq, AnomalyKind kind, const EventView& e);
  void add_fork(std::uint64_t seq, const EventView& e);
  void remove_fork(std::uint64_t seq, const EventView& e);

  std::uint64_t seq_ = 0;
  std::vector<Template, HugePageAllocator<Template>> templates_;  // in registration order
  IdMap<std::uint32_t> template_index_;                           // id -> index into templates_
  ForkTable forks_;                                               // live fork -> template index
  IdMap<LostFork> lost_;                                          // forks removed by fork_lost
  std::vector<Anomaly> anomalies_;
};

// evolve as the design names it: state + event -> state (in place, for speed).
inline void evolve(Projection& state, std::uint64_t seq, const EventView& e) {
  state.apply(seq, e);
}

}  // namespace fj
