// Periodic reconciler runs on a Boost.Asio steady_timer, on an executor the
// embedder passes in. Runs never overlap: every run goes through one strand,
// and triggers that arrive while a run is under way or already queued
// coalesce into one more run.
//
// The run function is called on the strand; it must not block for long if the
// executor is shared (hand it a thread pool's executor if it may). It must be
// safe to call from the strand's threads: e.g. a Ledger used only there.
// Thread-safety: start(), trigger() and stop() may be called from any thread.
// Lifetime: handlers keep the shared state alive, so destroying the scheduler
// after stop() is safe even while handlers are queued.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace fj::gc {

class ReconcileScheduler {
 public:
  using Run = std::function<void()>;

  // every: the period between the end of one run and the start of the next.
  ReconcileScheduler(boost::asio::any_io_executor executor, std::chrono::milliseconds every,
                     Run run);
  ~ReconcileScheduler();
  ReconcileScheduler(const ReconcileScheduler&) = delete;
  ReconcileScheduler& operator=(const ReconcileScheduler&) = delete;

  // Arms the timer for the first periodic run.
  void start();
  // Requests a run as soon as possible (e.g. on SIGHUP).
  void trigger();
  // Cancels the timer and queued runs; a run under way finishes.
  void stop();

  std::uint64_t runs() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace fj::gc
