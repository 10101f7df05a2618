// Wakes the dispatcher's subscribers when the journal's head moves: a
// ServiceObserver whose on_head (on the service's writer thread) posts one
// wake-up to the dispatcher's executor, where every subscriber waiting in
// wait() resumes and reads the new events from the journal itself. The
// writer hands over no events and waits for no subscriber: on_head is an
// atomic exchange and at most one post, however many subscribers there are
// and however far behind they are.
//
// Errors: none. Threads: on_head from any thread (the writer's); wait() and
// wake_all() only on the executor given to the constructor. Lifetime: create
// with std::make_shared (a posted wake-up holds it); register it in
// ServiceOptions::observers and DispatcherOptions::heads, and keep the
// executor's io_context alive until the service has stopped.
#pragma once

#include "daemon/observer.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>

namespace fj::service {

class HeadSignal : public ServiceObserver, public std::enable_shared_from_this<HeadSignal> {
 public:
  explicit HeadSignal(boost::asio::any_io_executor executor);

  void on_commit(double, std::size_t) override {}
  void on_appended(EventType, std::uint64_t) override {}
  void on_reconcile(const gc::ReconcileReport&) override {}
  void on_head(std::uint64_t head_seq) override;

  // Resumes at the first wake-up after the call (on_head, wake_all) or after
  // `fallback`, whichever comes first.
  boost::asio::awaitable<void> wait(std::chrono::milliseconds fallback);

  // Resumes every waiter now (the dispatcher stopping).
  void wake_all();

  // The head of the last on_head (0 before the first). A waiter that has
  // read up to this seq and checks it just before wait() misses no wake-up:
  // the seq is stored before the wake-up is posted.
  std::uint64_t head() const noexcept { return head_; }

 private:
  boost::asio::any_io_executor executor_;
  std::atomic<std::uint64_t> head_{0};
  std::atomic<bool> posted_{false};
  std::list<boost::asio::steady_timer*> waiting_;  // on the executor only
};

}  // namespace fj::service
