// forkjournald's lifecycle: a clean exit on SIGTERM or SIGINT at any point
// (answering what it applied, applying nothing it did not answer), and the
// refusals at start (a second writer, a second server, a file or a stale
// socket at the socket path, a bad --socket-mode).
#include "support/daemon_fixture.h"
#include "support/journal_reader.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace fj::testing;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// --- shutdown ------------------------------------------------------------------------

// forkjournald accepts connections before its boot (load, boot reconcile,
// boot snapshot) ends: a SIGTERM that arrives as soon as the socket accepts
// must still drain and exit 0, removing the socket file. A boot reconcile
// against a data root widens the window.
TEST_F(DaemonDataRootTest, SigtermAsSoonAsTheSocketAcceptsExitsCleanly) {
  Daemon& d = launch({"--data-root", root_});
  const auto deadline = Clock::now() + kStartTimeout;
  while (!d.accepts() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(d.accepts()) << d.log();
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait(), 0) << d.log();
  EXPECT_FALSE(fs::exists(fs::symlink_status(socket()))) << "the socket was left behind";
}

TEST_F(DaemonTest, SigtermAnswersRequestsInFlightAndExitsCleanly) {
  Daemon& d = start();
  {
    Client c(socket());
    ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  }
  constexpr int kClients = 32;
  std::latch connected(kClients + 1), sent(kClients + 1);
  std::mutex mu;
  std::vector<AckedFork> acks;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Client c(socket());
      // A ping first: the connection is accepted and served before SIGTERM.
      const auto pong = c.roundtrip({{"op", "ping"}});
      connected.arrive_and_wait();
      const std::string fork = "f" + std::to_string(t);
      const bool ok = pong && c.send(json::serialize(fork_request("fork", "t1", fork)) + "\n");
      sent.count_down();
      if (!ok) {
        std::lock_guard lock(mu);
        failures.push_back(fork + " not sent: " + c.error());
        return;
      }
      const auto r = c.read_response();
      std::lock_guard lock(mu);
      if (!r) {
        failures.push_back(fork + " unanswered: " + c.error());
        return;
      }
      const auto seq = acked_seq(*r);
      if (!seq) {
        failures.push_back(show(*r));
        return;
      }
      acks.push_back({fork, *seq});
      // Then the daemon ends the connection.
      if (c.read_line()) failures.push_back(fork + ": more than one response");
      if (!c.closed_by_peer()) {
        failures.push_back(fork + ": connection not closed: " + c.error());
      }
    });
  }
  connected.arrive_and_wait();
  sent.arrive_and_wait();
  d.signal(SIGTERM);
  for (auto& th : threads) th.join();
  EXPECT_EQ(d.wait(), 0) << d.log();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  EXPECT_EQ(acks.size(), static_cast<std::size_t>(kClients));
  EXPECT_FALSE(fs::exists(fs::symlink_status(socket()))) << "the socket was not removed";
  EXPECT_TRUE(contains(d.log(), "SIGTERM")) << d.log();

  const Replayed r = replay_journal(journal());
  EXPECT_EQ(r.head, 1u + kClients);
  EXPECT_EQ(r.newest_snapshot, r.head) << "no shutdown snapshot at the head";
  EXPECT_TRUE(acked_forks_present(journal(), "t1", acks));
}

// Requests pipelined behind the one being served when SIGTERM arrives may go
// unanswered (the connection closes), but then they must not have been
// applied either: the journal holds exactly the answered forks.
TEST_F(DaemonTest, SigtermWithPipelinedRequestsAppliesOnlyWhatItAnswers) {
  Daemon& d = start();
  Client c(socket());
  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  constexpr int kRequests = 200;
  std::string batch;
  for (int i = 0; i < kRequests; ++i) {
    batch += json::serialize(fork_request("fork", "t1", "f" + std::to_string(i), i)) + "\n";
  }
  ASSERT_TRUE(c.send(batch)) << c.error();
  std::vector<AckedFork> acks;
  auto first = c.read_response();
  ASSERT_TRUE(first) << c.error();
  d.signal(SIGTERM);
  for (auto r = std::move(first); r; r = c.read_response()) {
    ASSERT_TRUE(is_ok(*r));
    ASSERT_EQ(r->at("id"), json::value(static_cast<std::int64_t>(acks.size()))) << "out of order";
    acks.push_back({"f" + std::to_string(acks.size()), u64(*r, "seq")});
  }
  EXPECT_TRUE(c.closed_by_peer()) << c.error();
  EXPECT_EQ(d.wait(), 0) << d.log();
  const Replayed r = replay_journal(journal());
  EXPECT_EQ(r.head, 1 + acks.size()) << "applied requests that were never answered";
  EXPECT_TRUE(acked_forks_present(journal(), "t1", acks));
  std::cout << "[          ] " << acks.size() << " of " << kRequests
            << " pipelined requests answered before the daemon closed\n";
}

TEST_F(DaemonTest, SigintAlsoExitsCleanly) {
  Daemon& d = start();
  EXPECT_EQ(d.terminate(SIGINT), 0) << d.log();
  EXPECT_FALSE(fs::exists(fs::symlink_status(socket())));
}

// --- SIGHUP and the boot log --------------------------------------------------------------

// Polls the daemon's log until it holds `text`, for kStartTimeout at most.
::testing::AssertionResult log_shows(const Daemon& d, const std::string& text) {
  const auto deadline = Clock::now() + kStartTimeout;
  while (!contains(d.log(), text)) {
    if (Clock::now() >= deadline) {
      return ::testing::AssertionFailure() << "no '" << text << "' in the log:\n" << d.log();
    }
    std::this_thread::sleep_for(5ms);
  }
  return ::testing::AssertionSuccess();
}

