#include "projector/ledger.h"

#include "journal/codec.h"
#include "journal/ids.h"
#include "journal/internal/clock.h"
#include "journal/internal/crc32c.h"
#include "projector/internal/snapshot.h"

#include <unordered_map>

namespace fj {

Result<Ledger> Ledger::open(Journal& journal, Clock clock) {
  Ledger ledger(journal, clock ? std::move(clock) : Clock(wall_clock_ns));
  auto state = load(journal, kHead, &ledger.report_);
  if (!state) return state.error();
  ledger.state_ = std::move(*state);
  return ledger;
}

Result<void> Ledger::catch_up() {
  return journal_->read([&](Reader& r) { return catch_up_in(r); });
}

std::uint32_t fingerprint(const Command& command) {
  std::string canonical(1, static_cast<char>(command.index()));
  std::visit(
      [&](const auto& c) {
        for (const std::string* field : fields(c)) {
          canonical += *field;
          canonical += '\0';
        }
      },
      command);
  return crc32c(canonical.data(), canonical.size());
}

template <class Fn>
auto Ledger::write(Fn&& fn) -> decltype(fn(std::declval<WriteTxn&>())) {
  auto result = journal_->write([&](WriteTxn& w) -> decltype(fn(w)) {
    if (auto ok = catch_up_in(w); !ok) return ok.error();
    return fn(w);
  });
  // Committed: the projection matches the journal.
  if (result) {
    dirty_ = false;
  } else if (dirty_) {
    discard_uncommitted();
  }
  return result;
}

void Ledger::discard_uncommitted() {
  // The write's own error is what the caller gets; if the journal cannot be
  // read now either, dirty_ stays set and the next catch-up reloads.
  LoadReport report;
  auto reloaded = journal_->read([&](Reader& r) -> Result<Projection> {
    auto head = r.head();
    if (!head) return head.error();
    return load_from(r, *head, report);
  });
  if (!reloaded) return;
  state_ = std::move(*reloaded);
  report_ = std::move(report);
  dirty_ = false;
}

Result<void> Ledger::catch_up_in(Reader& reader) {
  auto head = reader.head();
  if (!head) return head.error();
  if (dirty_ || *head < state_.seq()) {
    LoadReport report;
    auto reloaded = load_from(reader, *head, report);
    if (!reloaded) return reloaded.error();
    state_ = std::move(*reloaded);
    report_ = std::move(report);
    dirty_ = false;
  }
  return apply_range(reader, state_, *head);
}

Result<Outcome> Ledger::append_decided(WriteTxn& w, const Decision& decision) {
  Outcome out;
  out.already_at = decision.already_at;
  for (const Event& e : decision.events) {
    auto seq = w.append(view(e));
    if (!seq) return seq.error();
    dirty_ = true;
    state_.apply(*seq, view(e));
    if (out.first_seq == 0) out.first_seq = *seq;
    out.last_seq = *seq;
  }
  return out;
}

Result<Outcome> Ledger::execute(const Command& command, Origin origin) {
  return transact(
      [&](const Projection& state, Reader&) { return decide(state, command, origin, clock_()); });
}

Result<Outcome> Ledger::transact(const DecideFn& fn) {
  return write([&](WriteTxn& w) -> Result<Outcome> {
    auto decided = fn(state_, w);
    if (!decided) return decided.error();
    return append_decided(w, *decided);
  });
}

Result<std::vector<Result<Outcome>>> Ledger::execute_batch(std::span<const Request> batch,
                                                           Origin origin) {
  std::vector<Result<Outcome>> results;
  auto done = write([&](WriteTxn& w) -> Result<void> {
    results.clear();
    const std::uint64_t time_ns = clock_();
    std::unordered_map<std::string_view, RequestRecord> in_batch;
    for (const Request& request : batch) {
      const std::string& id = request.request_id;
      const std::uint32_t print = id.empty() ? 0 : fingerprint(request.command);
      if (!id.empty()) {
        if (auto valid = check_request_id(id); !valid) {
          results.emplace_back(valid.error());
          continue;
        }
        std::optional<RequestRecord> stored;
        if (const auto it = in_batch.find(id); it != in_batch.end()) {
          stored = it->second;
        } else {
          auto found = w.request(id);
          if (!found) return found.error();
          stored = *found;
        }
        if (stored) {
          if (stored->fingerprint != print) {
            results.emplace_back(
                make_error(Errc::invalid_argument,
                           "request_id '" + id + "' was already used for a different request"));
          } else {
            results.emplace_back(
                Outcome{stored->first_seq, stored->last_seq, stored->already_at, true});
          }
          continue;
        }
      }
      auto decided = decide(state_, request.command, origin, time_ns);
      if (!decided) {
        results.emplace_back(decided.error());
        continue;
      }
      auto outcome = append_decided(w, *decided);
      if (!outcome) return outcome.error();
      if (!id.empty()) {
        const RequestRecord record{outcome->first_seq, outcome->last_seq, outcome->already_at,
                                   print};
        if (auto ok = w.put_request(id, record, time_ns); !ok) return ok.error();
        in_batch.emplace(id, record);
      }
      results.emplace_back(*outcome);
    }
    return {};
  });
  if (!done) return done.error();
  return results;
}

Result<std::uint64_t> Ledger::store_snapshot(WriteTxn& w, const Projection& state,
                                             std::size_t keep) {
  const std::uint64_t head = state.seq();
  if (head == 0) return std::uint64_t{0};
  auto record = w.record(head);
  if (!record) return record.error();
  if (!*record) {
    return make_error(Errc::seq_gap, "seq " + std::to_string(head) + " is missing", head);
  }
  const std::string blob = SnapshotCodec::encode(state, stored_checksum(**record));
  if (auto ok = w.put_snapshot(head, blob, keep); !ok) return ok.error();
  return head;
}

Result<std::uint64_t> Ledger::snapshot() {
  return write([&](WriteTxn& w) { return store_snapshot(w, state_, 2); });
}

Result<Ledger::CheckedSnapshot> Ledger::snapshot_replayed(Projection replayed) {
  bool differed = false;
  auto stored = write([&](WriteTxn& w) -> Result<CheckedSnapshot> {
    const std::uint64_t head = state_.seq();
    if (replayed.seq() > head) {
      return make_error(Errc::invalid_argument,
                        "the replay reached seq " + std::to_string(replayed.seq()) +
                            ", past the head (seq " + std::to_string(head) + ")");
    }
    if (auto ok = apply_range(w, replayed, head); !ok) return ok.error();
    differed = !(replayed == state_);
    auto seq = store_snapshot(w, replayed, differed ? 1 : 2);
    if (!seq) return seq.error();
    return CheckedSnapshot{*seq, differed};
  });
  // The projection becomes the replayed state once its snapshot is stored:
  // after a failed write both are as they were, and a retry finds the
  // difference again (and deletes the other snapshots then).
  if (stored && differed) state_ = std::move(replayed);
  return stored;
}

}  // namespace fj
