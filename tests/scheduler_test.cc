#include "gc/internal/scheduler.h"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <thread>

namespace fj::gc {
namespace {

using namespace std::chrono_literals;

TEST(ReconcileScheduler, RunsPeriodicallyAndNeverOverlaps) {
  boost::asio::io_context io;
  std::atomic<int> inside{0}, max_inside{0}, runs{0};
  ReconcileScheduler scheduler(io.get_executor(), 5ms, [&] {
    const int now = ++inside;
    max_inside = std::max(max_inside.load(), now);
    std::this_thread::sleep_for(2ms);
    --inside;
    ++runs;
  });
  scheduler.start();
  // Triggers from other threads while runs are under way.
  std::thread poker([&] {
    for (int i = 0; i < 50; ++i) {
      scheduler.trigger();
      std::this_thread::sleep_for(1ms);
    }
  });
  std::thread second([&] { io.run_for(300ms); });
  io.run_for(300ms);
  poker.join();
  second.join();
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_GE(runs.load(), 5);
  EXPECT_EQ(scheduler.runs(), static_cast<std::uint64_t>(runs.load()));
}

TEST(ReconcileScheduler, TriggersWhileQueuedCoalesce) {
  boost::asio::io_context io;
  int runs = 0;
  ReconcileScheduler scheduler(io.get_executor(), 1h, [&] { ++runs; });
  scheduler.trigger();
  scheduler.trigger();
  scheduler.trigger();
  io.run_for(50ms);
  EXPECT_EQ(runs, 1);
}

TEST(ReconcileScheduler, TriggerRunsWithoutWaitingForThePeriod) {
  boost::asio::io_context io;
  int runs = 0;
  ReconcileScheduler scheduler(io.get_executor(), 1h, [&] { ++runs; });
  scheduler.start();
  io.run_for(20ms);
  EXPECT_EQ(runs, 0);
  scheduler.trigger();
  io.run_for(20ms);
  EXPECT_EQ(runs, 1);
}

TEST(ReconcileScheduler, StopCancelsFutureRuns) {
  boost::asio::io_context io;
  int runs = 0;
  ReconcileScheduler scheduler(io.get_executor(), 5ms, [&] { ++runs; });
  scheduler.start();
  // Until the first run, however loaded the machine is.
  for (const auto end = std::chrono::steady_clock::now() + 10s;
       runs == 0 && std::chrono::steady_clock::now() < end;) {
    io.run_for(5ms);
  }
  const int before = runs;
  EXPECT_GE(before, 1);
  scheduler.stop();
  scheduler.trigger();
  io.restart();
  io.run_for(30ms);
  EXPECT_EQ(runs, before);
}

}  // namespace
}  // namespace fj::gc
