// Ships a journal's events, each exactly once and in order, to the fleet
// stream (fleet/stream.h) from a thread of its own beside the writer: it
// never sits on a commit's path, and a NATS outage only makes it fall behind.
//
// The stream is the cursor: at start and after any failure the shipper reads
// the last message on its journal's subject, checks it against the local
// journal (journal id, seq, chain value and bytes at that seq) and continues
// with the next seq. When the lookup finds no message, the subject counts as
// empty only if the stream's per-subject count agrees; otherwise (nats-server
// 2.9 loses a subject's last message once it is deleted) direct gets find the
// last message left, and shipping goes on after it, publishing the next seq
// with "no message" as the expected last, the one value such a server takes.
// Each event is published alone with the previous message's stream sequence
// as the expected last subject sequence and "<journal id>:<seq>" as message
// id, and counts once acknowledged. A refusal for a wrong last sequence means
// an earlier incarnation stored it first: the shipper re-reads the last
// message and goes on from there. So nothing is shipped twice or skipped,
// even past the stream's duplicate window. While there is nothing to ship it
// reads the last message again every recheck_every and compares its stream
// sequence and Fj-Seq with what it shipped, so that a stream deleted, purged
// or cut short meanwhile is reported (missing) or refilled from the journal
// without waiting for a local event (after a deleted last message, by direct
// gets, also before the first publish after being idle).
//
// Failures: no server, a missing stream (made only by forkjournal fleet
// init; shipped_seq is then 0), timeouts: retried with exponential backoff
// up to backoff_max, the events staying in the journal meanwhile; last_error
// says why; so is a subject whose deleted tail or purged messages the stream
// still remembers by message id (its duplicate window), until the window has
// passed (logged once when the wait starts and once when it ends). A last
// message that disagrees with the journal (another history under this
// journal id, or a stream ahead of the journal), or a stream that refuses the
// next seq five times in a row however often its last message is read again,
// halts shipping for good: state().halted, an error naming the seq it
// compared, one log line; the stream is never overwritten.
//
// Threads: notify() and state() may be called from any thread and never
// wait for NATS or the journal (notify takes a mutex that no thread holds
// across I/O). stop() returns within about one NATS timeout per URL.
//
// Lifetime: the journal must outlive the Shipper; the log callback is called
// until stop() returns, from the shipper's thread and the NATS client's.
#pragma once

#include "journal/journal.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace fj::fleet {

struct ShipOptions {
  std::string urls;  // comma-separated nats://HOST:PORT
  std::string host;  // the Fj-Host header; empty: gethostname()
  // How often the journal is looked at without a notify().
  std::chrono::milliseconds poll_every{1000};
  // While nothing is to be shipped, how often the subject's last message is
  // read again (one small request): what notices a stream deleted, purged or
  // cut short while the journal is quiet.
  std::chrono::milliseconds recheck_every{30000};
  // Waits after a failure: doubling from backoff_min up to backoff_max.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{2000};
  // Commits first: while writer_busy() says the writer has work, each
  // publish waits (polling every 5 ms) for it to go idle, but no
  // longer than yield_max, so that shipping still moves under sustained
  // load (at least one event per yield_max) and catches up in the gaps.
  // Called from the shipper's thread; must be cheap and thread-safe. Empty:
  // never waits.
  std::function<bool()> writer_busy;
  std::chrono::milliseconds yield_max{20};
  // Connecting to one URL, and each JetStream request, waits this long.
  std::chrono::milliseconds timeout{1000};
  // One line on connect, disconnect, a failure after success, resuming, and
  // halting (no trailing newline); never one per event.
  std::function<void(const std::string&)> log;
};

struct ShipState {
  std::string host;
  bool connected = false;         // the client holds a NATS server now
  bool halted = false;            // the stream disagrees with the journal: shipping stopped
  std::uint64_t shipped_seq = 0;  // the last seq the stream is known to hold
  std::uint64_t head_seq = 0;     // the journal's head as last seen or notified
  std::uint64_t lag_events = 0;   // head_seq - shipped_seq
  // Age of the oldest unshipped event (its time stamp, set at its commit); 0
  // when nothing is unshipped.
  double lag_seconds = 0;
  std::uint64_t published = 0;   // acknowledged publishes
  std::uint64_t duplicates = 0;  // acknowledged as already stored (same message id)
  std::uint64_t conflicts = 0;   // refused for a wrong last sequence: resumed from the stream
  std::uint64_t failures = 0;    // other failed publishes, reads and connects
  std::string last_error;        // of the latest failure; empty once shipping succeeds again
};

// Checks what Shipper::start would refuse, touching neither a journal nor
// the network, so that a caller can refuse bad options before doing any
// work. Errors: invalid_argument (a URL that is not nats://HOST:PORT, a
// host name check_ship_host refuses; an empty one means gethostname).
// Any thread.
Result<void> check_ship_options(const ShipOptions& options);

class Shipper {
 public:
  // Starts the shipping thread. Errors: invalid_argument (the URLs). NATS
  // being unreachable is no error here: the thread keeps trying.
  static Result<std::unique_ptr<Shipper>> start(const Journal& journal, ShipOptions options);
  ~Shipper();  // stop()
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // The journal's head moved to `head_seq`: wakes the thread.
  void notify(std::uint64_t head_seq);
  ShipState state() const;
  // Ends the thread, abandoning a publish in progress (its event is shipped
  // by the next incarnation). Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Shipper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fj::fleet
