#include "crashtest/power_loss/crash_model.h"

#include "crashtest/seed_mix.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <random>
#include <set>

namespace fj::power_loss {
namespace {

using fj::crashtest::mix;

using record::OpKind;

constexpr std::size_t kNever = std::numeric_limits<std::size_t>::max();

std::pair<std::string, std::string> rename_names(const Op& op) {
  const auto nul = op.data.find('\0');
  return {op.data.substr(0, nul), nul == std::string::npos ? "" : op.data.substr(nul + 1)};
}

// The sectors a write covers.
std::size_t sectors_of(const Op& op, std::size_t sector) {
  if (op.data.empty()) return 0;
  return (op.offset + op.data.size() - 1) / sector - op.offset / sector + 1;
}

struct Image {
  std::vector<std::string> contents;         // inode -> bytes
  std::map<std::string, std::uint32_t> dir;  // name -> inode
};

// One choice at a point: which pending operations are present, and which
// one (by its place in the pending list) is torn to which sectors.
struct Choice {
  std::vector<bool> present;
  std::size_t torn = kNever;
  std::vector<bool> keep;
};

}  // namespace

struct CrashModel::Step {
  // Applies trace op `j` to `image`; with `keep`, only those sectors.
  static void apply(const CrashModel& m, std::size_t j, Image& image,
                    const std::vector<bool>* keep = nullptr) {
    const Op& op = m.trace_[j];
    switch (op.kind) {
      case OpKind::write: {
        std::string& bytes = image.contents[m.inode_[j]];
        const std::size_t sector = m.options_.sector;
        std::size_t from = 0;
        std::size_t index = 0;
        while (from < op.data.size()) {
          const std::uint64_t at = op.offset + from;
          const std::size_t len =
              std::min<std::size_t>(op.data.size() - from, sector - at % sector);
          if (keep == nullptr || (*keep)[index]) {
            if (bytes.size() < at + len) bytes.resize(at + len, '\0');
            bytes.replace(at, len, op.data, from, len);
          }
          from += len;
          ++index;
        }
        break;
      }
      case OpKind::truncate:
        image.contents[m.inode_[j]].resize(op.offset, '\0');
        break;
      case OpKind::open:
        if (op.offset == record::kOpenCreated) {
          image.dir[op.data] = m.inode_[j];
          image.contents[m.inode_[j]].clear();
        }
        break;
      case OpKind::rename: {
        const auto [from, to] = rename_names(op);
        const auto it = image.dir.find(from);
        if (it == image.dir.end()) break;  // its creation is not in this state
        const std::uint32_t inode = it->second;
        image.dir.erase(it);
        if (!to.empty()) image.dir[to] = inode;
        break;
      }
      case OpKind::unlink:
        image.dir.erase(op.data);
        break;
      default:
        break;
    }
  }

  // What a point offers: subsets of `pending` and tears of each file's newest
  // pending write.
  class Plan {
   public:
    Plan(const CrashModel& m, std::size_t point, const std::vector<std::size_t>& pending)
        : m_(m), point_(point), n_(pending.size()) {
      if (n_ <= m.options_.exhaustive_pending) {
        subsets_ = std::uint64_t{1} << n_;
        exhaustive_ = true;
      } else {
        subsets_ = 1 + n_ + m.options_.sampled_subsets;  // none, all, prefixes, random
      }
      std::map<std::uint32_t, std::size_t> newest;  // inode -> place in pending
      for (std::size_t i = 0; i < n_; ++i) {
        if (m.trace_[pending[i]].kind == OpKind::write) newest[m.inode_[pending[i]]] = i;
      }
      for (const auto& [inode, place] : newest) {
        const std::size_t s = sectors_of(m.trace_[pending[place]], m.options_.sector);
        if (s < 2) continue;
        const std::size_t prefixes = std::min(s - 1, m.options_.tears_per_write);
        tears_.push_back({place, s, prefixes, prefixes + (s > 2 ? 1 : 0)});
        count_ += tears_.back().count;
      }
      count_ += subsets_;
    }

    std::uint64_t count() const { return count_; }

