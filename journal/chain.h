// The SHA-256 hash chain over all records: the tamper evidence that the
// per-record CRC32C cannot give (anyone can recompute a CRC). Each record's
// chain value covers the previous value, its seq and its bytes:
//
//   chain(0) = SHA-256("forkjournal chain v1" || journal_id)
//   chain(n) = SHA-256(chain(n-1) || u64le(n) || record(n))
//
// The value at the head is stored with every commit (meta "chain_head"), and
// the value at every multiple of kChainCheckpointEvery in the "chain"
// database, so an audit localises an edit to one window of 4,096 seqs, and an
// auditor who noted (seq, chain) earlier can prove the history up to it is
// unchanged.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fj {

using ChainHash = std::array<std::uint8_t, 32>;

inline constexpr std::uint64_t kChainCheckpointEvery = 4096;

// Thread-safe. OpenSSL failing to hash (no SHA-256 provider, out of memory)
// aborts the process with a message on stderr: a chain value is never
// returned wrong, and no journal can be checked or extended without one.
ChainHash chain_seed(std::string_view journal_id);
ChainHash chain_next(const ChainHash& previous, std::uint64_t seq, std::string_view record);

// The value from its 64 hex digits (printed with to_hex, journal/hex.h);
// nullopt for anything else.
std::optional<ChainHash> chain_from_hex(std::string_view hex);

}  // namespace fj
