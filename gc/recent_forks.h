// The forks a VM manager recorded so recently that their directories may not
// exist yet. The protocol records `fork` before the fork's directory is made,
// so a reconcile that runs between the two would find a live fork with no
// guests/ entry; declaring it lost would let its template be retired while
// the fork comes up on the template's memory. The reconciler keeps such a
// fork pending instead, until it is older than the grace.
//
// Errors: those of reading the journal (lmdb_error, the corruption codes with
// the seq at fault). Lifetime: a value. Threads: a RecentForks is immutable
// once built; find_recent_forks runs inside the caller's read transaction.
#pragma once

#include "journal/journal.h"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fj::gc {

struct RecentFork {
  std::string template_id;
  std::uint64_t seq = 0;
  std::uint64_t time_ns = 0;  // when the fork event was stamped
};

struct RecentForks {
  // fork id -> its latest fork_added event within the grace.
  boost::unordered_flat_map<std::string, RecentFork> forks;
  // The walk stopped at its limit before the grace ended: a fork not found
  // here may still be recent, so every missing fork counts as recent.
  bool cut_short = false;

  // The fork event that makes `fork` of `template_id` recent, if any. With
  // cut_short, a fork not found is recent too (seq and time_ns then 0).
  std::optional<RecentFork> find(std::string_view fork, std::string_view template_id) const;
};

// Walks the journal back from `head` over the events stamped at or after
// `since_ns` and collects the fork_added events among them. The walk stops at
// the first event stamped before since_ns (after a clock step forward by more
// than the grace, the events before the step look that old) or after `limit`
// events (cut_short).
Result<RecentForks> find_recent_forks(Reader& reader, std::uint64_t head, std::uint64_t since_ns,
                                      std::uint64_t limit = 1'000'000);

}  // namespace fj::gc