    Choice choice(std::uint64_t k) const {
      Choice c;
      c.present.assign(n_, false);
      if (k < subsets_) {
        if (exhaustive_) {
          for (std::size_t b = 0; b < n_; ++b) c.present[b] = ((k >> b) & 1) != 0;
        } else if (k == 0) {
          // none present
        } else if (k <= n_) {
          std::fill_n(c.present.begin(), k == 1 ? n_ : k - 1, true);  // all, then prefixes
        } else {
          std::mt19937_64 rng(mix(mix(m_.options_.seed, point_), k));
          for (std::size_t b = 0; b < n_; ++b) c.present[b] = (rng() & 1) != 0;
        }
        return c;
      }
      k -= subsets_;
      for (const TearPlan& t : tears_) {
        if (k >= t.count) {
          k -= t.count;
          continue;
        }
        c.present.assign(n_, true);
        c.torn = t.place;
        c.keep.assign(t.sectors, false);
        if (k < t.prefixes) {
          // Keep 1 .. s-1 sectors, spread over the prefixes offered.
          const std::size_t kept = t.prefixes == 1 ? 1 : 1 + k * (t.sectors - 2) / (t.prefixes - 1);
          std::fill_n(c.keep.begin(), kept, true);
        } else {
          std::mt19937_64 rng(mix(mix(m_.options_.seed, point_), ~k));
          std::size_t kept = 0;
          for (std::size_t s = 0; s < t.sectors; ++s) kept += (c.keep[s] = (rng() & 1) != 0);
          if (kept == 0) c.keep[t.sectors - 1] = true;
          if (kept == t.sectors) c.keep[0] = false;
        }
        return c;
      }
      return c;
    }

   private:
    struct TearPlan {
      std::size_t place, sectors, prefixes;
      std::uint64_t count;
    };
    const CrashModel& m_;
    std::size_t point_;
    std::size_t n_;
    bool exhaustive_ = false;
    std::uint64_t subsets_ = 0;
    std::uint64_t count_ = 0;
    std::vector<TearPlan> tears_;
  };

