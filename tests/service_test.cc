// The embeddable service in-process (forkjournald's own tests run the binary).
#include "daemon/service.h"
#include "daemon/protocol.h"
#include "support/data_root.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <filesystem>
#include <future>
#include <memory>
#include <thread>

namespace fj::service {
namespace {

using fj::testing::DataRoot;
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
  service->reset();  // closes the journal: one process opens it once
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

// An embedder's service sweeps an orphaned template and removes its files
// through the callback, after the retire event is stored.
TEST(ServiceReconcile, RemovesASweptTemplatesFilesThroughTheCallback) {
  TempDir dir;
  DataRoot root;
  root.template_dir("db", "src-db");  // its source instance is gone
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  ServiceOptions options;
  options.journal = dir.sub("journal");
  options.sync = SyncMode::none;
  options.data_root = root.path();
  std::vector<std::string> removed;
  options.remove_template_files = [&](const std::string& id) -> Result<void> {
    auto journal = Journal::open(options.journal, JournalOptions{.read_only = true});
    EXPECT_FALSE(journal) << "the service's own journal opened twice";
    removed.push_back(id);
    std::filesystem::remove_all(root.path() + "/templates/" + id);
    return {};
  };
  auto service = Service::start(io.get_executor(), options);
  ASSERT_TRUE(service) << service.error().message;
  Request reg{RegisterTemplate{"db", "src-db", "db"}, ""};
  ASSERT_TRUE((*service)->async_execute(std::move(reg), boost::asio::use_future).get());
  auto report = (*service)->async_reconcile(false, boost::asio::use_future).get();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->committed);
  EXPECT_EQ(removed, std::vector<std::string>{"db"});
  EXPECT_EQ(report->files_removed, std::vector<std::string>{"db"});
  EXPECT_FALSE(root.has_template_dir("db"));
  service->reset();
  guard.reset();
  runner.join();
}

}  // namespace
}  // namespace fj::service
