#include "support/daemon_fixture.h"

#include <filesystem>

#ifndef FORKJOURNALD_BIN
#error "FORKJOURNALD_BIN must name the forkjournald binary"
#endif
#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif
#ifndef FJ_FIXTURES
#error "FJ_FIXTURES must name tests/fixtures"
#endif

namespace fj::testing {

namespace json = boost::json;

void DaemonTest::TearDown() {
  for (auto& d : daemons_) d->kill9();
}

Daemon& DaemonTest::launch(std::vector<std::string> extra, std::string journal,
                           std::string socket) {
  if (journal.empty()) journal = journal_;
  if (socket.empty()) socket = socket_;
  std::vector<std::string> argv{FORKJOURNALD_BIN, "--journal", journal, "--socket", socket};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const std::string log = tmp_.sub("daemon" + std::to_string(daemons_.size()) + ".log");
  daemons_.push_back(std::make_unique<Daemon>(argv, socket, log));
  return *daemons_.back();
}

Daemon& DaemonTest::start(std::vector<std::string> extra) {
  Daemon& d = launch(std::move(extra));
  EXPECT_TRUE(d.wait_ready());
  return d;
}

Exited DaemonTest::run_daemon(std::vector<std::string> args) {
  args.insert(args.begin(), FORKJOURNALD_BIN);
  return run(args);
}

Exited DaemonTest::cli(std::vector<std::string> args) const {
  args.insert(args.begin(), {FORKJOURNAL_BIN, "--journal", journal_});
  return run(args);
}

json::object DaemonTest::call(Client& c, const json::object& request) {
  auto response = c.roundtrip(request);
  if (!response) {
    ADD_FAILURE() << show(request) << ": " << c.error();
    return {};
  }
  const json::value* sent = request.if_contains("id");
  const json::value* echoed = response->if_contains("id");
  EXPECT_TRUE(echoed != nullptr && *echoed == (sent ? *sent : json::value(nullptr)))
      << show(request) << " -> " << show(*response);
  return std::move(*response);
}

void DaemonTest::expect_pong(Client& c, const std::string& why) {
  EXPECT_TRUE(is_ok(call(c, {{"op", "ping"}, {"id", "after " + why}})))
      << "the connection is not usable after " << why;
}

void DaemonDataRootTest::SetUp() {
  std::filesystem::copy(std::string(FJ_FIXTURES) + "/hypeman-sample", root_,
                        std::filesystem::copy_options::recursive);
}

}  // namespace fj::testing
