// The reconciler's commit-time re-check (step 5 of gc/reconciler.h): which of
// a plan's corrections and sweeps are still right at the journal's head.
//
// A plan is made from the projection at H = plan.based_on_seq and appended
// later, at a head other writers may have moved. A planned event is kept only
// when nothing after H touched its subject (the fork of a correction, the
// template of a sweep) and it is still true at the head, each applied to the
// head in turn so that later ones see earlier ones.
//
// Pure: values in, a value out; no journal, no clock, no errors, nothing
// kept past the call. Concurrent calls are safe (the inputs are only read).
#pragma once

#include "gc/reconciler.h"
#include "projector/decide.h"
#include "projector/projection.h"

#include <boost/unordered/unordered_flat_set.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fj::gc {

// The subjects of the events appended after a seq: every fork a fork event
// names and every template any event names. The caller collects them from
// the journal, from the plan's seq up to the head it re-checks against.
struct TouchedSince {
  boost::unordered_flat_set<std::string> forks;
  boost::unordered_flat_set<std::string> templates;
};

struct Recheck {
  std::vector<Event> still_right;       // corrections then sweeps, in plan order
  std::vector<std::string> left_alone;  // one line per dropped event, with why
  // still_right followed by one reconcile_run marker stamped time_ns; no
  // events at all when nothing is still right.
  Decision decision;
};

// `touched` must hold what was appended in (plan.based_on_seq, head.seq()].
Recheck recheck(const ReconcilePlan& plan, const Projection& head, const TouchedSince& touched,
                std::uint64_t time_ns);

}  // namespace fj::gc
