// The seven event types of the journal and their fields. Type, origin and
// reason numbers are written to disk and must never be changed or reused;
// add new values at the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fj {

enum class EventType : std::uint8_t {
  template_registered = 1,  // template, source, name
  fork_added = 2,           // template, fork
  fork_removed = 3,         // template, fork
  template_retired = 4,     // template, reason (deleted | orphaned)
  fork_recovered = 5,       // template, fork, reason, evidence
  fork_lost = 6,            // template, fork, reason, evidence
  reconcile_run = 7,        // run (based_on_seq, scanned, unreadable, corrections, swept)
};
inline constexpr std::uint8_t kMaxEventType = 7;

enum class Origin : std::uint8_t { api = 1, reconcile = 2, sweep = 3, import = 4, cli = 5 };
inline constexpr std::uint8_t kMaxOrigin = 5;

enum class Reason : std::uint8_t {
  none = 0,
  deleted = 1,             // template_retired
  orphaned = 2,            // template_retired
  instance_missing = 3,    // fork_lost
  metadata_disagrees = 4,  // fork_lost, fork_recovered
  untracked_fork = 5,      // fork_recovered
  memory_link = 6,         // fork_recovered: its memory file links the template's
};
inline constexpr std::uint8_t kMaxReason = 6;

struct ReconcileStats {
  std::uint64_t based_on_seq = 0;
  std::uint32_t scanned = 0;
  std::uint32_t unreadable = 0;
  std::uint32_t corrections = 0;
  std::uint32_t swept = 0;

  friend bool operator==(const ReconcileStats&, const ReconcileStats&) = default;
};

// One event. Fields a type does not carry stay empty. BasicEvent<std::string>
// owns its strings; BasicEvent<std::string_view> (EventView) borrows them from
// a decoded record and is valid only as long as that record's bytes are.
template <class Str>
struct BasicEvent {
  EventType type{};
  Origin origin = Origin::api;
  std::uint64_t time_ns = 0;  // wall time, unix nanoseconds
  Str template_id{};
  Str fork{};
  Str source{};
  Str name{};
  Reason reason = Reason::none;
  Str evidence{};
  ReconcileStats run{};

  friend bool operator==(const BasicEvent&, const BasicEvent&) = default;
};

using Event = BasicEvent<std::string>;
using EventView = BasicEvent<std::string_view>;

EventView view(const Event& e) noexcept;
Event to_event(const EventView& e);

std::string_view type_name(EventType t) noexcept;
std::string_view origin_name(Origin o) noexcept;
std::string_view reason_name(Reason r) noexcept;

// Whether a type carries a fork id (fork_added, fork_removed, fork_recovered,
// fork_lost).
bool has_fork(EventType t) noexcept;

}  // namespace fj
