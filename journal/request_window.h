// How long a journal keeps the request ids it stored (WriteTxn::put_request):
// the newest max_count ids, and of those only the ones stored within max_age;
// but, unless max_age is shorter, never an id stored less than min_age ago,
// however many are held, so that a client still retrying (the Go client: for
// 30 s) always gets its stored outcome. Older ids are deleted inside the write transaction that
// stores a new id, so a retry and the pruning it might meet are serialised by
// LMDB's writer lock. A retry whose id was deleted is executed anew
// (docs/protocol.md).
//
// Pure values and a pure decision: no I/O, any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace fj {

struct RequestWindow {
  std::uint64_t max_count = 100'000;     // ids kept; 0: no limit by count
  std::chrono::milliseconds max_age{0};  // 0: no limit by age
  // Younger ids are kept past max_count (not past max_age, which wins).
  // Twice the Go client's retry span; at 10,000 writes/s it holds 600,000
  // ids (about 108 MB) instead of max_count. 0: max_count alone decides.
  std::chrono::milliseconds min_age{60'000};
};

// Ids one store deletes at most. Each store normally deletes the one id it
// pushes out; this bounds the write transaction after the window shrank (a
// smaller --request-window, an age limit after a quiet spell, a journal
// upgraded with every id it ever stored): the excess then goes at up to this
// many ids per store instead of all in one transaction.
inline constexpr std::uint64_t kMaxPrunedPerStore = 64;

// Whether the oldest of `held` stored ids, stored at `stored_ns` (unix
// nanoseconds), falls outside the window at `now_ns`: older than max_age, or
// beyond max_count and at least min_age old. A clock that stepped back
// (stored_ns > now_ns) gives the id an age of 0 for max_age; for min_age it
// counts as young only while the step is shorter than min_age, so that a
// large step cannot keep every id past max_count.
bool outside_window(const RequestWindow& window, std::uint64_t held, std::uint64_t stored_ns,
                    std::uint64_t now_ns) noexcept;

}  // namespace fj
