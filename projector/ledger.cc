#include "projector/ledger.h"

#include "journal/codec.h"
#include "projector/snapshot.h"

#include <chrono>

namespace fj {

std::uint64_t wall_clock_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Result<void> apply_range(Reader& reader, Projection& state, std::uint64_t to) {
  return reader.for_each(state.seq() + 1, to,
                         [&](std::uint64_t seq, std::string_view record) -> Result<void> {
                           auto e = decode(seq, record);
                           if (!e) return e.error();
                           state.apply(seq, *e);
                           return {};
                         });
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

Result<Projection> load(const Journal& journal, std::uint64_t to, LoadReport* report) {
  LoadReport local;
  LoadReport& rep = report != nullptr ? *report : local;
  rep = LoadReport{};
  return journal.read([&](Reader& r) -> Result<Projection> {
    auto end = clamp_to_head(r, to);
    if (!end) return end.error();
    auto base = newest_snapshot(r, *end, rep);
    if (!base) return base.error();
    rep.replayed = *end - base->seq();
    return replay_from(r, std::move(*base), *end);
  });
}

Result<Ledger> Ledger::open(Journal& journal, Clock clock) {
  Ledger ledger(journal, clock ? std::move(clock) : Clock(wall_clock_ns));
  auto state = load(journal, kHead, &ledger.report_);
  if (!state) return state.error();
  ledger.state_ = std::move(*state);
  return ledger;
}

Result<void> Ledger::catch_up() {
  return journal_->read([&](Reader& r) -> Result<void> {
    auto head = r.head();
    if (!head) return head.error();
    return apply_range(r, state_, *head);
  });
}

Result<Outcome> Ledger::execute(const Command& command, Origin origin) {
  return transact(
      [&](const Projection& state, Reader&) { return decide(state, command, origin, clock_()); });
}

Result<Outcome> Ledger::transact(const DecideFn& fn) {
  Decision decision;
  auto outcome = journal_->write([&](WriteTxn& w) -> Result<Outcome> {
    auto head = w.head();
    if (!head) return head.error();
    if (*head < state_.seq()) {
      return make_error(Errc::seq_gap,
                        "the journal's head (seq " + std::to_string(*head) +
                            ") is behind what was already read (seq " +
                            std::to_string(state_.seq()) + ")",
                        *head + 1);
    }
    // Events other writers committed are durable: applying them is right even
    // if this transaction later aborts.
    if (auto ok = apply_range(w, state_, *head); !ok) return ok.error();
    auto decided = fn(state_, w);
    if (!decided) return decided.error();
    decision = std::move(*decided);
    Outcome out;
    out.already_at = decision.already_at;
    for (const Event& e : decision.events) {
      auto seq = w.append(view(e));
      if (!seq) return seq.error();
      if (out.first_seq == 0) out.first_seq = *seq;
      out.last_seq = *seq;
    }
    return out;
  });
  if (!outcome) return outcome;
  for (std::size_t i = 0; i < decision.events.size(); ++i) {
    state_.apply(outcome->first_seq + i, view(decision.events[i]));
  }
  return outcome;
}

Result<std::uint64_t> Ledger::snapshot() {
  return journal_->write([&](WriteTxn& w) -> Result<std::uint64_t> {
    auto head = w.head();
    if (!head) return head.error();
    if (auto ok = apply_range(w, state_, *head); !ok) return ok.error();
    if (*head == 0) return std::uint64_t{0};
    auto record = w.record(*head);
    if (!record) return record.error();
    if (!*record)
      return make_error(Errc::seq_gap, "seq " + std::to_string(*head) + " is missing", *head);
    const std::string blob = SnapshotCodec::encode(state_, stored_checksum(**record));
    if (auto ok = w.put_snapshot(*head, blob); !ok) return ok.error();
    return *head;
  });
}

}  // namespace fj
