#include "projector/replay.h"

#include "journal/codec.h"
#include "journal/events.h"
#include "projector/internal/pipeline.h"
#include "projector/internal/snapshot.h"

#include <algorithm>

namespace fj {

std::string IgnoredSnapshot::text() const {
  return "snapshot at seq " + std::to_string(seq) + ": " + reason;
}

Result<void> apply_range(Reader& reader, Projection& state, std::uint64_t to) {
  return for_each_event(reader, state.seq() + 1, to,
                        [&](std::uint64_t seq, const EventView& e) { state.apply(seq, e); });
}

namespace {

// Ends the range at the head (or fails if `to` lies beyond it).
Result<std::uint64_t> clamp_to_head(Reader& r, std::uint64_t to) {
  auto head = r.head();
  if (!head) return head.error();
  if (to == kHead) return *head;
  if (to > *head) {
    return make_error(Errc::invalid_argument, "seq " + std::to_string(to) +
                                                  " is beyond the journal's head (seq " +
                                                  std::to_string(*head) + ")");
  }
  return to;
}

// An empty projection with room for what a replay to `to` will hold, as the
// newest snapshot at or below `to` counts it: growing the tables from empty
// rehashes every live fork at each doubling. A snapshot that does not decode
// gives no hint; none can be wrong enough to matter (a hint is never a
// bound), and sizes are capped by the events to replay, which bound them.
Result<Projection> sized_for(Reader& r, std::uint64_t to) {
  Projection state;
  if (to == 0) return state;
  auto stored = r.snapshot_at_most(to);
  if (!stored) return stored.error();
  if (!*stored) return state;
  auto sizes = SnapshotCodec::sizes((*stored)->blob);
  if (!sizes) return state;
  const auto cap = [&](std::uint32_t n) {
    return static_cast<std::size_t>(std::min<std::uint64_t>(n, to));
  };
  state.reserve(cap(sizes->templates), cap(sizes->live_forks), cap(sizes->lost_forks));
  return state;
}

// The newest usable snapshot at or below `to`, or an empty projection.
Result<Projection> newest_snapshot(Reader& r, std::uint64_t to, LoadReport& report) {
  for (std::uint64_t at_most = to; at_most > 0;) {
    auto stored = r.snapshot_at_most(at_most);
    if (!stored) return stored.error();
    if (!*stored) break;
    const std::uint64_t seq = (*stored)->seq;
    at_most = seq - 1;
    auto decoded = SnapshotCodec::decode((*stored)->blob);
    if (!decoded) {
      report.ignored.push_back({seq, decoded.error().message});
      continue;
    }
    auto record = r.record(seq);
    if (!record) return record.error();
    // The record itself is checked too: a snapshot tagged with a damaged
    // record is not used, so the replay from an older one stops at it.
    if (*record) {
      if (auto sound = decode(seq, **record); !sound) {
        report.ignored.push_back(
            {seq, "the journal's record at that seq is damaged (" + sound.error().message + ")"});
        continue;
      }
    }
    if (decoded->projection.seq() != seq || !*record ||
        stored_checksum(**record) != decoded->record_crc) {
      report.ignored.push_back({seq, "does not match the journal's record at that seq"});
      continue;
    }
    report.snapshot_seq = seq;
    return std::move(decoded->projection);
  }
  return Projection{};
}

// How replay_from may read: `pipelined` only in a read transaction of our own
// (projector/internal/pipeline.h).
enum class Reading { in_caller_txn, pipelined };

Result<Projection> replay_from(Reader& r, Projection state, std::uint64_t to, Reading reading) {
  auto ok = reading == Reading::pipelined ? apply_range_pipelined(r, state, to)
                                          : apply_range(r, state, to);
  if (!ok) return ok.error();
  return state;
}

Result<Projection> load_in(Reader& reader, std::uint64_t to, LoadReport& report, Reading reading) {
  report = LoadReport{};
  auto end = clamp_to_head(reader, to);
  if (!end) return end.error();
  auto base = newest_snapshot(reader, *end, report);
  if (!base) return base.error();
  report.replayed = *end - base->seq();
  return replay_from(reader, std::move(*base), *end, reading);
}

}  // namespace

Result<Projection> replay(const Journal& journal, std::uint64_t to) {
  return journal.read([&](Reader& r) -> Result<Projection> {
    auto end = clamp_to_head(r, to);
    if (!end) return end.error();
    auto state = sized_for(r, *end);
    if (!state) return state.error();
    return replay_from(r, std::move(*state), *end, Reading::pipelined);
  });
}

Result<Projection> load_from(Reader& reader, std::uint64_t to, LoadReport& report) {
  return load_in(reader, to, report, Reading::in_caller_txn);
}

Result<Projection> load(const Journal& journal, std::uint64_t to, LoadReport* report) {
  LoadReport local;
  return journal.read([&](Reader& r) {
    return load_in(r, to, report != nullptr ? *report : local, Reading::pipelined);
  });
}

}  // namespace fj
