// The embeddable service in-process (forkjournald's own tests run the binary).
#include "daemon/service.h"
#include "daemon/protocol.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <future>
#include <memory>
#include <thread>

namespace fj::service {
namespace {

using fj::testing::TempDir;

TEST(ServiceStop, RequestsAfterStopCompleteWithStoppingAndApplyNothing) {
  TempDir dir;
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  ServiceOptions options;
  options.journal = dir.path();
  options.sync = SyncMode::none;
  auto service = Service::start(io.get_executor(), options);
  ASSERT_TRUE(service) << service.error().message;
  (*service)->stop();

  auto promise = std::make_shared<std::promise<Result<Outcome>>>();
  auto done = promise->get_future();
  (*service)->async_execute(Request{RegisterTemplate{"web", "src-web", "web"}, "vmm-1"},
                            [promise](Result<Outcome> r) { promise->set_value(std::move(r)); });
  const Result<Outcome> r = done.get();
  guard.reset();
  runner.join();

  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::stopping);
  EXPECT_EQ(protocol::error_code(r.error()), "stopping");  // its own code on the wire
  auto journal = Journal::open(dir.path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(journal) << journal.error().message;
  EXPECT_EQ(*journal->head(), 0u);
}

}  // namespace
}  // namespace fj::service
