// forkjournald under hostile clients (docs/protocol.md, "Limits"): a client
// that never reads its replies, one that sends a line a byte at a time, one
// that stays idle, a thousand idle ones, and a flood of connections past the
// cap. Each test checks the limit (the hostile connection is closed or
// refused in bounded time, with the documented reply) and that a
// well-behaved client on another connection is served throughout: every
// fork it sends is acknowledged and counted. Limits are small options so
// that each test takes seconds.
#include "support/daemon_fixture.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace json = boost::json;
using namespace fj::testing;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// The resident memory of process `pid` in KiB (VmRSS), 0 if unknown.
std::size_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6));
  }
  return 0;
}

// A well-behaved client: registers a template, then forks on demand and
// checks each fork is acknowledged.
class Steady {
 public:
  explicit Steady(const std::string& socket) : client_(socket) {
    EXPECT_TRUE(is_ok(DaemonTestAccess::call(client_, register_request("steady", "src"))));
  }

  void fork() {
    const std::string id = "f" + std::to_string(forks_);
    const json::object r =
        DaemonTestAccess::call(client_, fork_request("fork", "steady", id, json::string(id)));
    EXPECT_TRUE(is_ok(r)) << "fork " << id << " of the well-behaved client was not acknowledged";
    if (acked_seq(r)) ++forks_;
  }

  // Every acknowledged fork is counted, and nothing else was appended.
  void expect_all_counted() {
    const json::object counts = DaemonTestAccess::call(client_, {{"op", "counts"}});
    ASSERT_TRUE(is_ok(counts)) << show(counts);
    ASSERT_EQ(counts.at("templates").as_array().size(), 1u) << show(counts);
    EXPECT_EQ(counts.at("templates").as_array()[0].at("forks"), forks_) << show(counts);
    EXPECT_EQ(u64(counts, "seq"), forks_ + 1) << "register and one event per acknowledged fork";
  }

  Client& client() { return client_; }
  std::uint64_t forks() const { return forks_; }

 private:
  // DaemonTest's helpers are protected; this reaches the static ones.
  struct DaemonTestAccess : DaemonTest {
    using DaemonTest::call;
  };

  Client client_;
  std::uint64_t forks_ = 0;
};

// What an idle connection may cost the daemon: about 3 KiB in a plain
// build; the sanitizers' shadow memory and allocator redzones inflate it.
// And what a connection whose replies pile up may cost: ASan's quarantine
// also holds on to every reply freed meanwhile (25 MiB measured).
#ifdef FJ_TEST_SANITIZED
constexpr std::size_t kIdleConnectionKib = 64;
constexpr std::size_t kBacklogKib = 64 * 1024;
#else
constexpr std::size_t kIdleConnectionKib = 16;
constexpr std::size_t kBacklogKib = 8 * 1024;
#endif

// Raises this process's soft descriptor limit to the hard one; false if
// `needed` descriptors still do not fit.
bool allow_descriptors(rlim_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  }
  return limit.rlim_cur >= needed;
}

// --- replies never read ------------------------------------------------------------

