// The fleet view: the fleet stream (fleet/stream.h) read alone, every
// journal's subject folded (fleet/journal_fold.h) into its shipped head,
// its integrity and its counts. Needs no journal.
//
// Errors: invalid_argument (the URLs; a stream whose subjects do not cover
// kStreamSubjects, which is not the fleet stream), not_found (no stream:
// forkjournal fleet init makes it), unavailable (no server answered, a read
// timed out).
// Threads: any; blocks its caller while it reads the whole stream, each
// request waiting at most `timeout`.
#pragma once

#include "fleet/journal_fold.h"
#include "journal/error.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace fj::fleet {

struct FleetView {
  std::vector<JournalFold> journals;  // sorted by journal id
  std::uint64_t messages = 0;         // in the stream as read
};

// Reads every message of the stream on `urls` (comma-separated
// nats://HOST:PORT) once, in stream order.
Result<FleetView> read_fleet(const std::string& urls,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace fj::fleet
