// One event as one line of NDJSON, as `forkjournal log --json` and
// `forkjournal export` print it: render::event_json's object (seq, type,
// time, origin and the type's fields). Pipelines parse these lines, so the
// field names are a stable contract (README, "Using forkjournal").
// Errors: none; the stream's own state is the caller's to check.
#pragma once

#include "journal/event.h"

#include <cstdint>
#include <ostream>

namespace fj::cli {

// Writes the event's JSON object and a newline to `out`.
void print_event_line(std::ostream& out, std::uint64_t seq, const EventView& e);

}  // namespace fj::cli
