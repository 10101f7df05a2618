#include "projector/replay.h"

#include "journal/codec.h"
#include "journal/events.h"
#include "projector/internal/snapshot.h"

namespace fj {

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

Result<Projection> replay_from(Reader& r, Projection state, std::uint64_t to) {
  if (auto ok = apply_range(r, state, to); !ok) return ok.error();
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
      report.ignored.push_back("snapshot at seq " + std::to_string(seq) + ": " +
                               decoded.error().message);
      continue;
    }
    auto record = r.record(seq);
    if (!record) return record.error();
    if (decoded->projection.seq() != seq || !*record ||
        stored_checksum(**record) != decoded->record_crc) {
      report.ignored.push_back("snapshot at seq " + std::to_string(seq) +
                               ": does not match the journal's record at that seq");
      continue;
    }
    report.snapshot_seq = seq;
    return std::move(decoded->projection);
  }
  return Projection{};
}

}  // namespace

Result<Projection> replay(const Journal& journal, std::uint64_t to) {
  return journal.read([&](Reader& r) -> Result<Projection> {
    auto end = clamp_to_head(r, to);
    if (!end) return end.error();
    return replay_from(r, Projection{}, *end);
  });
}

Result<Projection> load_from(Reader& reader, std::uint64_t to, LoadReport& report) {
  report = LoadReport{};
  auto end = clamp_to_head(reader, to);
  if (!end) return end.error();
  auto base = newest_snapshot(reader, *end, report);
  if (!base) return base.error();
  report.replayed = *end - base->seq();
  return replay_from(reader, std::move(*base), *end);
}

Result<Projection> load(const Journal& journal, std::uint64_t to, LoadReport* report) {
  LoadReport local;
  return journal.read(
      [&](Reader& r) { return load_from(r, to, report != nullptr ? *report : local); });
}

}  // namespace fj
