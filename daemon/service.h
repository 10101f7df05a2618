// The embeddable forkjournal service: one writer thread that owns the Ledger,
// fed by asynchronous calls with Asio completion tokens (callbacks,
// std::futures via use_future, coroutines via use_awaitable).
//
// Group commit: the writer drains every queued request, decides each against
// the live projection, writes all their events in one LMDB transaction,
// commits (fsync in the default full-sync mode) and only then completes every
// waiter. A refused request completes with its error and does not abort the
// others. Reads run on the writer thread between batches, from the in-memory
// projection, without touching LMDB. The writer catches up on events other
// processes appended (e.g. `forkjournal fork`) before every batch, and when
// idle for a second.
//
// Shipping (ServiceOptions::ship): a fleet::Shipper beside the writer reads
// the journal on its own and is told of every head move; unless ship sets
// its own writer_busy, it holds each publish while the writer has work (up
// to ship.yield_max), so commits come first. stop() ends it after the
// writer, before the journal closes.
//
// Boot (start): open the journal (open_or_create, daemon/internal/open_journal.h),
// load the newest valid snapshot and replay the tail, reconcile against the
// data root if one is configured, write a snapshot. With reconcile_every, a
// gc::ReconcileScheduler on a timer thread of the service's own queues a
// reconcile on the writer thread every period, counted from the end of the
// previous one.
//
// Completions are posted to the handler's associated executor (or the
// executor given to start).
//
// GCC 12 caveat for coroutines: it may destroy a temporary with a
// non-trivial destructor (a braced Request, a capturing lambda) twice when
// the temporary is part of a co_await expression. Build the argument as a
// named local first and std::move it in (examples/embed,
// daemon/dispatcher.cc).
//
// Thread-safety: every member may be called from any thread. stop() (also
// run by the destructor) ends the periodic reconciles, finishes all queued
// work, writes a snapshot and joins the writer; calls after stop() complete
// with Errc::stopping (nothing applied).
#pragma once

#include "daemon/observer.h"
#include "fleet/shipper.h"
#include "gc/reconciler.h"
#include "projector/ledger.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fj::service {

struct ServiceOptions {
  std::string journal;
  SyncMode sync = SyncMode::full;
  std::string data_root;                         // empty: no reconciling
  std::chrono::milliseconds reconcile_every{0};  // 0: at boot and on demand only
  // How long a recorded fork may have no directory before a reconcile
  // declares it lost (gc::ReconcileOptions::fork_grace).
  std::chrono::milliseconds fork_grace = gc::kDefaultForkGrace;
  // Removes a retired template's files once its retire event is durable
  // (gc::ReconcileOptions::remove_template_files: it must be idempotent).
  // Runs on the writer thread, inside every reconcile that is not a dry
  // run; it reports failure through its Result and must not throw (nor open
  // the service's journal: a process opens a journal once). Unset: files
  // are left alone.
  std::function<Result<void>(const std::string& template_id)> remove_template_files;
  std::uint64_t snapshot_every = 100'000;  // events between snapshots; 0: never
  std::size_t max_batch = 4096;            // requests per transaction
  std::size_t max_map_size = 0;  // bytes the LMDB map may grow to (JournalOptions); 0: no limit
  // The request ids kept for retries (JournalOptions::requests): a retry
  // whose id fell out of it is executed anew (docs/protocol.md).
  RequestWindow request_window{};
  // One line per lifecycle event and per reconcile (no trailing newline).
  std::function<void(const std::string&)> log;
  // Told what commits (daemon/observer.h), in order; may be empty.
  std::vector<std::shared_ptr<ServiceObserver>> observers;
  // Called from the writer thread's loop at least every alive_every while
  // the writer is neither blocked nor stuck, so that a watchdog can tell a
  // writer stuck in a syscall from an idle one. The writer wakes from its
  // idle wait for it. Empty (or alive_every 0): never called.
  std::function<void()> on_writer_alive;
  std::chrono::milliseconds alive_every{0};
  // Ship every event to the fleet stream (fleet/shipper.h) from a thread
  // started after boot and woken by each head move; a ship.log left empty
  // logs through `log`. Unset: no shipping.
  std::optional<fleet::ShipOptions> ship;
};