TEST_F(DaemonTest, AClientThatReadsNoRepliesIsClosedAfterTheWriteTimeout) {
  Daemon& d = start({"--max-output", "65536", "--write-timeout", "1s"});
  Steady steady(socket());
  const std::size_t rss_before = rss_kib(d.pid());

  const int hostile = connect_unix(socket());
  ASSERT_GE(hostile, 0) << std::strerror(errno);
  ASSERT_EQ(::fcntl(hostile, F_SETFL, O_NONBLOCK), 0);
  std::string pings;
  for (int i = 0; i < 1000; ++i) pings += R"({"op":"ping","id":)" + std::to_string(i) + "}\n";

  // Pipeline pings without reading until the daemon stops taking them (its
  // reply backlog is full) and then closes the connection. The daemon arms
  // its write deadline when a write starts, which may be before this client
  // first finds its own sends blocked, but not before the first ping is
  // sent: the lower bound counts from `start`, the upper one from the stall.
  const auto start = Clock::now();
  std::optional<Clock::time_point> blocked;
  bool closed = false;
  std::size_t sent = 0;
  while (!closed && Clock::now() - start < 8s) {
    const ssize_t n = ::send(hostile, pings.data() + sent % pings.size(),
                             pings.size() - sent % pings.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      blocked.reset();
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) {
      closed = true;
    } else {
      ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
      if (!blocked) blocked = Clock::now();
      steady.fork();  // served while the hostile connection is stuck
      std::this_thread::sleep_for(20ms);
    }
  }
  const auto closed_at = Clock::now();
  ::close(hostile);
  ASSERT_TRUE(closed) << "the connection that reads no replies was not closed within 8 s (" << sent
                      << " bytes of requests sent)";
  EXPECT_GE(seconds(closed_at - start), 0.9) << "closed before the write timeout";
  EXPECT_LT(seconds(closed_at - blocked.value_or(start)), 4.0) << "the write timeout is 1 s";
  EXPECT_NE(d.log().find("took no reply within 1 s"), std::string::npos) << d.log();
  // The replies waiting for it are bounded: the daemon stopped reading its
  // requests instead of answering them into memory.
  EXPECT_LT(rss_kib(d.pid()), rss_before + kBacklogKib) << sent << " bytes of requests sent";

  // Forked only while the hostile connection was stuck (for up to about the
  // 1 s timeout), each fork synced: a few are enough to show the daemon
  // served others meanwhile.
  EXPECT_GE(steady.forks(), 3u);
  steady.expect_all_counted();
  expect_pong(steady.client(), "the write timeout of another connection");
}

// --- slow and idle connections ------------------------------------------------------------

TEST_F(DaemonTest, ALineSentAByteAtATimeTimesOutWithATimeoutError) {
  start({"--line-timeout", "1s", "--idle-timeout", "5s"});
  Steady steady(socket());
  Client slow(socket());
  const std::string line = R"({"op":"ping","id":")" + std::string(200, 'x') + "\"}\n";

  const auto start = Clock::now();
  std::optional<std::string> reply;
  for (std::size_t i = 0; i < line.size() && !reply && Clock::now() - start < 8s; ++i) {
    slow.send(line.substr(i, 1));  // fails once the daemon stopped reading
    steady.fork();
    reply = slow.read_line(100ms);
  }
  const auto answered_after = Clock::now() - start;
  ASSERT_TRUE(reply) << "the slow line was neither answered nor timed out within 8 s";
  boost::system::error_code ec;
  const json::value v = json::parse(*reply, ec);
  ASSERT_FALSE(ec) << *reply;
  EXPECT_TRUE(is_error(v.as_object(), "timeout")) << *reply;
  EXPECT_EQ(v.at("id"), nullptr) << *reply;
  EXPECT_GE(seconds(answered_after), 0.9) << "timed out before the line timeout";
  EXPECT_LT(seconds(answered_after), 3.0) << "the line timeout is 1 s";
  EXPECT_EQ(slow.read_line(2s), std::nullopt);
  EXPECT_TRUE(slow.closed_by_peer()) << slow.error();

  steady.expect_all_counted();
}

TEST_F(DaemonTest, AnIdleConnectionIsClosedAfterTheIdleTimeoutWithoutAReply) {
  Daemon& d = start({"--idle-timeout", "1s", "--line-timeout", "5s"});
  Steady steady(socket());
  // Each idle clock starts once its client has connected (silent) or had its
  // reply (answered), so each is timed from just before it connects.
  const auto silent_start = Clock::now();
  Client silent(socket());  // never sends
  const auto answered_start = Clock::now();
  Client answered(socket());
  expect_pong(answered, "connecting");  // then idle after its reply

  // The well-behaved client sends a request more often than the timeout,
  // so it stays.
  std::optional<Clock::duration> silent_closed, answered_closed;
  const auto poll_closed = [&](Client& c, Clock::time_point start,
                               std::optional<Clock::duration>& closed) {
    if (closed) return;
    const std::optional<std::string> line = c.read_line(100ms);
    EXPECT_EQ(line, std::nullopt) << "an idle connection got a reply";
    if (c.at_eof()) closed = Clock::now() - start;
  };
  while ((!silent_closed || !answered_closed) && Clock::now() - silent_start < 4s) {
    steady.fork();
    poll_closed(silent, silent_start, silent_closed);
    poll_closed(answered, answered_start, answered_closed);
  }
  for (const auto& closed : {silent_closed, answered_closed}) {
    ASSERT_TRUE(closed) << "an idle connection was not closed within 4 s";
    EXPECT_GE(seconds(*closed), 0.9) << "closed before the idle timeout";
    EXPECT_LT(seconds(*closed), 3.0) << "the idle timeout is 1 s";
  }
  // One fork per pass of the loop above, which polls both idle connections
  // for up to 100 ms each: the first pass ends before the 1 s timeout
  // unless a synced fork takes most of a second, so at least two passes.
  EXPECT_GE(steady.forks(), 2u);
  steady.expect_all_counted();
  EXPECT_EQ(d.log().find("closing a connection"), std::string::npos)
      << "idle closes are routine and not logged: " << d.log();
}

