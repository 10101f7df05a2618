// Reading a stream in order, all of it or one subject, ending when nothing is
// pending. Unlike nats.h's for_each_message this does not rely on the
// subject's last message (js_GetLastMsg): nats-server 2.9 answers "no
// message" for a subject whose last message was deleted, and a reader that
// checks a stream must still see what is left of such a subject.
//
// Errors: not_found (no such stream), unavailable (no answer, a direct get
// failing), or the first error visit returns. Threads: as nats.h; the call
// blocks its caller throughout.
#pragma once

#include "fleet/internal/nats.h"

#include <cstdint>
#include <functional>
#include <string_view>

namespace fj::fleet::nats {

// Calls visit(msg, stream_seq) for every message of `stream` on `subject`
// (empty: every subject) stored when the call starts, and perhaps some
// stored during it, in stream order. An ordered consumer (ephemeral,
// pushed, no acks) streams them until it has nothing pending; when none can
// be placed or it stalls for a timeout, the rest come one direct get each
// (as for_each_message; Walk::direct: all of them). Returns the number of
// messages visited.
Result<std::uint64_t> for_each_in_stream(
    const Connection& c, std::string_view stream, std::string_view subject,
    const std::function<Result<void>(natsMsg*, std::uint64_t)>& visit,
    Walk walk = Walk::consumer_first);

}  // namespace fj::fleet::nats
