// Two hash chains (journal/chain.h) extended by one record each at once, for
// the audit's hashing (journal/internal/chain_hasher.h). One SHA-256 is a
// serial chain of rounds, and the processor's SHA round instruction waits
// for the one before it most of the time: a second, independent message
// interleaved with the first fills those waits, so two chain steps take
// about the time of one (docs/decisions.md, "Two chains per core").
// OpenSSL hashes one message at a time, so this is the project's own
// SHA-256 compression on the SHA extensions; where the processor lacks them
// (or is not x86-64), or a record is longer than four blocks hold, each
// lane is one chain_next.
//
// Errors: none; the values are chain_next's, bit for bit
// (tests/chain_lanes_test.cc compares them on every record length up to
// past the longest the lanes take). Thread-safe; no allocation where the
// lanes interleave (chain_next's fallback is OpenSSL's).
#pragma once

#include "journal/chain.h"

#include <cstdint>
#include <string_view>

namespace fj::detail {

struct ChainLane {
  ChainHash& chain;  // the value before the record on entry, after it on return
  std::uint64_t seq;
  std::string_view record;
};

// a.chain = chain_next(a.chain, a.seq, a.record), and the same for b; the
// two chains must be distinct objects.
void chain_next_pair(const ChainLane& a, const ChainLane& b);

// Whether chain_next_pair interleaves the two (the SHA extensions are
// there), for tests and the benchmark's report.
bool chain_lanes_interleave() noexcept;

}  // namespace fj::detail
