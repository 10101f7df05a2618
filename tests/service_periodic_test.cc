// ServiceOptions::reconcile_every (forkjournald --reconcile-every): periodic
// reconciles through gc::ReconcileScheduler, on the writer thread, and none
// left running once the service stops.
#include "daemon/service.h"
#include "support/data_root.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fj::service {
namespace {

using fj::testing::DataRoot;
using fj::testing::TempDir;
using namespace std::chrono_literals;

struct Log {
  std::mutex mu;
  std::vector<std::string> lines;

  std::size_t count(const std::string& prefix) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& l : lines) n += l.starts_with(prefix);
    return n;
  }
};

TEST(ServicePeriodicReconcile, RunsEveryPeriodAndStopsWithTheService) {
  TempDir dir;
  DataRoot root;
  boost::asio::io_context io;  // never run: the periodic runs need no executor of the embedder's
  auto log = std::make_shared<Log>();
  ServiceOptions options;
  options.journal = dir.sub("journal");
  options.sync = SyncMode::none;
  options.data_root = root.path();
  options.reconcile_every = 20ms;
  options.log = [log](const std::string& line) {
    std::lock_guard lock(log->mu);
    log->lines.push_back(line);
  };
  auto service = Service::start(io.get_executor(), options);
  ASSERT_TRUE(service) << service.error().message;
  EXPECT_EQ(log->count("boot reconcile against seq 0"), 1u);

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((*service)->stats().reconciles < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE((*service)->stats().reconciles, 4u);  // boot + at least three periodic runs
  EXPECT_GE(log->count("periodic reconcile against seq 0"), 3u);

  (*service)->stop();
  const std::uint64_t after_stop = (*service)->stats().reconciles;
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ((*service)->stats().reconciles, after_stop) << "a periodic run after stop()";
  EXPECT_EQ(log->count("stopped at seq"), 1u);
}

TEST(ServicePeriodicReconcile, NoPeriodMeansBootAndRequestsOnly) {
  TempDir dir;
  DataRoot root;
  boost::asio::io_context io;
  ServiceOptions options;
  options.journal = dir.sub("journal");
  options.sync = SyncMode::none;
  options.data_root = root.path();
  auto service = Service::start(io.get_executor(), options);
  ASSERT_TRUE(service) << service.error().message;
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ((*service)->stats().reconciles, 1u);
}

}  // namespace
}  // namespace fj::service