  // Walks the points, keeping the pending list and calling `at` on each
  // folded point with the pending list and the first op not yet in the base.
  template <class At>
  static void walk(const CrashModel& m, At&& at) {
    std::vector<std::size_t> pending;
    std::size_t fold = 0;
    for (std::size_t p = 0; p <= m.trace_.size(); ++p) {
      if (p > 0 && m.unit_[p - 1]) pending.push_back(p - 1);
      std::erase_if(pending, [&](std::size_t j) { return m.durable_at_[j] <= p; });
      if (fold < m.folded_points_.size() && m.folded_points_[fold] == p) {
        at(p, pending);
        ++fold;
      }
    }
  }
};

boost::system::result<CrashModel, std::string> CrashModel::build(Trace trace,
                                                                 ModelOptions options) {
  CrashModel m;
  m.trace_ = std::move(trace);
  m.options_ = std::move(options);
  const std::size_t n = m.trace_.size();
  m.inode_.assign(n, 0);
  m.durable_at_.assign(n, kNever);
  m.unit_.assign(n, false);

  const auto ignored = [&](const std::string& name) {
    return std::find(m.options_.ignore.begin(), m.options_.ignore.end(), name) !=
           m.options_.ignore.end();
  };
  std::map<std::string, std::uint32_t> live;                   // names as the program saw them
  std::map<std::uint32_t, std::uint32_t> file_inode;           // recorder file id -> inode
  std::map<std::uint32_t, std::string> file_name;              // recorder file id -> name
  std::map<std::uint32_t, std::vector<std::size_t>> unsynced;  // inode -> data ops
  std::vector<std::size_t> unsynced_names;
  const auto make_durable = [&](std::vector<std::size_t>& ops, std::size_t j) {
    for (std::size_t i : ops) m.durable_at_[i] = j + 2;
    ops.clear();
  };
  const auto where = [](std::size_t j) { return "operation " + std::to_string(j) + ": "; };

  for (std::size_t j = 0; j < n; ++j) {
    const Op& op = m.trace_[j];
    switch (op.kind) {
      case OpKind::open: {
        file_name[op.file] = op.data;
        if (op.data == ".") break;
        if (op.offset == record::kOpenCreated) {
          m.inode_[j] = m.inodes_++;
          live[op.data] = m.inode_[j];
          m.unit_[j] = true;
          unsynced_names.push_back(j);
        } else if (!live.contains(op.data)) {
          return where(j) + op.data + " was opened but existed before the recording began";
        }
        file_inode[op.file] = live[op.data];
        break;
      }
      case OpKind::write:
      case OpKind::truncate: {
        const auto it = file_inode.find(op.file);
        if (it == file_inode.end()) return where(j) + "a write to a file never opened";
        m.inode_[j] = it->second;
        m.unit_[j] = true;
        if (op.kind == OpKind::write && (op.flags & record::kDsync) != 0) {
          m.durable_at_[j] = j + 2;
        } else {
          unsynced[it->second].push_back(j);
        }
        break;
      }
      case OpKind::sync: {
        if ((op.flags & record::kFailed) != 0) break;
        const auto it = file_inode.find(op.file);
        if (it != file_inode.end()) make_durable(unsynced[it->second], j);
        break;
      }
      case OpKind::dir_sync:
        if ((op.flags & record::kFailed) == 0) make_durable(unsynced_names, j);
        break;
      case OpKind::sync_all:
        for (auto& [inode, ops] : unsynced) make_durable(ops, j);
        make_durable(unsynced_names, j);
        break;
      case OpKind::rename: {
        const auto [from, to] = rename_names(op);
        const auto it = live.find(from);
        if (it != live.end()) {
          const std::uint32_t inode = it->second;
          live.erase(it);
          if (!to.empty()) live[to] = inode;
        }
        m.unit_[j] = true;
        unsynced_names.push_back(j);
        break;
      }
      case OpKind::unlink:
        live.erase(op.data);
        m.unit_[j] = true;
        unsynced_names.push_back(j);
        break;
      case OpKind::shared_map:
        if (!ignored(file_name[op.file])) {
          return where(j) + file_name[op.file] +
                 " was mapped writable and shared: the recorder cannot see stores through it";
        }
        break;
      case OpKind::mark:
        break;
    }
  }

  // Point p's states equal point p+1's unless op p changes something or
  // something becomes durable at p+1.
  std::vector<bool> becomes_durable(n + 2, false);
  for (std::size_t d : m.durable_at_) {
    if (d != kNever && d < becomes_durable.size()) becomes_durable[d] = true;
  }
  for (std::size_t p = 0; p <= n; ++p) {
    if (p == n || m.unit_[p] || becomes_durable[p + 1]) m.folded_points_.push_back(p);
  }
  m.points_ = m.folded_points_.size();
  Step::walk(m, [&](std::size_t p, const std::vector<std::size_t>& pending) {
    m.max_pending_ = std::max(m.max_pending_, pending.size());
    m.point_candidates_.push_back(Step::Plan(m, p, pending).count());
    m.candidates_ += m.point_candidates_.back();
  });
  return m;
}

void CrashModel::for_each_state(const std::function<bool(const CrashState&)>& visit) const {
  Image base;
  base.contents.assign(inodes_, {});
  std::size_t base_end = 0;  // ops [0, base_end) are in the base
  std::size_t index = 0;     // folded point
  std::uint64_t seen = 0;
  std::uint64_t chosen = 0;
  const bool sampling = options_.max_states != 0 && options_.max_states < candidates_;
  std::mt19937_64 pick(mix(options_.seed, 0x5a3));
  bool go_on = true;

  Step::walk(*this, [&](std::size_t p, const std::vector<std::size_t>& pending) {
    const std::uint64_t count = point_candidates_[index++];
    if (!go_on) return;
    const std::size_t first = pending.empty() ? p : pending.front();
    for (; base_end < first; ++base_end) Step::apply(*this, base_end, base);
    const Step::Plan plan(*this, p, pending);
    for (std::uint64_t k = 0; k < count && go_on; ++k) {
      if (sampling) {
        // Selection sampling: each candidate with probability needed/left.
        const std::uint64_t left = candidates_ - seen++;
        const std::uint64_t needed = options_.max_states - chosen;
        if (std::uniform_int_distribution<std::uint64_t>(0, left - 1)(pick) >= needed) continue;
        ++chosen;
      }
      const Choice c = plan.choice(k);
      Image image = base;
      CrashState state;
      state.point = p;
      state.pending = pending.size();
      std::size_t place = 0;
      for (std::size_t j = base_end; j < p; ++j) {
        const bool is_pending = place < pending.size() && pending[place] == j;
        if (!is_pending) {
          Step::apply(*this, j, image);
          continue;
        }
        if (c.present[place]) {
          ++state.present;
          Step::apply(*this, j, image, place == c.torn ? &c.keep : nullptr);
        }
        ++place;
      }
      state.description = "crash after operation " + std::to_string(p) + " of " +
                          std::to_string(trace_.size()) + ": " + std::to_string(state.present) +
                          " of " + std::to_string(state.pending) + " pending present";
      if (c.torn != kNever) {
        state.torn = true;
        const std::size_t kept =
            static_cast<std::size_t>(std::count(c.keep.begin(), c.keep.end(), true));
        state.description += ", the write at operation " + std::to_string(pending[c.torn]) +
                             " torn (" + std::to_string(kept) + " of " +
                             std::to_string(c.keep.size()) + " sectors)";
      }
      for (const auto& [name, inode] : image.dir) {
        if (std::find(options_.ignore.begin(), options_.ignore.end(), name) ==
            options_.ignore.end()) {
          state.files.emplace(name, std::move(image.contents[inode]));
        }
      }
      go_on = visit(state);
    }
  });
}

Files CrashModel::final_files() const {
  Image image;
  image.contents.assign(inodes_, {});
  for (std::size_t j = 0; j < trace_.size(); ++j) Step::apply(*this, j, image);
  Files files;
  for (const auto& [name, inode] : image.dir) {
    if (std::find(options_.ignore.begin(), options_.ignore.end(), name) == options_.ignore.end()) {
      files.emplace(name, image.contents[inode]);
    }
  }
  return files;
}

}  // namespace fj::power_loss
