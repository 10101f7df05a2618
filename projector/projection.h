// The fork-count projection: what the journal says is true at one seq. Built
// by folding evolve() over the events in seq order. Pure: no LMDB, no clock.
//
// Replay speed is the product's headline, so the hot path allocates nothing
// per event in the steady state for ids of up to 31 bytes: they live inline
// in 32-byte Id values inside open-addressing maps
// (boost::unordered_flat_map), looked up by string_view without building a
// key.
#pragma once

#include "journal/event.h"
#include "journal/ids.h"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fj {

// An id of at most kMaxIdSize bytes in 32 bytes: up to kInline bytes inline
// (the VM manager's ids are 24), longer ones on the heap. The fork table's
// slots are then 36 bytes instead of 72, which keeps more of the table in the
// L2 cache during a replay. The last byte holds the size; a longer id keeps
// its heap pointer in the first eight.
class Id {
 public:
  static constexpr std::size_t kInline = 31;

  Id() noexcept { bytes_[kInline] = 0; }
  // Precondition: s.size() <= kMaxIdSize (the codec and validation ensure it).
  explicit Id(std::string_view s) { assign(s); }
  Id(const Id& other) { assign(other.view()); }
  Id(Id&& other) noexcept {
    std::memcpy(bytes_, other.bytes_, sizeof bytes_);
    other.bytes_[kInline] = 0;  // the heap block, if any, is ours now
  }
  Id& operator=(const Id& other) {
    if (this != &other) *this = Id(other);
    return *this;
  }
  Id& operator=(Id&& other) noexcept {
    if (this != &other) {
      release();
      std::memcpy(bytes_, other.bytes_, sizeof bytes_);
      other.bytes_[kInline] = 0;
    }
    return *this;
  }
  ~Id() { release(); }

  std::size_t size() const noexcept { return static_cast<std::uint8_t>(bytes_[kInline]); }
  std::string_view view() const noexcept { return {size() <= kInline ? bytes_ : heap(), size()}; }
  std::string str() const { return std::string(view()); }
  friend bool operator==(const Id& a, const Id& b) noexcept { return a.view() == b.view(); }

 private:
  void assign(std::string_view s) {
    if (s.size() <= kInline) {
      if (!s.empty()) std::memcpy(bytes_, s.data(), s.size());
    } else {
      char* block = new char[s.size()];
      std::memcpy(block, s.data(), s.size());
      std::memcpy(bytes_, &block, sizeof block);
    }
    bytes_[kInline] = static_cast<char>(s.size());
  }
  char* heap() const noexcept {
    char* block;
    std::memcpy(&block, bytes_, sizeof block);
    return block;
  }
  void release() noexcept {
    if (size() > kInline) delete[] heap();
    bytes_[kInline] = 0;
  }

  char bytes_[kInline + 1];
};
static_assert(sizeof(Id) == 32);

// Folded 64x64->128-bit multiplies (the low half xor the high half), over
// the id's bytes as four 8-byte words at a time: each fold mixes every bit of
// both inputs into its result, and the two folds for an id of up to 32 bytes
// do not wait on each other, so hashing an id waits on one multiply (a replay
// hashes two or three ids an event). Both inputs of every fold are a word of
// the id xor a constant with a byte >= 0x80, so no word of id characters
// (ASCII) can zero a fold and wipe out its other word; the length and the
// 32-byte blocks before the last 1-32 bytes (ids over 32) enter through `h`,
// xored in and folded with a constant, never as a fold's input beside a word
// (a word equal to `h` would zero that fold: the word beside it would count
// for nothing). Declared avalanching so the map adds no second mix.
// Measurements: bench/README.md.
struct IdHash {
  using is_transparent = void;
  using is_avalanching = void;
  static std::uint64_t fold(std::uint64_t a, std::uint64_t b) noexcept {
    const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
  }
  static std::uint64_t word(const char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  }
  std::size_t operator()(std::string_view s) const noexcept {
    constexpr std::uint64_t k0 = 0xA0761D6478BD642Full, k1 = 0xE7037ED1A0B428DBull,
                            k2 = 0x8EBC6AF09C88C6E3ull, k3 = 0x589965CC75374CC3ull;
    const char* p = s.data();
    std::size_t n = s.size();
    std::uint64_t h = k0 ^ n;
    // Whole 32-byte blocks while more than 32 bytes remain (ids over 32).
    for (; n > 32; n -= 32, p += 32) {
      const std::uint64_t block =
          fold(word(p) ^ k1, word(p + 8) ^ k2) ^ fold(word(p + 16) ^ k3, word(p + 24) ^ k0);
      h = fold(h ^ block, k1);
    }
    // The last 0-32 bytes as up to four words that overlap rather than read
    // past the end; under 8 bytes, one word from 4-byte or single-byte loads.
    std::uint64_t a, b = 0, c = 0, d = 0;
    if (n >= 16) {
      a = word(p), b = word(p + 8), c = word(p + n - 16), d = word(p + n - 8);
    } else if (n >= 8) {
      a = word(p), b = word(p + n - 8);
    } else if (n >= 4) {
      std::uint32_t x, y;
      std::memcpy(&x, p, 4);
      std::memcpy(&y, p + n - 4, 4);
      a = std::uint64_t{x} << 32 | y;
    } else if (n != 0) {
      const auto byte = [&](std::size_t i) {
        return std::uint64_t{static_cast<unsigned char>(p[i])};
      };
      a = byte(0) << 16 | byte(n / 2) << 8 | byte(n - 1);
    } else {
      a = 0;
    }
    return static_cast<std::size_t>(h ^ fold(a ^ k1, b ^ k2) ^ fold(c ^ k3, d ^ k0));
  }
  std::size_t operator()(const Id& id) const noexcept { return (*this)(id.view()); }
};