// --- many connections --------------------------------------------------------------

TEST_F(DaemonTest, AThousandIdleConnectionsAreServedCheaplyAndStarveNoOne) {
  constexpr int kIdle = 1000;
  ASSERT_TRUE(allow_descriptors(kIdle + 100)) << "needs " << kIdle + 100 << " descriptors";
  Daemon& d = start();
  Steady steady(socket());
  steady.fork();
  const std::size_t rss_before = rss_kib(d.pid());

  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<Client>(socket()));
    ASSERT_TRUE(idle.back()->connected()) << i << ": " << idle.back()->error();
    expect_pong(*idle.back(), "connecting as idle connection " + std::to_string(i));
  }
  const std::size_t rss_idle = rss_kib(d.pid());
  RecordProperty("daemon_rss_growth_kib_per_1000_idle", std::to_string(rss_idle - rss_before));
  EXPECT_LT(rss_idle, rss_before + kIdle * kIdleConnectionKib)
      << "more than " << kIdleConnectionKib << " KiB per idle connection";

  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i) steady.fork();
  EXPECT_LT(seconds(Clock::now() - start), 5.0) << "100 forks beside 1000 idle connections";
  steady.expect_all_counted();
  for (int i = 0; i < kIdle; i += 50) expect_pong(*idle[i], "1000 connections idled");
}

TEST_F(DaemonTest, PastTheConnectionCapANewConnectionGetsBusyAndIsClosed) {
  constexpr int kCap = 20;
  constexpr int kFlood = 500;
  ASSERT_TRUE(allow_descriptors(kFlood + 100)) << "needs " << kFlood + 100 << " descriptors";
  Daemon& d = start({"--max-connections", std::to_string(kCap)});
  Steady steady(socket());
  std::vector<std::unique_ptr<Client>> served;
  for (int i = 1; i < kCap; ++i) {
    served.push_back(std::make_unique<Client>(socket()));
    expect_pong(*served.back(), "connecting under the cap");
  }

  // Connects as fast as it can; every one past the cap is refused at once.
  const auto start = Clock::now();
  std::vector<std::unique_ptr<Client>> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(std::make_unique<Client>(socket()));
    ASSERT_TRUE(flood.back()->connected()) << i << ": " << flood.back()->error();
    if (i % 25 == 0) steady.fork();
  }
  for (auto& c : flood) {
    // The first kOverLimit are held for their line: busy after 1 s.
    const auto busy = c->read_response(kIoTimeout);
    ASSERT_TRUE(busy) << c->error();
    EXPECT_TRUE(is_error(*busy, "busy")) << show(*busy);
    EXPECT_EQ(busy->at("id"), nullptr);
    EXPECT_EQ(c->read_line(2s), std::nullopt);
    EXPECT_TRUE(c->closed_by_peer()) << "a refused connection is closed: " << c->error();
  }
  EXPECT_LT(seconds(Clock::now() - start), 8.0) << kFlood << " connections refused";
  EXPECT_NE(d.log().find("refusing new connections: 20 served"), std::string::npos) << d.log();

  for (auto& c : served) expect_pong(*c, "a flood past the cap");
  steady.expect_all_counted();

  // Below the cap again, a new connection is served.
  served.resize(kCap - 5);
  bool again = false;
  for (const auto deadline = Clock::now() + 3s; !again && Clock::now() < deadline;) {
    Client c(socket());
    auto r = DaemonTest::call(c, {{"op", "ping"}, {"id", 1}});
    again = is_ok(r);
    if (!again) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(again) << "no connection served after others closed";
}

