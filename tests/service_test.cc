// The embeddable service in-process (forkjournald's own tests run the binary).
#include "daemon/service.h"
#include "daemon/protocol.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <filesystem>
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

// Ship options start() would refuse (a URL, or an embedder's host name
// checked as --ship-host is) are refused before boot, which would create the
// journal and write its boot snapshot.
TEST(ServiceStart, BadShipOptionsAreRefusedBeforeTheJournalIsCreated) {
  const struct {
    std::string urls, host, says;
  } cases[] = {
      {"garbage", "", "'garbage' is not a NATS URL"},
      {"nats://127.0.0.1:4222", "evil\r\nFj-Seq: 999", "byte 0x0D at offset 4"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    boost::asio::io_context io;
    ServiceOptions options;
    options.journal = dir.sub("journal");
    options.sync = SyncMode::none;
    options.ship.emplace();
    options.ship->urls = c.urls;
    options.ship->host = c.host;
    auto service = Service::start(io.get_executor(), options);
    ASSERT_FALSE(service) << c.says;
    EXPECT_EQ(service.error().code, Errc::invalid_argument);
    EXPECT_NE(service.error().message.find(c.says), std::string::npos) << service.error().message;
    EXPECT_FALSE(std::filesystem::exists(options.journal)) << "the journal was created";
  }
}

}  // namespace
}  // namespace fj::service
