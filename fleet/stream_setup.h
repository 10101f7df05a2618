// Creating the fleet stream (fleet/stream.h), the one step that does: a
// shipper never creates it, so that a typo in a URL cannot start a stream
// nobody replicates. Threads: any; blocks for at most a few NATS requests,
// each waiting up to 10 s (creating a stream can take longer than a publish).
#pragma once

#include "journal/error.h"

#include <cstdint>
#include <string>

namespace fj::fleet {

struct StreamSetup {
  bool created = false;  // false: it existed with this configuration
  int replicas = 0;
  std::uint64_t messages = 0;  // stored in the stream now
  std::int64_t duplicate_window_ns = 0;
};

// Creates the stream kStreamName on the servers `urls` (comma-separated
// nats://HOST:PORT) with file storage, `replicas` copies (1 to 5), no limits
// (a limit would drop events and with them the cursor), direct gets allowed
// (reads answered by any replica) and the server's default duplicate window. Idempotent when the
// stream exists with that configuration. Errors: invalid_argument (URLs, replicas), unavailable (no
// server, JetStream not answering or not enabled), already_exists (the
// stream exists with another configuration; the message names what
// differs, with the values the stream has, and what to do), and a JetStream refusal as unavailable
// (e.g. fewer servers than replicas).
Result<StreamSetup> init_stream(const std::string& urls, int replicas);

}  // namespace fj::fleet