// A client that holds every connection must not make monitoring report the
// daemon down: past the cap, health is answered once, anything else gets
// busy (ping too: a client takes a pong for a connection served), and each
// such connection is closed after its one reply.
TEST_F(DaemonTest, PastTheConnectionCapHealthAndPingAreAnsweredOnceThenClosed) {
  constexpr int kCap = 5;
  Daemon& d = start({"--max-connections", std::to_string(kCap)});
  Steady steady(socket());
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 1; i < kCap; ++i) {
    held.push_back(std::make_unique<Client>(socket()));
    expect_pong(*held.back(), "connecting under the cap");
  }

  const Exited health = run({FORKJOURNAL_BIN, "health", "--socket", socket()});
  EXPECT_EQ(health.exit_code, 0) << health;
  EXPECT_EQ(health.out.rfind("healthy: head seq 1", 0), 0u) << health;

  {
    Client c(socket());
    const auto r = c.roundtrip({{"op", "health"}, {"id", 7}});
    ASSERT_TRUE(r) << c.error();
    EXPECT_TRUE(is_ok(*r)) << show(*r);
    EXPECT_EQ(r->at("id"), 7) << show(*r);
    EXPECT_EQ(r->at("status"), "healthy") << show(*r);
    EXPECT_EQ(c.read_line(2s), std::nullopt) << "one reply, then the connection closes";
    EXPECT_TRUE(c.closed_by_peer()) << c.error();
  }

  // A write, a read that needs the writer, a malformed line, and nothing at
  // all: busy, then closed, and nothing is applied.
  for (const std::string& line :
       {std::string(R"({"op":"fork","id":8,"template":"steady","fork":"refused"})"),
        std::string(R"({"op":"counts"})"), std::string(R"({"op":"ping","id":9})"),
        std::string("not json"), std::string()}) {
    Client c(socket());
    if (!line.empty()) {
      ASSERT_TRUE(c.send(line + "\n")) << c.error();
    }
    // (The empty line sends nothing: busy comes after kOverLimitWait.)
    const auto busy = c.read_response(kIoTimeout);
    ASSERT_TRUE(busy) << line << ": " << c.error();
    EXPECT_TRUE(is_error(*busy, "busy")) << show(*busy) << d.log();
    EXPECT_EQ(busy->at("id"), nullptr) << show(*busy);
    EXPECT_EQ(c.read_line(2s), std::nullopt) << line;
    EXPECT_TRUE(c.closed_by_peer()) << line << ": " << c.error();
  }

  for (auto& c : held) expect_pong(*c, "answers past the cap");
  steady.fork();
  steady.expect_all_counted();
}

TEST_F(DaemonTest, TheConnectionCapStaysBelowTheDescriptorLimit) {
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/prlimit")) << "needs prlimit(1) (util-linux)";
  // 128 descriptors leave 64 for connections beside the 64 the daemon keeps.
  daemons_.push_back(std::make_unique<Daemon>(
      std::vector<std::string>{"/usr/bin/prlimit", "--nofile=128:128", FORKJOURNALD_BIN,
                               "--journal", journal(), "--socket", socket()},
      socket(), tmp_.sub("prlimit.log")));
  Daemon& d = *daemons_.back();
  ASSERT_TRUE(d.wait_ready());
  EXPECT_NE(d.log().find("--max-connections 4096 lowered to 64"), std::string::npos) << d.log();

  Steady steady(socket());
  std::vector<std::unique_ptr<Client>> served;
  for (int i = 1; i < 64; ++i) {
    served.push_back(std::make_unique<Client>(socket()));
    expect_pong(*served.back(), "connecting under the lowered cap");
  }
  // Silent, so answered busy only after kOverLimitWait (1 s).
  Client refused(socket());
  const auto busy = refused.read_response(kIoTimeout);
  ASSERT_TRUE(busy) << refused.error();
  EXPECT_TRUE(is_error(*busy, "busy")) << show(*busy);
  steady.fork();
  steady.expect_all_counted();
}

}  // namespace
