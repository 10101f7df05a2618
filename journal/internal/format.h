// On-disk constants of a journal. These numbers are written to disk: change
// them only together with kFormatVersion and docs/format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fj {

// Version of the whole journal layout (record framing, meta keys, snapshot
// encoding). A journal or record of another version is refused, never guessed.
inline constexpr std::uint8_t kFormatVersion = 1;

// Record framing: [version u8][type u8][origin u8][flags u8][time_ns u64 LE]
//                 [payload ...][crc32c u32 LE over every preceding byte]
inline constexpr std::size_t kRecordHeaderSize = 12;
inline constexpr std::size_t kRecordTrailerSize = 4;
inline constexpr std::size_t kMinRecordSize = kRecordHeaderSize + kRecordTrailerSize;
// Largest payload: template_registered or a correction with the longest
// evidence (u16 length) and ids.
inline constexpr std::size_t kMaxEvidenceSize = 4096;
inline constexpr std::size_t kMaxRecordSize =
    kRecordHeaderSize + 2 * 65 + 1 + 2 + kMaxEvidenceSize + kRecordTrailerSize;

// LMDB named databases.
inline constexpr const char* kEventsDb = "events";        // u64 seq -> record
inline constexpr const char* kMetaDb = "meta";            // key string -> value
inline constexpr const char* kSnapshotsDb = "snapshots";  // u64 seq -> snapshot blob
inline constexpr const char* kRequestsDb = "requests";    // request id -> RequestRecord
inline constexpr const char* kChainDb =
    "chain";  // u64 seq (multiple of 4096) -> 32-byte chain value
// u64 order (ascending with each stored id) -> [u64 stored_ns LE][request id]:
// the order in which request ids leave the window. Added beside format
// version 1 without changing it: a writer creates it at open and orders the
// ids stored without it (docs/format.md).
inline constexpr const char* kRequestOrderDb = "request_order";

// RequestRecord value: [u8 version = 1][u64 first_seq][u64 last_seq]
//                      [u64 already_at][u32 fingerprint], little-endian.
inline constexpr std::size_t kRequestRecordSize = 1 + 8 + 8 + 8 + 4;
inline constexpr std::size_t kMaxRequestIdSize = 128;

// Meta keys.
inline constexpr std::string_view kMetaMagic = "magic";            // "forkjournal"
inline constexpr std::string_view kMetaFormat = "format_version";  // u8
inline constexpr std::string_view kMetaJournalId = "journal_id";   // 32 hex characters
inline constexpr std::string_view kMetaCreated = "created_ns";     // u64 LE
inline constexpr std::string_view kMetaChainHead = "chain_head";   // u64 LE seq + 32-byte value
inline constexpr std::string_view kMagic = "forkjournal";

}  // namespace fj
