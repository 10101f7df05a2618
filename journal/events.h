// Walking a range of decoded events: the one loop behind replay, the log,
// explain, stats and the reconciler's re-check.
//
// Errors: whatever Reader::for_each returns (seq_gap, corrupt_page,
// lmdb_error), the first decode error (corrupt_record, checksum_mismatch,
// unknown_version, unknown_type; Error::seq names the record at fault), or
// the first error `visit` returns. Lifetime and threads: as Reader's; the
// EventView (and record) passed to `visit` is valid only during that call.
#pragma once

#include "journal/codec.h"
#include "journal/journal.h"

#include <concepts>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace fj {

// Calls visit(seq, event) (or visit(seq, event, record), for a caller that
// also needs the stored bytes) for every record with from <= seq <= to, in
// order; `to` may be kHead. visit returns void, or Result<void> whose error
// stops the walk early and is returned as it is.
template <class Visit>
Result<void> for_each_event(Reader& reader, std::uint64_t from, std::uint64_t to, Visit&& visit) {
  constexpr bool with_record =
      std::invocable<Visit&, std::uint64_t, const EventView&, std::string_view>;
  const auto call = [&visit](const auto&... args) -> Result<void> {
    if constexpr (std::is_void_v<decltype(visit(args...))>) {
      visit(args...);
      return {};
    } else {
      return visit(args...);
    }
  };
  // One view for every event: the replay loop copies and zeroes nothing.
  EventView e;
  return reader.for_each(from, to, [&](std::uint64_t seq, std::string_view record) -> Result<void> {
    if (auto ok = decode_into(seq, record, e); !ok) return ok;
    const EventView& event = e;
    if constexpr (with_record) {
      return call(seq, event, record);
    } else {
      return call(seq, event);
    }
  });
}

}  // namespace fj
