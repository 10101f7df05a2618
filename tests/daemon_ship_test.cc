// forkjournald --ship against a real nats-server: a kill -9 mid-shipping and
// a restart ship every event exactly once with no gap; forks go on at their
// pace while NATS is down and are shipped once it is back; the stats op, the
// metrics and the log report the shipping without a line per event.
#include "fleet/stream_setup.h"
#include "journal/journal.h"
#include "support/daemon_fixture.h"
#include "support/nats_server.h"
#include "support/ship_checks.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

namespace {

namespace json = boost::json;
using namespace fj::testing;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class ShipDaemonTest : public DaemonTest {
 protected:
  // The stats op's "ship" object.
  json::object ship_stats(Client& c) {
    const json::object s = stats(c);
    const json::value* ship = s.if_contains("ship");
    if (ship == nullptr || !ship->is_object()) {
      ADD_FAILURE() << "no ship object in " << show(s);
      return {};
    }
    return ship->as_object();
  }

  // Polls the stats op until ship.shipped_seq reaches `seq`.
  ::testing::AssertionResult wait_shipped_seq(Client& c, std::uint64_t seq,
                                              Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    json::object last;
    while (Clock::now() < deadline) {
      last = ship_stats(c);
      if (last.contains("shipped_seq") && last.at("shipped_seq").to_number<std::uint64_t>() >= seq)
        return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(50ms);
    }
    return ::testing::AssertionFailure() << "not shipped through " << seq << ": " << show(last);
  }

  std::string journal_id() {
    auto j = fj::Journal::open(journal(), fj::JournalOptions{.read_only = true});
    EXPECT_TRUE(j);
    return j ? j->info().journal_id : "";
  }

  ::testing::AssertionResult matches(const std::string& url, const std::string& host) {
    auto j = fj::Journal::open(journal(), fj::JournalOptions{.read_only = true});
    if (!j) return ::testing::AssertionFailure() << j.error().message;
    return stream_matches(url, *j, host);
  }
};

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST_F(ShipDaemonTest, KillNineMidShippingThenRestartShipsEveryEventExactlyOnce) {
  NatsServer server(tmp_.sub("nats"));
  ASSERT_TRUE(fj::fleet::init_stream(server.url(), 1));
  constexpr std::uint64_t kEvents = 20'000;
  {
    auto j = fj::Journal::create(journal(), fj::JournalOptions{.sync = fj::SyncMode::none});
    ASSERT_TRUE(j);
    append_forks(*j, kEvents);
  }
  const std::vector<std::string> args{"--sync",     "none",        "--ship",
                                      server.url(), "--ship-host", "host-d"};
  Daemon& first = start(args);
  {
    Client c(socket());
    ASSERT_TRUE(wait_shipped_seq(c, 2000, 30s));
    const std::uint64_t before = u64(ship_stats(c), "shipped_seq");
    ASSERT_LT(before, kEvents) << "shipping ended before the kill; nothing was cut short";
  }
  first.kill9();

  Daemon& second = start(args);
  Client c(socket());
  ASSERT_TRUE(wait_shipped_seq(c, kEvents, 60s));
  const json::object ship = ship_stats(c);
  EXPECT_EQ(ship.at("host"), "host-d");
  EXPECT_EQ(ship.at("connected"), true);
  EXPECT_EQ(ship.at("halted"), false);
  EXPECT_EQ(ship.at("lag_events"), 0);
  EXPECT_EQ(ship.at("lag_seconds").to_number<double>(), 0.0);
  EXPECT_TRUE(ship.at("last_error").is_null()) << show(ship);
  EXPECT_LE(u64(ship, "published"), kEvents);
  EXPECT_TRUE(matches(server.url(), "host-d"));

  // One line per connect and resume, none per event.
  const std::string log = second.log();
  EXPECT_NE(log.find("connected to NATS " + server.url()), std::string::npos) << log;
  EXPECT_NE(log.find("shipping forkjournal.events." + journal_id() + " from seq "),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("from seq 1\n"), std::string::npos) << "resumed from the start:\n" << log;
  EXPECT_LT(count_of(log, "NATS"), 10u) << log;
}

// GET http://127.0.0.1:port/metrics, body and headers.
std::string scrape(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || ::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "cannot connect to the metrics port " << port;
    if (s >= 0) ::close(s);
    return {};
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  EXPECT_EQ(::send(s, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
  std::string out;
  char buf[8192];
  for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) out.append(buf, std::size_t(n));
  ::close(s);
  return out;
}

// The value of one series line ("name" or "name{labels}").
double series(const std::string& scraped, const std::string& name) {
  std::istringstream lines(scraped);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  ADD_FAILURE() << "no series " << name << " in:\n" << scraped;
  return -1;
}

TEST_F(ShipDaemonTest, ForksGoOnWhileNatsIsDownAndAreShippedOnceItIsBack) {
  NatsServer server(tmp_.sub("nats"));
  ASSERT_TRUE(fj::fleet::init_stream(server.url(), 1));
  Daemon& d = start({"--sync", "none", "--ship", server.url(), "--ship-host", "host-e", "--metrics",
                     "127.0.0.1:0"});
  const int metrics = metrics_port(d);
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_EQ(call(c, register_request("tpl-a", "src-a", "a")).at("ok"), true);
  ASSERT_TRUE(wait_shipped_seq(c, 1, 20s));

  server.node().stop();
  const auto began = Clock::now();
  for (int i = 0; i < 200; ++i) {
    const auto asked = Clock::now();
    const auto r = call(c, fork_request("fork", "tpl-a", "f" + std::to_string(i)));
    ASSERT_EQ(r.at("ok"), true) << show(r);
    ASSERT_LT(Clock::now() - asked, 1s) << "fork " << i << " waited on NATS";
  }
  EXPECT_LT(Clock::now() - began, 10s);
  // The shipper notices the outage in its own time (a publish may wait out
  // its 1 s timeout), and the lag grows from the first fork on.
  json::object down;
  for (const auto deadline = Clock::now() + 10s; Clock::now() < deadline;) {
    down = ship_stats(c);
    if (down.at("connected") == false && down.at("last_error").is_string() &&
        down.at("lag_seconds").to_number<double>() > 1.0)
      break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(down.at("connected"), false) << show(down);
  EXPECT_EQ(u64(down, "shipped_seq"), 1u);
  EXPECT_EQ(u64(down, "lag_events"), 200u);
  EXPECT_GT(down.at("lag_seconds").to_number<double>(), 1.0);
  EXPECT_TRUE(down.at("last_error").is_string()) << show(down);
  const std::string m = scrape(metrics);
  EXPECT_EQ(series(m, "forkjournal_ship_lag_events"), 200);
  EXPECT_EQ(series(m, "forkjournal_ship_shipped_seq"), 1);
  EXPECT_GT(series(m, "forkjournal_ship_lag_seconds"), 1.0);
  EXPECT_EQ(series(m, "forkjournal_ship_connected"), 0);
  EXPECT_EQ(series(m, "forkjournal_ship_publishes_total{result=\"ok\"}"), 1);

  server.node().start();
  ASSERT_TRUE(wait_jetstream(server.url()));
  ASSERT_TRUE(wait_shipped_seq(c, 201, 30s));
  EXPECT_TRUE(ship_stats(c).at("last_error").is_null()) << show(ship_stats(c));
  EXPECT_EQ(series(scrape(metrics), "forkjournal_ship_lag_events"), 0);
  const std::string log = daemons_.back()->log();
  EXPECT_NE(log.find("shipping to NATS failed after seq 1"), std::string::npos) << log;
  EXPECT_NE(log.find("shipping to NATS resumed: forkjournal.events."), std::string::npos) << log;
  EXPECT_LT(count_of(log, "NATS"), 10u) << log;
  EXPECT_TRUE(matches(server.url(), "host-e"));
}

TEST_F(ShipDaemonTest, StatsHaveNoShipObjectWithoutShip) {
  start();
  Client c(socket());
  const json::object s = stats(c);
  ASSERT_TRUE(s.contains("ship")) << show(s);
  EXPECT_TRUE(s.at("ship").is_null()) << show(s);
}

TEST_F(ShipDaemonTest, RefusesToStartWithABadShipUrl) {
  const Exited r =
      run_daemon({"--journal", journal(), "--socket", socket(), "--ship", "http://example:4222"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("is not a NATS URL"), std::string::npos) << r;
}

}  // namespace
