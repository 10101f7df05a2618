// Encoding and decoding of journal records (the framing is in format.h and
// docs/format.md). Pure functions: no LMDB, no clock, no allocation on decode.
#pragma once

#include "journal/error.h"
#include "journal/event.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace fj {

// Checks that `e` can be encoded: valid ids and name, a reason that fits its
// type, evidence of at most kMaxEvidenceSize bytes, and an origin. Returns
// invalid_argument naming the field at fault.
Result<void> validate(const EventView& e);

// Appends the record for `e` to `out`. Precondition: validate(e) succeeded.
void encode(const EventView& e, std::string& out);
std::string encode(const EventView& e);

// Decodes the record stored under `seq`. The returned view borrows from
// `record`. Errors (each naming seq): corrupt_record for a short, oversized or
// impossible record (including an invalid id or name: a CRC is no signature,
// so a record that passes it is still checked like input), checksum_mismatch,
// unknown_version, unknown_type. The checksum is verified before any length
// inside the record is trusted.
Result<EventView> decode(std::uint64_t seq, std::string_view record);
// The same into `out`, every field of which it writes: a replay's hot loop
// reuses one view for all its events and copies nothing out of a Result. On
// error `out` is unspecified.
Result<void> decode_into(std::uint64_t seq, std::string_view record, EventView& out);

// The CRC32C stored in a record's trailer (no validation).
std::uint32_t stored_checksum(std::string_view record) noexcept;

}  // namespace fj