// Compares in 8-byte words, inline: for ids this short a call to memcmp costs
// more than the comparison.
struct IdEqual {
  using is_transparent = void;
  static std::string_view v(std::string_view s) noexcept { return s; }
  static std::string_view v(const Id& id) noexcept { return id.view(); }
  static bool same(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    const char* p = a.data();
    const char* q = b.data();
    std::size_t n = a.size();
    for (; n >= 8; n -= 8, p += 8, q += 8) {
      std::uint64_t x, y;
      std::memcpy(&x, p, 8);
      std::memcpy(&y, q, 8);
      if (x != y) return false;
    }
    for (; n != 0; --n, ++p, ++q) {
      if (*p != *q) return false;
    }
    return true;
  }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return same(v(a), v(b));
  }
};

template <class V>
using IdMap = boost::unordered_flat_map<Id, V, IdHash, IdEqual>;

// Live forks: fork id -> index of its template, the map a replay touches on
// nearly every event. A boost::unordered_flat_map kept at most a quarter
// full: at the map's own load limit, fork/unfork churn makes it rebuild
// itself at the same size over and over, holding two tables at once, and a
// replay's peak memory would grow with the journal's length
// (docs/decisions.md). The price is a table four times larger than the data.
class ForkTable {
 public:
  using Map = IdMap<std::uint32_t>;

  Map::const_iterator find(std::string_view fork) const { return map_.find(fork); }
  bool contains(std::string_view fork) const { return map_.contains(fork); }
  Map::const_iterator begin() const noexcept { return map_.begin(); }
  Map::const_iterator end() const noexcept { return map_.end(); }
  std::size_t size() const noexcept { return map_.size(); }
  bool empty() const noexcept { return map_.empty(); }
  std::size_t bucket_count() const noexcept { return map_.bucket_count(); }

  // Adds fork -> index; false (and no change) if the fork is present.
  bool insert(std::string_view fork, std::uint32_t index) {
    reserve(map_.size() + 1);
    return map_.try_emplace(Id(fork), index).second;
  }
  void erase(Map::const_iterator it) { map_.erase(it); }
  // Room for n forks at a load of at most a quarter.
  void reserve(std::size_t n) {
    if (4 * n > map_.bucket_count()) map_.reserve(4 * n);
  }

 private:
  Map map_;
};

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
  const std::vector<Anomaly>& anomalies() const noexcept { return anomalies_; }

  // evolve: applies the event stored at `seq`. Precondition: seq > seq().
  // Never fails and never makes a count negative: an event that breaks an
  // invariant leaves the state unchanged (except as documented on
  // AnomalyKind) and is recorded as an anomaly.
  void apply(std::uint64_t seq, const EventView& e);

  // Equal state (used to check that snapshot + tail equals a full replay).
  friend bool operator==(const Projection& a, const Projection& b);

 private:
  friend class SnapshotCodec;
  Template* find_mut(std::string_view template_id);
  void anomaly(std::uint64_t seq, AnomalyKind kind, const EventView& e);
  void add_fork(std::uint64_t seq, const EventView& e);
  void remove_fork(std::uint64_t seq, const EventView& e);

  std::uint64_t seq_ = 0;
  std::vector<Template> templates_;      // in registration order
  IdMap<std::uint32_t> template_index_;  // id -> index into templates_
  ForkTable forks_;                      // live fork -> template index
  IdMap<LostFork> lost_;                 // forks removed by fork_lost
  std::vector<Anomaly> anomalies_;
};

// evolve as the design names it: state + event -> state (in place, for speed).
inline void evolve(Projection& state, std::uint64_t seq, const EventView& e) {
  state.apply(seq, e);
}

}  // namespace fj
