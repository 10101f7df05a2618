// A long replay split over two threads: a helper thread reads, checks and
// decodes the records (LMDB cursor, page checks, CRC32C, id validation) into
// batches of events while the calling thread applies them to the projection.
// On a journal of millions of events each half is about half of the work, so
// a first pass takes little more than the larger half.
//
// Same contract as apply_range (projector/replay.h): applies the records
// (state.seq(), to] in order, stops at the first failure and returns it, and
// `state` then holds everything before it. A range shorter than
// kPipelineMinEvents, or a helper thread the system refuses, runs on the
// calling thread alone.
//
// Lifetime and threads: `reader` must belong to a read transaction (the
// events handed over point into LMDB's map, valid until the transaction
// ends; a write transaction's pages are not) that nothing else uses during
// the call: the helper thread uses it while the caller only applies. The
// helper has ended when the call returns, also when apply throws.
#pragma once

#include "journal/journal.h"
#include "projector/projection.h"

#include <cstdint>

namespace fj {

// Below this many events a second thread costs more than it saves.
inline constexpr std::uint64_t kPipelineMinEvents = 1 << 16;

Result<void> apply_range_pipelined(Reader& reader, Projection& state, std::uint64_t to);

}  // namespace fj
