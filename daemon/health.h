// The health op's verdict (docs/protocol.md, "health"): what an operator's
// probe needs to tell a healthy forkjournald from one that needs a look,
// computed from ServiceStats alone so that it answers while the writer is
// stuck. Pure; any thread.
#pragma once

#include "daemon/service.h"

#include <boost/json/object.hpp>

#include <chrono>

namespace fj::service {

struct HealthOptions {
  // Degraded past this fraction of the map's limit (only with a limit).
  double map_fraction = 0.8;
  // Degraded when work has waited on the writer this long.
  std::chrono::milliseconds stuck_after{30'000};
  // Degraded when a read transaction (of any process) has been open this
  // long: the journal's file cannot reuse the pages it may see.
  std::chrono::milliseconds reader_after{600'000};
};

// {"status": "healthy"|"degraded", "reasons": [text], "head_seq",
//  "last_commit_age_seconds" (null: none since start), "map": {...},
//  "writer": {...}, "oldest_reader": {...} | null, "last_reconcile": {...} | null}
boost::json::object health_json(const ServiceStats& stats, const HealthOptions& options);

}  // namespace fj::service
