// One event as one line of NDJSON. `forkjournal log --json` prints
// render::event_json's object (seq, type, time, origin and the type's
// fields); `forkjournal export` prints render::export_json's, which adds the
// journal id and the hash chain's value after the event. Pipelines parse
// these lines, so the field names are a stable contract (README, "Using
// forkjournal"): fields may be added, never renamed or removed.
// Errors: none; the stream's own state is the caller's to check.
#pragma once

#include "journal/chain.h"
#include "journal/event.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace fj::cli {

// Writes the event's JSON object and a newline to `out` (log --json).
void print_event_line(std::ostream& out, std::uint64_t seq, const EventView& e);

// export's line for the event, without the newline.
std::string export_line(std::uint64_t seq, const EventView& e, std::string_view journal_id,
                        const ChainHash& chain);

}  // namespace fj::cli