// The last reconcile that was not a dry run.
struct ReconcileSummary {
  std::uint64_t based_on_seq = 0;
  std::uint64_t last_seq = 0;    // its reconcile_run marker (0: nothing committed)
  double age_seconds = 0;        // since it finished
  bool needs_attention = false;  // gc::ReconcilePlan::needs_attention
  // Leftovers count the kept ones too (gc::ReconcilePlan::kept_leftovers).
  std::size_t unreadable = 0, leftovers = 0, half_made = 0, skipped = 0, dangling = 0, kept = 0,
              kept_forks = 0, link_mismatches = 0, stuck_flags = 0, held = 0;
};

// The oldest read transaction open on the journal, in any process: while it
// lasts the pages it may see cannot be reused and the file grows.
struct ReaderSummary {
  int pid = 0;
  std::uint64_t txn_lag = 0;  // write transactions committed since it began
  // How long the service has seen it open: sampled about once a second
  // while the writer runs, and on every stats() call.
  double age_seconds = 0;
};

struct ServiceStats {
  std::uint64_t head_seq = 0;
  std::uint64_t requests = 0;  // write requests completed (refused ones too)
  std::uint64_t appended = 0;  // events appended by this service
  // Write transactions of requests that stored something (an event or a
  // request id); a batch whose requests were all refused or replayed is none.
  std::uint64_t commits = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t reconciles = 0;
  double average_batch = 0;  // write requests per commit, in the batches counted there
  double uptime_seconds = 0;
  std::uint64_t snapshot_seq = 0;  // of the newest snapshot this service wrote
  // data.mdb's size (pages in use, free ones included), the current map, and
  // the most the map may grow to (0: no limit, see max_map_size).
  std::uint64_t map_used_bytes = 0;
  std::uint64_t map_size_bytes = 0;
  std::uint64_t map_limit_bytes = 0;
  // Since the last commit (as counted in commits, or a reconcile's); none:
  // no commit since start.
  std::optional<double> last_commit_age_seconds;
  // How long the oldest unfinished work (a request or job waiting, or the
  // one running) has waited; 0 when the writer is idle.
  double oldest_wait_seconds = 0;
  std::optional<ReconcileSummary> last_reconcile;
  std::optional<ReaderSummary> oldest_reader;  // none: no read transaction open
  std::optional<fleet::ShipState> ship;        // none: not shipping
};

struct BootReport {
  LoadReport load;
  bool created = false;  // the journal was created at boot
  std::optional<gc::ReconcileReport> reconcile;
  std::uint64_t snapshot_seq = 0;
};

