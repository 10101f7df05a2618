#include "gc/internal/scheduler.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>

namespace fj::gc {

namespace asio = boost::asio;

struct ReconcileScheduler::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor executor, std::chrono::milliseconds period, Run fn)
      : strand(asio::make_strand(executor)), timer(strand), every(period), run(std::move(fn)) {}

  // All members below are touched only on the strand, except the atomics.
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;
  std::chrono::milliseconds every;
  Run run;
  bool queued = false;
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> count{0};

  void arm() {
    timer.expires_after(every);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->request();
    });
  }

  // On the strand: queue one run unless one is already queued.
  void request() {
    if (stopped || queued) return;
    queued = true;
    asio::post(strand, [self = shared_from_this()] { self->execute(); });
  }

  void execute() {
    queued = false;
    if (stopped) return;
    timer.cancel();
    run();
    ++count;
    if (!stopped) arm();
  }
};

ReconcileScheduler::ReconcileScheduler(asio::any_io_executor executor,
                                       std::chrono::milliseconds every, Run run)
    : state_(std::make_shared<State>(std::move(executor), every, std::move(run))) {}

ReconcileScheduler::~ReconcileScheduler() {
  stop();
}

void ReconcileScheduler::start() {
  asio::dispatch(state_->strand, [s = state_] {
    if (!s->stopped) s->arm();
  });
}

void ReconcileScheduler::trigger() {
  asio::dispatch(state_->strand, [s = state_] { s->request(); });
}

void ReconcileScheduler::stop() {
  state_->stopped = true;
  asio::dispatch(state_->strand, [s = state_] { s->timer.cancel(); });
}

std::uint64_t ReconcileScheduler::runs() const {
  return state_->count;
}

}  // namespace fj::gc
