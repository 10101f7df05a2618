#include "daemon/head_signal.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fj::service {

namespace asio = boost::asio;

HeadSignal::HeadSignal(asio::any_io_executor executor) : executor_(std::move(executor)) {}

void HeadSignal::on_head(std::uint64_t head_seq) {
  head_ = head_seq;
  // One wake-up in flight covers every commit before it runs: the waiters
  // read the head when they resume.
  if (posted_.exchange(true)) return;
  asio::post(executor_, [self = shared_from_this()] {
    self->posted_ = false;
    self->wake_all();
  });
}

void HeadSignal::wake_all() {
  for (asio::steady_timer* timer : waiting_) timer->cancel();
}

// GCC 12 inlines Asio's coroutine-frame allocation (aligned_alloc) and its
// sized operator delete into this coroutine's ramp and reports them as
// mismatched (-Wmismatched-new-delete), though Asio releases that memory with
// std::free, which matches; the warning is wrong, so off for this function.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> HeadSignal::wait(std::chrono::milliseconds fallback) {
  asio::steady_timer timer(executor_, fallback);
  const auto it = waiting_.insert(waiting_.end(), &timer);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  waiting_.erase(it);
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic pop
#endif

}  // namespace fj::service
