#include "journal/event.h"

#include <array>

namespace fj {
namespace {

constexpr std::array<std::string_view, kMaxEventType + 1> kTypeNames = {"",
                                                                        "template_registered",
                                                                        "fork_added",
                                                                        "fork_removed",
                                                                        "template_retired",
                                                                        "fork_recovered",
                                                                        "fork_lost",
                                                                        "reconcile_run"};
constexpr std::array<std::string_view, kMaxOrigin + 1> kOriginNames = {
    "", "api", "reconcile", "sweep", "import", "cli"};
constexpr std::array<std::string_view, kMaxReason + 1> kReasonNames = {
    "",           "deleted", "orphaned", "instance_missing", "metadata_disagrees", "untracked_fork",
    "memory_link"};

}  // namespace

EventView view(const Event& e) noexcept {
  return EventView{e.type,   e.origin, e.time_ns, e.template_id, e.fork,
                   e.source, e.name,   e.reason,  e.evidence,    e.run};
}

Event to_event(const EventView& e) {
  return Event{e.type,
               e.origin,
               e.time_ns,
               std::string(e.template_id),
               std::string(e.fork),
               std::string(e.source),
               std::string(e.name),
               e.reason,
               std::string(e.evidence),
               e.run};
}

std::string_view type_name(EventType t) noexcept {
  const auto i = static_cast<std::size_t>(t);
  return i < kTypeNames.size() && i > 0 ? kTypeNames[i] : "unknown";
}

std::string_view origin_name(Origin o) noexcept {
  const auto i = static_cast<std::size_t>(o);
  return i < kOriginNames.size() && i > 0 ? kOriginNames[i] : "unknown";
}

std::string_view reason_name(Reason r) noexcept {
  const auto i = static_cast<std::size_t>(r);
  return i < kReasonNames.size() ? kReasonNames[i] : "unknown";
}

bool has_fork(EventType t) noexcept {
  return t == EventType::fork_added || t == EventType::fork_removed ||
         t == EventType::fork_recovered || t == EventType::fork_lost;
}

}  // namespace fj
