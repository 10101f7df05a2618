// The journal side of one subscription (daemon/internal/subscription.h): the
// event lines from a seq on, read in short steps of bounded work so that a
// subscriber holds only the lines its connection has not yet written, and
// the I/O thread serves other connections between two steps.
//
// Every line carries the hash chain's value after its event, and no line
// goes out before that value is checked against the stored checkpoint or
// chain head that ends its window (docs/protocol.md, Subscribe). Holding a
// whole window of lines until then would cost a subscriber megabytes, so
// the feed walks the chain twice with two cursors: a checker runs ahead
// over the window (decoding and hashing, kCheckEvents records per step) and
// only when it reaches a checkpoint or the head may a sender follow up to
// there, re-reading the records and rendering their lines, a slice at a
// time. Hashing twice costs far less than rendering the line (SHA-256 of a
// record of a few hundred bytes). Each step is its own read transaction,
// kept short: it pins pages and holds the map-resize lock shared.
//
// Errors: a step never fails; what goes wrong is kept in failure(), to be
// reported once the lines before it are out. A damaged record or a read
// error (seq_gap, corrupt_page) lets the lines before it go out; a chain
// value that disagrees with a stored one lets none of its window's out. The
// sender compares its value with the checker's where the checked run ends,
// so a record edited in the file between the two reads ends the stream
// there (the run's earlier lines are out: docs/decisions.md, Subscribe).
//
// Threads and lifetime: a plain value used by one thread at a time; it
// keeps no reference to a Reader, so it follows the journal across many read
// transactions (each step takes the Reader of the current one).
#pragma once

#include "journal/chain_cursor.h"
#include "journal/journal.h"

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace fj::service {

class EventFeed {
 public:
  // Records the checker decodes and hashes in one step: a few hundred
  // microseconds of work.
  static constexpr std::uint64_t kCheckEvents = 512;
  // Lines the sender renders in one step at most, whatever the byte budget:
  // rendering is most of a subscriber's work (a few microseconds a line).
  static constexpr std::uint64_t kSliceEvents = 128;

  // The feed of the events from `from_seq` on, each line carrying `id`.
  EventFeed(std::uint64_t from_seq, boost::json::value id, std::string journal_id);

  // One step in `reader`'s transaction: when no checked line waits, the
  // checker goes on by up to kCheckEvents records; then, when `budget` is
  // not 0, the sender hands the checked lines from next_seq() to emit, one
  // at a time, until their bytes reach `budget` (so at least one line goes
  // out), kSliceEvents lines or seq `through`. Returns the head the
  // transaction saw (0 when it could not be read: see failure()).
  std::uint64_t step(Reader& reader, std::size_t budget, std::uint64_t through,
                     const std::function<void(std::string_view line)>& emit);

  // Records a failure to read at all (the transaction could not start):
  // the stream ends after the last line sent, whatever checked lines wait.
  void fail(Error error);

  // Whether checked lines wait to be sent.
  bool has_lines() const noexcept { return next_seq() <= sendable_through_; }
  // The seq of the next line to send.
  std::uint64_t next_seq() const noexcept { return last_sent_ + 1; }
  // The seq of the last line sent (handed to emit), from_seq - 1 before any.
  std::uint64_t last_sent() const noexcept { return last_sent_; }
  // The last seq the checker has read: a head past it means more events.
  std::uint64_t read_through() const noexcept;
  // Why the stream must end once every line before it is sent; nullopt
  // while it may go on.
  const std::optional<Error>& failure() const noexcept { return failure_; }

 private:
  void check(Reader& reader, std::uint64_t head);
  void send(Reader& reader, std::size_t budget, std::uint64_t through,
            const std::function<void(std::string_view line)>& emit);

  std::uint64_t from_seq_;
  boost::json::value id_;
  std::string journal_id_;
  std::optional<ChainCursor> checker_;
  std::optional<ChainCursor> sender_;  // at last_sent_, once at from_seq - 1
  std::uint64_t last_sent_;
  // The lines through this seq may go out: their chain values are checked,
  // or, before a damaged record, there is nothing more to check them by.
  std::uint64_t sendable_through_;
  // The checker's value at sendable_through_, for the sender to compare its
  // own with when it gets there.
  ChainPoint checked_{};
  std::optional<Error> failure_;
};

}  // namespace fj::service
