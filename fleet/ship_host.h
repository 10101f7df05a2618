// The host name a shipper puts in every message's Fj-Host header
// (fleet/stream.h). Kept apart from the shipper so that the daemon can refuse
// a bad --ship-host before it creates or opens anything. Pure; any thread.
#pragma once

#include "journal/error.h"

#include <cstddef>
#include <string_view>

namespace fj::fleet {

inline constexpr std::size_t kMaxShipHost = 255;  // bytes; a DNS name is at most 253

// Checks a host name to ship under: 1 to 255 bytes of letters, digits, '-',
// '.' and '_' (RFC 1123 host names, plus the underscore some fleets use).
// A header value cannot carry CR or LF (the NATS client turns them into
// spaces, so "h\r\nFj-Seq: 9" would ship as one odd name), and every message
// carries the name, so a long one costs bytes on every event. Errors:
// invalid_argument, whose message names the first offending byte or the
// length and does not repeat the name's control characters.
Result<void> check_ship_host(std::string_view host);

}  // namespace fj::fleet
