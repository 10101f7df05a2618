// The hashing and reporting half of Reader::verify_chain (journal/verify.cc):
// batches of records, in seq order, extended onto the SHA-256 hash chain
// (journal/chain.h) and handed to a report callback (the audit decodes and
// replays each record there) on a worker thread, while the walker reads the
// next batches. Each hashed record gets the chain value after it and, at a
// multiple of kChainCheckpointEvery, the verdict on the stored checkpoint
// the walker read for it; on a mismatch the chain carries on from the
// stored value, so each window is judged on its own.
//
// That also makes a batch that starts right after a stored checkpoint
// independent of the batches before it: its chain starts at the stored
// value, whatever they hash to. The walker passes that value with such a
// batch, and a walker waiting for the worker hashes the newest such batches
// itself instead of sleeping, so that the two threads share the hashing
// whichever of them has less else to do (docs/decisions.md, "Both threads
// hash", "The audit reports on the hashing thread"). Each thread steps two
// such batches at once when it can, the worker the batch after its own
// (journal/internal/chain_lanes.h; docs/decisions.md, "Two chains per
// core"). Reports stay in ticket order, one batch at a time.
//
// Errors: none (a failing SHA-256 aborts, as in journal/chain.h); a decode
// error is the step's `decoded`. What the worker throws (std::bad_alloc,
// or whatever the report throws) is rethrown by the next submit, wait or
// rethrow_if_failed, and the worker stops; what wait throws while hashing
// leaves the hasher to be destroyed. Threads: submit, wait and chain are
// called from one thread, the walker's; the report is called on the worker
// (on the walker's thread, in submit, for a walk without one), never two at
// once. A batch belongs to the hasher from submit until wait for its ticket
// returns, and the records it views must stay readable (their read
// transaction open) as long. The worker starts with the first submit that
// says more batches follow; a walk of one batch, or a process that cannot
// start a thread, hashes and reports inline in submit. The destructor
// stops the worker after the batch it is on (batches still queued are not
// reported, though the walker may have hashed some) and joins it.
#pragma once

#include "journal/chain.h"
#include "journal/error.h"
#include "journal/event.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <utility>

namespace fj::detail {

enum class CheckpointCheck : std::uint8_t { none, missing, mismatch, good };

// Steps are reused from batch to batch: the walker sets each field of its
// own that the step's kind is read for (a malformed key's only `seq`), and
// the hasher every field of its own on a chained step.
struct ChainStep {
  // Set by the walker. A step that is not `chained` is not hashed: a
  // malformed key, or the record of an already verified starting point.
  std::uint64_t seq = 0;
  std::uint64_t gap_from = 0;  // the walker's own note: seqs gap_from..seq-1 are missing
  std::string_view record;
  bool chained = false;
  bool malformed = false;           // the walker's own note: a key that is no seq
  std::optional<ChainHash> stored;  // the stored checkpoint at this seq, if any was read
  // Set by the hasher.
  ChainHash chain{};
  CheckpointCheck check = CheckpointCheck::none;
  // Set by the hasher when it decodes (ChainHasher's `decode`): the record
  // decoded, and the outcome.
  EventView event;
  Result<void> decoded;
};

class ChainHasher {
 public:
  // Called with each batch once it is hashed, in ticket order.
  using Report = std::function<void(std::span<const ChainStep> batch)>;

  // `decode`: also decode each chained record (ChainStep::event, decoded),
  // on the same thread as its hashing. `report` may be empty.
  explicit ChainHasher(const ChainHash& start, bool decode = false, Report report = {})
      : chain_(start), decode_(decode), report_(std::move(report)) {}
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;
  ~ChainHasher();

  // Queues `batch` after every batch submitted before; returns its ticket.
  // `start`: the chain value before the batch's first record when the walker
  // knows it without hashing (the stored checkpoint right before it), else
  // nullopt.
  std::uint64_t submit(std::span<ChainStep> batch, const std::optional<ChainHash>& start,
                       bool more_follow);
  // Returns once the batch with `ticket`, and so every batch before it, is
  // hashed and reported; meanwhile hashes the latest one or two batches with
  // a known start itself rather than sleep.
  void wait(std::uint64_t ticket);
  // Throws what the worker threw, if it has (wait and submit do too).
  void rethrow_if_failed();
  // The chain value after the last record hashed, once every batch is waited for.
  const ChainHash& chain() const noexcept { return chain_; }
  // Batches the walker hashed itself, out of turn (wait).
  std::uint64_t hashed_by_walker() const noexcept { return hashed_by_walker_; }
  // Batches hashed beside another (hash_pair), by either thread, once every
  // batch is waited for.
  std::uint64_t hashed_beside() const noexcept { return hashed_beside_; }

 private:
  enum class State : std::uint8_t { queued, hashing, hashed };
  struct Job {
    std::span<ChainStep> batch;
    std::optional<ChainHash> start;
    State state = State::queued;
    ChainHash end{};  // the chain after the batch, once hashed beside or out of turn
  };

  // Extends `chain` over the batch's chained steps, filling them in.
  void hash(ChainHash& chain, std::span<ChainStep> batch) const;
  // Two independent batches at once, two chains per core
  // (journal/internal/chain_lanes.h).
  void hash_pair(ChainHash& chain_a, std::span<ChainStep> a, ChainHash& chain_b,
                 std::span<ChainStep> b) const;
  // A chained step's checkpoint verdict, chain value and decoding, once
  // `chain` includes its record; a mismatch resets `chain` to the stored value.
  void finish(ChainHash& chain, ChainStep& s) const;
  Job& job(std::uint64_t ticket) { return jobs_[ticket - first_ticket_]; }
  // Takes a queued job with a known start out of turn: it is hashed from
  // `end`, which starts at the start.
  static void claim(Job& j) {
    j.state = State::hashing;
    j.end = *j.start;
  }
  void run();

  ChainHash chain_;  // the worker's while it runs
  const bool decode_;
  const Report report_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;            // tickets first_ticket_ .. submitted_
  std::uint64_t first_ticket_ = 1;  // the oldest job not yet waited for
  std::uint64_t submitted_ = 0;
  std::uint64_t next_ = 1;  // the worker's next ticket: it has reported every earlier one
  bool stop_ = false;
  std::uint64_t hashed_by_walker_ = 0;  // the walker's own
  std::uint64_t hashed_beside_ = 0;     // guarded by mutex_
  bool inline_ = false;                 // no worker could be started
  std::exception_ptr failed_;           // what the worker threw; it has stopped
  std::thread worker_;
};

}  // namespace fj::detail
