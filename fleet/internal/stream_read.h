// Reading a whole stream in order, every subject at once: what the fleet
// view and verify need, where the per-subject reads of nats.h would cost one
// consumer per journal.
//
// Errors: not_found (no such stream), unavailable (no answer, a message not
// arriving within the connection's timeout), or the first error visit
// returns. Threads: as nats.h; the call blocks its caller throughout.
#pragma once

#include "fleet/internal/nats.h"

#include <cstdint>
#include <functional>
#include <string_view>

namespace fj::fleet::nats {

// Calls visit(msg, stream_seq) for every message of `stream` stored when
// the call starts (and perhaps some stored during it), in stream order,
// through an ordered consumer (ephemeral, pushed, no acks). Returns the
// number of messages visited.
Result<std::uint64_t> for_each_in_stream(
    const Connection& c, std::string_view stream,
    const std::function<Result<void>(natsMsg*, std::uint64_t)>& visit);

}  // namespace fj::fleet::nats