class Service {
 public:
  // Boots the service. Errors: invalid_argument (ship's URLs and host name,
  // checked before the journal is opened or created), the journal's and the
  // reconciler's (a data root that cannot be read). Completions go to
  // `executor` by default.
  static Result<std::unique_ptr<Service>> start(boost::asio::any_io_executor executor,
                                                ServiceOptions options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const BootReport& boot_report() const;
  // The journal the service writes, for reading beside the writer (a
  // subscriber): Journal::read's read transactions run on the caller's
  // thread and never wait for the writer thread. Any thread; valid until the
  // service is destroyed.
  const Journal& journal() const;
  // Any thread; does not wait for the writer (so it answers while the writer
  // is stuck).
  ServiceStats stats() const;

  // Completion signature void(fj::Result<fj::Outcome>); completes once the
  // request's events are durable (or it was refused). Errors: Ledger's
  // refusals and invalid_argument (nothing appended), the journal errors of
  // Ledger::execute_batch (nothing appended for anyone in the batch),
  // stopping (submitted after stop(): not applied).
  template <class Token>
  auto async_execute(Request request, Token&& token);

  // Runs fn(const Projection&) on the writer thread; completion
  // void(fj::Result<T>) where T is fn's result. Errors (fn never runs):
  // stopping (submitted after stop()), and the journal's read errors when
  // a failed write left the projection to be reloaded and the reload fails. fn must not keep
  // references to the projection, and must not throw: it runs on the writer thread, where an
  // exception ends the process (a read that can fail returns a Result).
  template <class Fn, class Token>
  auto async_read(Fn fn, Token&& token);

  // Completion void(fj::Result<fj::gc::ReconcileReport>). Errors: those of
  // gc::reconcile (gc/reconciler.h), stopping.
  template <class Token>
  auto async_reconcile(bool dry_run, Token&& token);

  // Completion void(fj::Result<std::uint64_t>): the snapshot's seq. Errors:
  // those of Ledger::snapshot, stopping.
  template <class Token>
  auto async_snapshot(Token&& token);

  // Finishes queued work, writes a snapshot and joins the writer. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Service(std::unique_ptr<Impl> impl);

  // A job runs on the writer thread with the ledger; `refuse` runs instead
  // when the service has stopped.
  using Job = std::function<void(Ledger&)>;
  void enqueue_write(Request request, std::function<void(Result<Outcome>)> done);
  void enqueue_job(Job job, std::function<void(Error)> refuse);
  void enqueue_reconcile(bool dry_run, std::function<void(Result<gc::ReconcileReport>)> done);
  void enqueue_snapshot(std::function<void(Result<std::uint64_t>)> done);

  // Wraps a completion handler into a copyable callable that posts the call
  // to the handler's executor and keeps that executor busy until then.
  template <class Handler>
  auto completion(Handler&& handler) {
    auto ex = boost::asio::get_associated_executor(handler, executor_);
    auto state = std::make_shared<
        std::pair<std::decay_t<Handler>, boost::asio::executor_work_guard<decltype(ex)>>>(
        std::forward<Handler>(handler), boost::asio::make_work_guard(ex));
    return [state, ex](auto result) {
      boost::asio::post(ex, [state, result = std::move(result)]() mutable {
        auto handler = std::move(state->first);
        state->second.reset();
        handler(std::move(result));
      });
    };
  }

  static Error stopped_error();

  boost::asio::any_io_executor executor_;
  std::unique_ptr<Impl> impl_;
};

template <class Token>
auto Service::async_execute(Request request, Token&& token) {
  return boost::asio::async_initiate<Token, void(Result<Outcome>)>(
      [this](auto handler, Request request) {
        enqueue_write(std::move(request), completion(std::move(handler)));
      },
      token, std::move(request));
}

template <class Fn, class Token>
auto Service::async_read(Fn fn, Token&& token) {
  using T = std::invoke_result_t<Fn&, const Projection&>;
  return boost::asio::async_initiate<Token, void(Result<T>)>(
      [this](auto handler, Fn fn) {
        auto done = completion(std::move(handler));
        enqueue_job(
            [fn = std::move(fn), done](Ledger& ledger) mutable {
              // A failed write whose reload failed too leaves events never
              // stored in the projection: reload first, or answer why not.
              if (!ledger.in_sync()) {
                if (auto ok = ledger.catch_up(); !ok) return done(Result<T>(ok.error()));
              }
              done(Result<T>(fn(ledger.projection())));
            },
            [done](Error e) mutable { done(Result<T>(std::move(e))); });
      },
      token, std::move(fn));
}

template <class Token>
auto Service::async_reconcile(bool dry_run, Token&& token) {
  return boost::asio::async_initiate<Token, void(Result<gc::ReconcileReport>)>(
      [this](auto handler, bool dry_run) {
        enqueue_reconcile(dry_run, completion(std::move(handler)));
      },
      token, dry_run);
}

template <class Token>
auto Service::async_snapshot(Token&& token) {
  return boost::asio::async_initiate<Token, void(Result<std::uint64_t>)>(
      [this](auto handler) { enqueue_snapshot(completion(std::move(handler))); }, token);
}

}  // namespace fj::service
