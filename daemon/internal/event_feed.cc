#include "daemon/internal/event_feed.h"

#include "daemon/protocol.h"
#include "journal/codec.h"
#include "present/render.h"

#include <algorithm>
#include <array>
#include <utility>

namespace fj::service {

EventFeed::EventFeed(std::uint64_t from_seq, boost::json::value id, std::string journal_id)
    : from_seq_(from_seq),
      id_(std::move(id)),
      journal_id_(std::move(journal_id)),
      last_sent_(from_seq - 1),
      sendable_through_(from_seq - 1) {}

std::uint64_t EventFeed::read_through() const noexcept {
  return checker_ ? checker_->point().seq : from_seq_ - 1;
}

void EventFeed::fail(Error error) {
  // The stream ends right after the last line sent, with this error: an
  // earlier failure whose lines are still waiting is not where it ends.
  if (!failure_ || has_lines()) failure_ = std::move(error);
  sendable_through_ = last_sent_;
}

std::uint64_t EventFeed::step(Reader& reader, std::size_t budget, std::uint64_t through,
                              const std::function<void(std::string_view line)>& emit) {
  auto head = reader.head();
  if (!head) {
    fail(head.error());
    return 0;
  }
  if (!sender_ && !failure_) {
    if (!checker_) {
      auto started = ChainCursor::at_checkpoint(reader, from_seq_, journal_id_);
      if (!started) {
        fail(started.error());
        return *head;
      }
      checker_ = *started;
    }
    // From the checkpoint to from_seq - 1 (up to a window's records), a
    // step of kCheckEvents records at a time like the checks after it.
    const std::uint64_t to = std::min(from_seq_ - 1, checker_->point().seq + kCheckEvents);
    if (auto walked = checker_->walk_towards(reader, from_seq_, to); !walked) {
      fail(walked.error());
      return *head;
    }
    if (checker_->next_seq() < from_seq_) return *head;
    sender_ = checker_;
    checked_ = checker_->point();
  }
  check(reader, *head);
  send(reader, budget, through, emit);
  return *head;
}

void EventFeed::check(Reader& reader, std::uint64_t head) {
  // The checker waits for the sender: it never runs more than one window
  // ahead, so what a subscriber holds stays two cursors.
  if (failure_ || !checker_ || has_lines()) return;
  const std::uint64_t from = checker_->next_seq();
  if (from > head) return;
  const std::uint64_t window_end =
      (from - 1) / kChainCheckpointEvery * kChainCheckpointEvery + kChainCheckpointEvery;
  const std::uint64_t to = std::min({head, window_end, from + kCheckEvents - 1});
  bool chain_failed = false;
  EventView event;
  auto done =
      reader.for_each(from, to, [&](std::uint64_t seq, std::string_view record) -> Result<void> {
        // A record that fails its own checks is named
        // by them, not by the chain value it spoils.
        if (auto decoded = decode_into(seq, record, event); !decoded) {
          return decoded;
        }
        auto value = checker_->advance(reader, record);
        if (!value) {
          chain_failed = true;
          return value.error();
        }
        return {};
      });
  if (done && checker_->point().seq == head) {
    done = checker_->check_head(reader, head);
    chain_failed = !done;
  }
  if (!done) {
    fail(done.error());
    // The lines before a damaged record or a failed read go out before it
    // is reported; after a chain disagreement, none of the window's, whose
    // values are unchecked.
    if (!chain_failed) {
      sendable_through_ = checker_->point().seq;
      checked_ = checker_->point();
    }
    return;
  }
  const std::uint64_t at = checker_->point().seq;
  if (at % kChainCheckpointEvery == 0 || at == head) {
    sendable_through_ = at;
    checked_ = checker_->point();
  }
}

void EventFeed::send(Reader& reader, std::size_t budget, std::uint64_t through,
                     const std::function<void(std::string_view line)>& emit) {
  if (budget == 0 || !has_lines()) return;
  const std::uint64_t from = next_seq();
  const std::uint64_t to = std::min({sendable_through_, through, from + kSliceEvents - 1});
  if (from > to) return;
  // A scan rather than for_each: the slice ends at the budget, mid-range.
  RecordScan scan(reader, from, to);
  std::array<StoredRecord, 16> batch;
  EventView event;
  std::size_t bytes = 0;
  const auto stop = [&](Error e) {
    // Nothing after a record the sender cannot read: the lines before it
    // are out, and the error follows them (fail() stops the sending).
    fail(std::move(e));
  };
  for (;;) {
    auto count = scan.next(batch);
    if (!count) return stop(count.error());
    if (*count == 0) return;
    for (std::size_t i = 0; i < *count; ++i) {
      const auto [seq, record] = batch[i];
      if (auto decoded = decode_into(seq, record, event); !decoded) return stop(decoded.error());
      auto value = sender_->advance(reader, record);
      if (!value) return stop(value.error());
      // The records are read again, in a later transaction: one edited in
      // the file since the check changes the value, caught here at the end
      // of the checked run, before its line (earlier lines of the run are
      // out already: docs/decisions.md, Subscribe).
      if (seq == checked_.seq && *value != checked_.value) {
        return stop(make_error(
            Errc::corrupt_meta,
            "the hash chain recomputed to send seq " + std::to_string(seq) +
                " disagrees with the value checked just before: a record up to seq " +
                std::to_string(seq) + " changed in the file since ('forkjournal audit' " +
                "checks every record from seq 1)",
            seq));
      }
      const std::string line = protocol::ok_response(
          id_, {{"event", render::export_json(seq, event, journal_id_, *value)}});
      emit(line);
      last_sent_ = seq;
      bytes += line.size() + 1;
      if (bytes >= budget) return;
    }
  }
}

}  // namespace fj::service