// Without a data root the service refuses a reconcile and logs nothing, so
// the SIGHUP line itself must say that nothing is reconciled.
TEST_F(DaemonTest, SighupWithoutADataRootLogsThatNothingIsReconciled) {
  Daemon& d = start();
  d.signal(SIGHUP);
  EXPECT_TRUE(log_shows(d, "SIGHUP: no --data-root, so there is nothing to reconcile against"));
  Client c(socket());
  expect_pong(c, "SIGHUP");
  EXPECT_EQ(d.terminate(), 0) << d.log();
  EXPECT_FALSE(contains(d.log(), "SIGHUP: reconciling")) << d.log();
}

TEST_F(DaemonDataRootTest, SighupReconcilesAndLogsTheReconcile) {
  Daemon& d = start({"--data-root", root_});
  d.signal(SIGHUP);
  EXPECT_TRUE(log_shows(d, "SIGHUP: reconciling"));
  EXPECT_TRUE(log_shows(d, "requested reconcile against seq"));
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

// docs/operations.md, Logs: "created journal DIR (id ...)".
TEST_F(DaemonTest, TheBootLogNamesTheCreatedJournalAndItsId) {
  Daemon& d = start();
  auto j = fj::Journal::open(journal(), fj::JournalOptions{.read_only = true});
  ASSERT_TRUE(j) << j.error().message;
  const std::string id = j->info().journal_id;
  EXPECT_TRUE(contains(d.log(), "created journal " + journal() + " (id " + id + ")")) << d.log();
  EXPECT_EQ(d.terminate(), 0) << d.log();

  Daemon& again = start();
  EXPECT_TRUE(contains(again.log(), "opened journal " + journal() + " (id " + id + ")"))
      << again.log();
  EXPECT_FALSE(contains(again.log(), "created journal")) << again.log();
}

// docs/operations.md, Logs: an empty journal has no state to snapshot, and
// the log says so instead of naming a snapshot at seq 0.
TEST_F(DaemonTest, TheBootLogOfAnEmptyJournalSaysNoSnapshotWasStored) {
  Daemon& d = start();
  EXPECT_TRUE(contains(d.log(), "boot snapshot: the journal is empty, none stored")) << d.log();
  EXPECT_FALSE(contains(d.log(), "boot snapshot at seq 0")) << d.log();
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

// --- refusals at start ---------------------------------------------------------------

TEST_F(DaemonTest, ASecondDaemonOnTheSameJournalExits2NamingTheWriterRole) {
  Daemon& first = start();
  const std::string other = tmp_.sub("other.sock");
  const Exited second = run_daemon({"--journal", journal(), "--socket", other});
  EXPECT_EQ(second.exit_code, 2) << second;
  EXPECT_TRUE(contains(second.err, "writer role")) << second;
  EXPECT_TRUE(contains(second.err, std::to_string(first.pid()))) << second;
  EXPECT_FALSE(fs::exists(fs::symlink_status(other))) << "the refused daemon left a socket";
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  expect_pong(c, "a refused second daemon");
}

TEST_F(DaemonTest, ASecondDaemonOnTheSameSocketExits2) {
  start();
  const Exited second = run_daemon({"--journal", tmp_.sub("journal2"), "--socket", socket()});
  EXPECT_EQ(second.exit_code, 2) << second;
  EXPECT_TRUE(contains(second.err, "another daemon is serving on " + socket())) << second;
  Client c(socket());
  ASSERT_TRUE(c.connected()) << "the refused daemon took the socket away: " << c.error();
  expect_pong(c, "a refused second daemon");
}

TEST_F(DaemonTest, AFileAtTheSocketPathIsNeitherRemovedNorServed) {
  { std::ofstream(socket()) << "precious\n"; }
  const Exited r = run_daemon({"--journal", journal(), "--socket", socket()});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(contains(r.err, "not a socket")) << r;
  EXPECT_EQ(file_text(socket()), "precious\n");
}

TEST_F(DaemonTest, AStaleSocketIsReplacedAndTheModeApplied) {
  {  // A socket file nobody listens on, as a crashed daemon leaves it.
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket().c_str(), socket().size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  Daemon& d = start({"--socket-mode", "0600"});
  EXPECT_TRUE(contains(d.log(), "removed stale socket")) << d.log();
  struct stat st {};
  ASSERT_EQ(::lstat(socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  Client c(socket());
  expect_pong(c, "replacing a stale socket");

  const Exited bad = run_daemon(
      {"--journal", tmp_.sub("journal2"), "--socket", tmp_.sub("x.sock"), "--socket-mode", "999"});
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_TRUE(contains(bad.err, "--socket-mode")) << bad;
}

TEST_F(DaemonTest, BadRequestWindowValuesExit2WithOneLine) {
  const std::vector<std::vector<std::string>> bad{
      {"--request-window", "-1"},    {"--request-window", "many"},
      {"--request-max-age", "soon"}, {"--request-max-age", "0"},
      {"--request-min-age", "soon"}, {"--request-min-age", "2m", "--request-max-age", "1m"}};
  for (const auto& flag : bad) {
    std::vector<std::string> args{"--journal", tmp_.sub("journal2"), "--socket",
                                  tmp_.sub("x.sock")};
    args.insert(args.end(), flag.begin(), flag.end());
    const Exited r = run_daemon(args);
    EXPECT_EQ(r.exit_code, 2) << flag[0] << " " << flag[1] << ": " << r;
    EXPECT_TRUE(contains(r.err, flag[0])) << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  }
}

}  // namespace
