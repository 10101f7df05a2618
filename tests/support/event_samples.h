// One sample event of every type, for round-trip and replay tests.
#pragma once

#include "journal/event.h"

#include <vector>

namespace fj::testing {

inline Event make_event(EventType type, std::string tpl, std::string fork = {}) {
  Event e;
  e.type = type;
  e.origin = Origin::api;
  e.time_ns = 1'764'000'000'123'456'789ull;
  e.template_id = std::move(tpl);
  e.fork = std::move(fork);
  return e;
}

inline Event registered(std::string tpl, std::string source = "src0", std::string name = "web") {
  Event e = make_event(EventType::template_registered, std::move(tpl));
  e.source = std::move(source);
  e.name = std::move(name);
  return e;
}
inline Event added(std::string tpl, std::string fork) {
  return make_event(EventType::fork_added, std::move(tpl), std::move(fork));
}
inline Event removed(std::string tpl, std::string fork) {
  return make_event(EventType::fork_removed, std::move(tpl), std::move(fork));
}
inline Event retired(std::string tpl, Reason reason = Reason::deleted) {
  Event e = make_event(EventType::template_retired, std::move(tpl));
  e.reason = reason;
  return e;
}
inline Event correction(EventType type, std::string tpl, std::string fork, Reason reason) {
  Event e = make_event(type, std::move(tpl), std::move(fork));
  e.reason = reason;
  e.evidence = "guests/" + e.fork + "/metadata.json: absent";
  e.origin = Origin::reconcile;
  return e;
}

inline std::vector<Event> one_of_each_type() {
  Event run = make_event(EventType::reconcile_run, "");
  run.origin = Origin::reconcile;
  run.run = ReconcileStats{41, 100, 2, 3, 1};
  return {registered("tpl0web0000000000000001", "src0web0000000000000001", "web ✓"),
          added("tpl0web0000000000000001", "frk0web0000000000000001"),
          removed("tpl0web0000000000000001", "frk0web0000000000000001"),
          retired("tpl0web0000000000000001", Reason::orphaned),
          correction(EventType::fork_recovered, "t", "f", Reason::untracked_fork),
          correction(EventType::fork_lost, "t", "f", Reason::instance_missing),
          run};
}

}  // namespace fj::testing
