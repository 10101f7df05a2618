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
  if (!failure_) failure_ = std::move(error);
}

std::uint64_t EventFeed::step(Reader& reader, std::size_t budget, std::uint64_t through,
                              const std::function<void(std::string_view line)>& emit) {
  auto head = reader.head();
  if (!head) {
    fail(head.error());
    return 0;
  }
  if (!checker_ && !failure_) {
    // Walks from the checkpoint below from_seq: at most one window's records.
    auto started = ChainCursor::before(reader, from_seq_, journal_id_);
    if (!started) {
      fail(started.error());
      return *head;
    }
    checker_ = sender_ = *started;
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
    if (!chain_failed) sendable_through_ = checker_->point().seq;
    return;
  }
  const std::uint64_t at = checker_->point().seq;
  if (at % kChainCheckpointEvery == 0 || at == head) sendable_through_ = at;
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
    // are out, and the error follows them.
    fail(std::move(e));
    sendable_through_ = last_sent_;
  };
  for (;;) {
    auto count = scan.next(batch);
    if (!count) return stop(count.error());
    if (*count == 0) return;
    for (std::size_t i = 0; i < *count; ++i) {
      const auto [seq, record] = batch[i];
      if (auto decoded = decode_into(seq, record, event); !decoded) return stop(decoded.error());
      // The same value the checker checked: the records it read are the
      // ones read here (committed records do not change).
      auto value = sender_->advance(reader, record);
      if (!value) return stop(value.error());
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
