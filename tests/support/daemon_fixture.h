// The fixture of the forkjournald end-to-end tests: every test starts the
// built daemon (FORKJOURNALD_BIN) on a journal and a socket in a fresh temp
// dir, waits until the socket serves, and talks newline-delimited JSON over a
// real AF_UNIX socket. What the daemon acknowledged is checked afterwards in
// the journal itself, through the library (opened read-only) or the
// forkjournal tool (FORKJOURNAL_BIN). Compiled into the test binary that
// defines those names, not into fj_test_support.
//
// Every wait is bounded, and the fixture kills any daemon still running when
// a test ends. Daemons live until the end of the test.
#pragma once

#include "support/daemon_client.h"
#include "support/daemon_messages.h"
#include "support/daemon_process.h"
#include "support/process.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace fj::testing {

class DaemonTest : public ::testing::Test {
 protected:
  void TearDown() override;

  const std::string& journal() const { return journal_; }
  const std::string& socket() const { return socket_; }

  // Starts forkjournald --journal J --socket S extra... (J and S default to
  // the fixture's) without waiting for it.
  Daemon& launch(std::vector<std::string> extra = {}, std::string journal = "",
                 std::string socket = "");

  // Starts the daemon and waits until its socket accepts connections and a
  // ping is answered.
  Daemon& start(std::vector<std::string> extra = {});

  // A daemon run expected to end by itself (a refused start).
  static Exited run_daemon(std::vector<std::string> args);

  // forkjournal --journal J args...
  Exited cli(std::vector<std::string> args) const;

  // Sends `request`, reads its response and checks that it echoes the id
  // (null when the request had none). Failures return an empty object.
  static boost::json::object call(Client& c, const boost::json::object& request);

  static boost::json::object stats(Client& c) { return call(c, {{"op", "stats"}}); }
  static std::uint64_t head(Client& c) { return u64(stats(c), "head_seq"); }

  static void expect_pong(Client& c, const std::string& why);

  TempDir tmp_;
  std::string journal_ = tmp_.sub("journal");
  std::string socket_ = tmp_.sub("fj.sock");
  std::deque<std::unique_ptr<Daemon>> daemons_;
};

// The daemon with a copy of tests/fixtures/hypeman-sample as its data root.
class DaemonDataRootTest : public DaemonTest {
 protected:
  void SetUp() override;

  std::string root_ = tmp_.sub("root");
  static constexpr const char* kWeb = "tpl0web0000000000000001";
  static constexpr const char* kDb = "tpl0db00000000000000001";
  static constexpr const char* kCi = "tpl0ci00000000000000001";
};

}  // namespace fj::testing
