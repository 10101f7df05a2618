// Snapshot encoding: the whole projection at one seq as a compact binary
// blob, stored in the journal's snapshots database. A snapshot is a cache,
// never a source of truth: it is tagged with the format versions and with the
// CRC32C of the record at its seq, and a loader that finds any mismatch
// ignores it and replays from an older snapshot or from seq 1.
#pragma once

#include "journal/error.h"
#include "projector/projection.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace fj {

inline constexpr std::uint8_t kSnapshotVersion = 1;

struct DecodedSnapshot {
  Projection projection;         // projection.seq() is the snapshot's seq
  std::uint32_t record_crc = 0;  // stored checksum of the record at that seq
};

// The table sizes a snapshot holds, read without building its projection.
struct SnapshotSizes {
  std::uint64_t seq = 0;
  std::uint32_t templates = 0;
  std::uint32_t live_forks = 0;
  std::uint32_t lost_forks = 0;
};

class SnapshotCodec {
 public:
  // `record_crc`: stored_checksum() of the record at state.seq().
  static std::string encode(const Projection& state, std::uint32_t record_crc);
  // corrupt_record (or unknown_version) naming what is wrong; never trusts a
  // length before the blob's own checksum has been verified.
  static Result<DecodedSnapshot> decode(std::string_view blob);
  // The sizes alone, after the same checksum and version checks as decode
  // (and its errors); every count is bounded by the bytes that hold it.
  static Result<SnapshotSizes> sizes(std::string_view blob);
  // decode(blob)'s errors, or whether what it decodes equals `state`
  // (operator==), found without building the snapshot's tables: the audit
  // compares its replay with the newest snapshot this way, and decoding a
  // large snapshot's tables (fresh pages for the kernel to zero, a random
  // store per fork) held up its walk. Linear in the blob; allocates about
  // five bytes per template, a bit per fork-table slot of `state` and a
  // pointer per lost fork.
  static Result<bool> matches(std::string_view blob, const Projection& state);
};

}  // namespace fj
