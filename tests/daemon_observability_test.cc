// forkjournald's observability: the Prometheus metrics (--metrics), the
// health op and `forkjournal health`, and the systemd watchdog pings from
// the writer thread.
#include "journal/journal.h"
#include "support/daemon_fixture.h"
#include "support/data_root.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace fj::testing;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// GET http://127.0.0.1:port/metrics; the whole response, headers included.
std::string scrape(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(s, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const timeval timeout{10, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "connect to port " << port << ": " << std::strerror(errno);
    ::close(s);
    return {};
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  EXPECT_EQ(::send(s, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[8192];
  for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(s);
  return out;
}

// The value of one series ("name" or "name{a=\"x\",b=\"y\"}") in a scrape;
// -1 (a distinct failure) when it is missing.
double value(const std::string& scraped, const std::string& series) {
  std::istringstream lines(scraped);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  ADD_FAILURE() << "no series " << series << " in the scrape:\n" << scraped;
  return -1;
}

// How many times `text` occurs in `scraped`.
std::size_t occurrences(const std::string& scraped, const std::string& text) {
  std::size_t n = 0;
  for (auto at = scraped.find(text); at != std::string::npos; at = scraped.find(text, at + 1)) ++n;
  return n;
}

// The sum of every series of `name` whose labels contain `filter`.
double sum(const std::string& scraped, const std::string& name, const std::string& filter = "") {
  std::istringstream lines(scraped);
  double total = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "{", 0) != 0 || line.find(filter) == std::string::npos) continue;
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

std::uint64_t data_mdb_size(const std::string& journal) {
  return fs::file_size(fs::path(journal) / "data.mdb");
}

// An empty data root: nothing to correct, nothing that needs a person.
std::string empty_root(const TempDir& tmp) {
  const std::string root = tmp.sub("empty-root");
  fs::create_directories(root + "/guests");
  fs::create_directories(root + "/templates");
  return root;
}

// --- metrics ---------------------------------------------------------------------------

TEST_F(DaemonTest, MetricsCountAKnownWorkloadExactly) {
  constexpr int kTemplates = 3, kForks = 5, kUnforks = 2;
  const std::string root = empty_root(tmp_);
  // No grace: the reconcile below records the forks with no directory lost.
  Daemon& d = start({"--metrics", "127.0.0.1:0", "--data-root", root, "--fork-grace", "0",
                     "--max-map-size", std::to_string(std::uint64_t{1} << 30)});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);

  Client c(socket());
  for (int i = 0; i < kTemplates; ++i) {
    ASSERT_TRUE(is_ok(call(c, register_request("t" + std::to_string(i), "s" + std::to_string(i)))));
  }
  for (int i = 0; i < kForks; ++i) {
    ASSERT_TRUE(is_ok(call(c, fork_request("fork", "t0", "f" + std::to_string(i)))));
  }
  for (int i = 0; i < kUnforks; ++i) {
    ASSERT_TRUE(is_ok(call(c, fork_request("unfork", "t0", "f" + std::to_string(i)))));
  }
  ASSERT_TRUE(is_error(call(c, fork_request("fork", "t1", "f4")), "already_live"));
  ASSERT_TRUE(is_error(call(c, {{"op", "nonsense"}}), "unknown_op"));
  ASSERT_TRUE(is_ok(call(c, {{"op", "reconcile"}})));
  const json::object snap = call(c, {{"op", "snapshot"}});
  ASSERT_TRUE(is_ok(snap));
  const json::object st = stats(c);

  const std::string m = scrape(port);
  ASSERT_NE(m.find("200 OK"), std::string::npos) << m;
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="register",result="ok"})"), kTemplates);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="fork",result="ok"})"), kForks);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="unfork",result="ok"})"), kUnforks);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="fork",result="already_live"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="invalid",result="unknown_op"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="reconcile",result="ok"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="snapshot",result="ok"})"), 1);

  EXPECT_EQ(value(m, R"(forkjournal_events_appended_total{type="template_registered"})"),
            kTemplates);
  EXPECT_EQ(value(m, R"(forkjournal_events_appended_total{type="fork_added"})"), kForks);
  EXPECT_EQ(value(m, R"(forkjournal_events_appended_total{type="fork_removed"})"), kUnforks);
  // The daemon created the journal and is its only writer: every event is its own.
  EXPECT_EQ(sum(m, "forkjournal_events_appended_total"), u64(st, "head_seq"));
  // Boot and the requested one.
  EXPECT_EQ(value(m, R"(forkjournal_reconcile_runs_total{dry_run="false"})"), 2);
  EXPECT_EQ(value(m, R"(forkjournal_reconcile_runs_total{dry_run="true"})"), 0);
  // The data root is empty: the requested reconcile finds every live fork
  // gone and sweeps every template.
  EXPECT_EQ(
      value(m, R"(forkjournal_corrections_total{reason="instance_missing",type="fork_lost"})"),
      kForks - kUnforks);
  EXPECT_EQ(value(m, R"(forkjournal_corrections_total{reason="orphaned",type="template_retired"})"),
            kTemplates);
  EXPECT_EQ(sum(m, "forkjournal_corrections_total"), kForks - kUnforks + kTemplates);
  EXPECT_EQ(value(m, R"(forkjournal_events_appended_total{type="fork_lost"})"), kForks - kUnforks);
  EXPECT_EQ(value(m, R"(forkjournal_events_appended_total{type="template_retired"})"), kTemplates);
  EXPECT_EQ(value(m, "forkjournal_reconcile_needs_attention_total"), 0);

  // One commit per write request that appended (each waited for its reply);
  // the refused one stored nothing, so it is a request but no commit.
  const double commits = static_cast<double>(u64(st, "commits"));
  EXPECT_EQ(commits, kTemplates + kForks + kUnforks);
  EXPECT_EQ(u64(st, "requests"), kTemplates + kForks + kUnforks + 1);
  EXPECT_EQ(value(m, "forkjournal_commit_duration_seconds_count"), commits);
  EXPECT_EQ(value(m, "forkjournal_commit_batch_size_count"), commits);
  EXPECT_EQ(value(m, "forkjournal_commit_batch_size_sum"), commits);
  EXPECT_EQ(value(m, R"(forkjournal_commit_batch_size_bucket{le="1"})"), commits);

  EXPECT_EQ(value(m, "forkjournal_head_seq"), u64(st, "head_seq"));
  EXPECT_EQ(value(m, "forkjournal_snapshot_seq"), u64(snap, "seq"));
  EXPECT_EQ(value(m, "forkjournal_live_forks"), 0);
  EXPECT_EQ(value(m, R"(forkjournal_templates{state="active"})"), 0);
  EXPECT_EQ(value(m, R"(forkjournal_templates{state="retired"})"), kTemplates);
  EXPECT_EQ(value(m, "forkjournal_map_used_bytes"), data_mdb_size(journal()));
  EXPECT_EQ(value(m, "forkjournal_map_limit_bytes"), std::uint64_t{1} << 30);
  // No fork or VM id becomes a label.
  EXPECT_EQ(m.find("f4"), std::string::npos);
  EXPECT_EQ(m.find("\"t0\""), std::string::npos);
}

// A batch whose requests were all refused (or replayed) stores nothing: it
// moves the request count but not the commits, their age, their histograms
// or the average batch.
TEST_F(DaemonTest, RefusedAndReplayedWritesAreNotCommits) {
  Daemon& d = start({"--metrics", "127.0.0.1:0"});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);
  Client c(socket());
  ASSERT_TRUE(is_ok(call(c, register_request("t0", "s0"))));
  for (int i = 0; i < 4; ++i) {
    json::object fork = fork_request("fork", "t0", "f" + std::to_string(i));
    fork["request_id"] = "r" + std::to_string(i);
    ASSERT_TRUE(is_ok(call(c, fork)));
  }
  std::this_thread::sleep_for(1200ms);

  // Pipelined, so that some share a batch.
  std::string burst;
  for (int i = 0; i < 20; ++i) {
    burst += json::serialize(fork_request("fork", "t0", "f0", i)) + "\n";
  }
  ASSERT_TRUE(c.send(burst)) << c.error();
  for (int i = 0; i < 20; ++i) {
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    ASSERT_TRUE(is_error(*r, "already_live")) << show(*r);
  }
  json::object replay = fork_request("fork", "t0", "f0");
  replay["request_id"] = "r0";
  const json::object replayed = call(c, replay);
  ASSERT_TRUE(is_ok(replayed)) << show(replayed);
  ASSERT_EQ(replayed.at("replayed"), true) << show(replayed);

  const json::object st = stats(c);
  EXPECT_EQ(u64(st, "commits"), 5u) << show(st);
  EXPECT_EQ(u64(st, "requests"), 26u) << show(st);
  EXPECT_EQ(st.at("average_batch").to_number<double>(), 1.0) << show(st);
  const json::object h = call(c, {{"op", "health"}});
  EXPECT_GE(h.at("last_commit_age_seconds").to_number<double>(), 1.0) << show(h);
  const std::string m = scrape(port);
  EXPECT_EQ(value(m, "forkjournal_commit_duration_seconds_count"), 5);
  EXPECT_EQ(value(m, "forkjournal_commit_batch_size_count"), 5);
  EXPECT_EQ(value(m, "forkjournal_commit_batch_size_sum"), 5);
  EXPECT_GE(value(m, "forkjournal_last_commit_age_seconds"), 1.0);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="fork",result="already_live"})"), 20);
}

// A subscriber cut off as too slow is counted by its reason (the subscribe
// itself was counted as answered when it started).
TEST_F(DaemonTest, MetricsCountASubscriberCutOffTooSlow) {
  Daemon& d = start({"--metrics", "127.0.0.1:0", "--max-output", "4096", "--sync", "none"});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);
  Client writer(socket());
  ASSERT_TRUE(is_ok(call(writer, register_request("tpl", "src"))));
  Client sub(socket());
  ASSERT_TRUE(sub.send(R"({"op":"subscribe","id":"sub","from_seq":2})"
                       "\n"));
  const std::string padding(48, 'x');
  const auto began = Clock::now();
  for (int forks = 0; d.log().find("closing a subscriber that fell behind") == std::string::npos &&
                      Clock::now() - began < 30s;
       ++forks) {
    ASSERT_TRUE(
        is_ok(call(writer, fork_request("fork", "tpl", "f" + std::to_string(forks) + padding))));
  }
  ASSERT_NE(d.log().find("closing a subscriber that fell behind"), std::string::npos);
  sub.close();
  double counted = 0;
  for (const auto deadline = Clock::now() + 5s; counted == 0 && Clock::now() < deadline;) {
    counted = value(scrape(port), R"(forkjournal_connections_closed_total{reason="too_slow"})");
    if (counted == 0) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(counted, 1);
  const std::string m = scrape(port);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="subscribe",result="ok"})"), 1);
}

// The docs (README, operations.md) name every family that does not start
// with forkjournal_: prometheus-cpp's own three about the scrapes.
TEST_F(DaemonTest, MetricsOutsideTheForkjournalPrefixAreTheExposersThree) {
  Daemon& d = start({"--metrics", "127.0.0.1:0"});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);
  scrape(port);  // so that the exposer's latencies have an observation
  const std::string m = scrape(port);
  std::set<std::string> others;
  std::istringstream lines(m.substr(m.find("\r\n\r\n") + 4));
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    const std::string name = line.substr(7, line.find(' ', 7) - 7);
    if (!name.starts_with("forkjournal_")) others.insert(name + line.substr(line.rfind(' ')));
  }
  EXPECT_EQ(others, (std::set<std::string>{"exposer_request_latencies summary",
                                           "exposer_scrapes_total counter",
                                           "exposer_transferred_bytes_total counter"}))
      << m;
}

// A line that names a known op is counted under that op whatever is wrong
// with its fields; only a line naming no known op is op="invalid".
TEST_F(DaemonTest, MetricsLabelARefusedRequestWithTheOpItNames) {
  Daemon& d = start({"--metrics", "127.0.0.1:0"});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);

  Client c(socket());
  const auto refused = [&](const std::string& line, std::string_view code) {
    ASSERT_TRUE(c.send(line + "\n")) << c.error();
    const auto r = c.read_response();
    ASSERT_TRUE(r) << line << ": " << c.error();
    EXPECT_TRUE(is_error(*r, code)) << line;
  };
  refused(R"({"op":"fork","template":"s"})", "bad_request");
  refused(R"({"op":"fork","template":"bad id","fork":"x"})", "invalid_id");
  refused(R"({"op":"register","template":"t","source":"s","request_id":7})", "bad_request");
  refused(R"({"op":"nonsense"})", "unknown_op");
  refused(R"({"template":"t"})", "bad_request");
  refused("not json", "bad_request");
  // Last: a subscribe refused for its fields is answered like any request,
  // on a connection that still takes requests.
  refused(R"({"op":"subscribe","from_seq":-1})", "bad_request");

  const std::string m = scrape(port);
  ASSERT_NE(m.find("200 OK"), std::string::npos) << m;
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="fork",result="bad_request"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="fork",result="invalid_id"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="register",result="bad_request"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="subscribe",result="bad_request"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="invalid",result="unknown_op"})"), 1);
  // No op, and not JSON at all.
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="invalid",result="bad_request"})"), 2);
  // Each refusal counted once: under its op, not also under "invalid".
  EXPECT_EQ(sum(m, "forkjournal_requests_total", R"(result="invalid_id")"), 1);
  EXPECT_EQ(sum(m, "forkjournal_requests_total", R"(result="bad_request")"), 5);
}

// What a limit refuses or closes is counted, so that it can be alerted on:
// its error line in forkjournal_requests_total, the connection by reason in
// forkjournal_connections_closed_total (every reason there from the start).
TEST_F(DaemonTest, MetricsCountConnectionsRefusedOrClosedByALimit) {
  Daemon& d =
      start({"--metrics", "127.0.0.1:0", "--max-connections", "2", "--line-timeout", "300ms"});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);
  const std::string before = scrape(port);
  for (const char* reason : {"max_connections", "too_large", "line_timeout", "idle_timeout",
                             "write_timeout", "too_slow"}) {
    EXPECT_EQ(value(before,
                    std::string("forkjournal_connections_closed_total{reason=\"") + reason + "\"}"),
              0)
        << reason;
  }

  // Each ends with one error line and the daemon's close.
  const auto ends_with = [&](Client& c, std::string_view code) {
    const auto r = c.read_response(5s);
    ASSERT_TRUE(r) << code << ": " << c.error();
    EXPECT_TRUE(is_error(*r, code)) << show(*r);
    EXPECT_EQ(c.read_line(5s), std::nullopt) << code;
    EXPECT_TRUE(c.closed_by_peer()) << code << ": " << c.error();
  };
  {
    Client c(socket());
    ASSERT_TRUE(c.send_until_closed(std::string(70 * 1024, ' ') + "\n")) << c.error();
    ends_with(c, "too_large");
  }
  {
    Client c(socket());
    ASSERT_TRUE(c.send(R"({"op":)"));
    ends_with(c, "timeout");
  }
  {
    const int fd = connect_unix(socket());
    ASSERT_GE(fd, 0);
    const timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const std::string ping = R"({"op":"ping"})";
    ASSERT_EQ(::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(ping.size()));
    ::shutdown(fd, SHUT_WR);
    char buf[512];
    ssize_t n = 0;
    for (ssize_t got; (got = ::recv(fd, buf + n, sizeof buf - 1 - n, 0)) > 0;) n += got;
    ::close(fd);
    EXPECT_NE(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0).find("bad_request"),
              std::string::npos);
  }
  // The cap: two held, then a fork and a silent client past it.
  Client held1(socket()), held2(socket());
  expect_pong(held1, "under the cap");
  expect_pong(held2, "under the cap");
  {
    Client c(socket());
    ASSERT_TRUE(c.send(json::serialize(fork_request("fork", "t", "f")) + "\n"));
    ends_with(c, "busy");
  }
  {
    Client c(socket());
    ends_with(c, "busy");
  }

  const std::string m = scrape(port);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="invalid",result="too_large"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="invalid",result="timeout"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="invalid",result="bad_request"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="fork",result="busy"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_requests_total{op="invalid",result="busy"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_connections_closed_total{reason="too_large"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_connections_closed_total{reason="line_timeout"})"), 1);
  EXPECT_EQ(value(m, R"(forkjournal_connections_closed_total{reason="max_connections"})"), 2);
  EXPECT_EQ(value(m, R"(forkjournal_connections_closed_total{reason="write_timeout"})"), 0);
}

// The corrections a reconcile commits are counted by type and reason, as the
// journal holds them.
TEST_F(DaemonDataRootTest, MetricsCountReconcileCorrectionsAsJournaled) {
  Daemon& d = start({"--metrics", "127.0.0.1:0", "--data-root", root_, "--fork-grace", "0"});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);
  {
    // A template and a fork the data root does not have: a reconcile records
    // the fork lost and sweeps the template.
    Client c(socket());
    ASSERT_TRUE(is_ok(call(c, register_request("tpl0gone", "src0gone"))));
    ASSERT_TRUE(is_ok(call(c, fork_request("fork", "tpl0gone", "frk0gone"))));
    ASSERT_TRUE(is_ok(call(c, {{"op", "reconcile"}})));
    ASSERT_TRUE(is_ok(call(c, {{"op", "reconcile"}, {"dry_run", true}})));
  }
  const std::string m = scrape(port);
  ASSERT_EQ(d.terminate(), 0) << d.log();

  const Exited log = cli({"log", "--json"});
  ASSERT_EQ(log.exit_code, 0) << log;
  std::map<std::string, double> journaled;  // type/reason -> count
  double markers = 0, events = 0;
  std::istringstream lines(log.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const json::object e = json::parse(line).as_object();
    ++events;
    const std::string type(e.at("type").as_string());
    if (type == "reconcile_run") {
      ++markers;
      continue;
    }
    const std::string origin(e.at("origin").as_string());
    if (origin != "reconcile" && origin != "sweep") continue;
    const std::string reason =
        e.contains("reason") ? std::string(e.at("reason").as_string()) : "none";
    journaled["{reason=\"" + reason + "\",type=\"" + type + "\"}"] += 1;
  }
  ASSERT_FALSE(journaled.empty()) << "the sample data root needs corrections:\n" << log.out;
  for (const auto& [labels, count] : journaled) {
    EXPECT_EQ(value(m, "forkjournal_corrections_total" + labels), count) << labels;
  }
  double counted = 0;
  for (const auto& [labels, count] : journaled) counted += count;
  EXPECT_EQ(sum(m, "forkjournal_corrections_total"), counted);
  EXPECT_EQ(value(m, R"(forkjournal_events_appended_total{type="reconcile_run"})"), markers);
  EXPECT_EQ(sum(m, "forkjournal_events_appended_total"), events);
  EXPECT_EQ(value(m, R"(forkjournal_reconcile_runs_total{dry_run="false"})"), 2);
  EXPECT_EQ(value(m, R"(forkjournal_reconcile_runs_total{dry_run="true"})"), 1);
  // The sample needs a person at boot and still at the requested run.
  EXPECT_EQ(value(m, "forkjournal_reconcile_needs_attention_total"), 2);
  // The family's HELP and TYPE once, though it was announced before it had series.
  EXPECT_EQ(occurrences(m, "# TYPE forkjournal_corrections_total counter\n"), 1u) << m;
  EXPECT_EQ(occurrences(m, "# HELP forkjournal_corrections_total "), 1u) << m;
}

// Before any correction the family is announced (HELP, TYPE) with no series,
// so a scrape shows the daemon counts them and has counted none.
TEST_F(DaemonTest, MetricsAnnounceTheCorrectionsFamilyBeforeTheFirstCorrection) {
  Daemon& d = start({"--metrics", "127.0.0.1:0", "--data-root", empty_root(tmp_)});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);
  const std::string m = scrape(port);
  ASSERT_NE(m.find("200 OK"), std::string::npos) << m;
  EXPECT_EQ(occurrences(m, "# HELP forkjournal_corrections_total Corrections and sweeps "), 1u)
      << m;
  EXPECT_EQ(occurrences(m, "# TYPE forkjournal_corrections_total counter\n"), 1u) << m;
  EXPECT_EQ(m.find("forkjournal_corrections_total{"), std::string::npos) << m;
}

TEST_F(DaemonTest, MetricsRefuseANonLoopbackAddress) {
  const Exited r =
      run_daemon({"--journal", journal(), "--socket", socket(), "--metrics", "0.0.0.0:0"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("not a loopback address"), std::string::npos) << r;
  EXPECT_NE(r.err.find("--metrics-any-address"), std::string::npos) << r;
  EXPECT_FALSE(fs::exists(socket())) << "refused before serving";

  const Exited bad =
      run_daemon({"--journal", journal(), "--socket", socket(), "--metrics", "localhost"});
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_NE(bad.err.find("not HOST:PORT"), std::string::npos) << bad;
}

// Connections that never finish their request headers (a stuck or hostile
// local client) hold a server thread each: with fewer of them than the
// server's threads (4), a scrape is answered at once. (It ran 2 threads, so
// two such connections held every scrape for civetweb's 30 s.) A scrape
// queued behind as many stalled connections as threads is not tested: it
// may be dropped when they time out (operations.md).
TEST_F(DaemonTest, MetricsAnswerAScrapeWhileConnectionsStallInTheirHeaders) {
  Daemon& d = start({"--metrics", "127.0.0.1:0"});
  const int port = metrics_port(d);
  ASSERT_NE(port, 0);
  std::vector<int> stalled;
  for (int i = 0; i < 3; ++i) {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    stalled.push_back(s);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
        << std::strerror(errno);
    const std::string partial = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    ASSERT_EQ(::send(s, partial.data(), partial.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(partial.size()));
  }
  // Let the server hand every stalled connection to a thread first.
  std::this_thread::sleep_for(200ms);
  const auto started = Clock::now();
  const std::string m = scrape(port);  // gives up after 10 s
  const auto took = Clock::now() - started;
  for (const int s : stalled) ::close(s);
  EXPECT_NE(m.find("200 OK"), std::string::npos) << "no answer within 10 s: " << m;
  // Well under the stalled connections' 5 s timeout: not waiting for them.
  EXPECT_LT(took, 3s);
  EXPECT_NE(m.find("forkjournal_head_seq"), std::string::npos) << m;
}

TEST_F(DaemonTest, MetricsAreOffByDefault) {
  Daemon& d = start();
  EXPECT_EQ(d.log().find("metrics on"), std::string::npos) << d.log();
}

// --- health ----------------------------------------------------------------------------

TEST_F(DaemonTest, HealthReportsHeadCommitAgeAndMapHeadroom) {
  start({"--max-map-size", std::to_string(std::uint64_t{1} << 30)});
  Client c(socket());
  json::object h = call(c, {{"op", "health"}});
  ASSERT_TRUE(is_ok(h));
  EXPECT_EQ(h.at("status"), "healthy") << show(h);
  EXPECT_TRUE(h.at("reasons").as_array().empty()) << show(h);
  EXPECT_TRUE(h.at("last_commit_age_seconds").is_null()) << "no commit since start: " << show(h);
  EXPECT_TRUE(h.at("last_reconcile").is_null()) << "no data root: " << show(h);

  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  h = call(c, {{"op", "health"}});
  ASSERT_TRUE(is_ok(h));
  EXPECT_EQ(u64(h, "head_seq"), 1u);
  const double age = h.at("last_commit_age_seconds").to_number<double>();
  EXPECT_GE(age, 0);
  EXPECT_LT(age, 30);
  const json::object& map = h.at("map").as_object();
  EXPECT_EQ(map.at("limit_bytes").to_number<std::uint64_t>(), std::uint64_t{1} << 30);
  EXPECT_EQ(map.at("used_bytes").to_number<std::uint64_t>(), data_mdb_size(journal()));
  EXPECT_DOUBLE_EQ(map.at("used_fraction").as_double(),
                   static_cast<double>(data_mdb_size(journal())) / (std::uint64_t{1} << 30));
  // The writer may still be finishing the register's batch (housekeeping).
  EXPECT_LT(h.at("writer").at("oldest_wait_seconds").to_number<double>(), 10) << show(h);

  const Exited text = run({FORKJOURNAL_BIN, "health", "--socket", socket()});
  EXPECT_EQ(text.exit_code, 0) << text;
  EXPECT_EQ(text.out.rfind("healthy: head seq 1", 0), 0u) << text;
  // An age in seconds as a reader writes it: 0.004 below one, 8.2 above,
  // never the protocol's 4.1E-3.
  EXPECT_TRUE(std::regex_search(text.out, std::regex(R"(, last commit (0\.\d{3}|\d+\.\d) s ago,)")))
      << text;
  const Exited js = run({FORKJOURNAL_BIN, "health", "--socket", socket(), "--json"});
  EXPECT_EQ(js.exit_code, 0) << js;
  const json::object parsed = json::parse(js.out).as_object();
  EXPECT_EQ(parsed.at("status"), "healthy");
  EXPECT_FALSE(parsed.contains("ok"));
}

// Another process's long read transaction keeps the file from reusing pages:
// health names the process, how far behind it reads and for how long.
TEST_F(DaemonTest, HealthReportsTheOldestReaderAndDegradesPastReaderAfter) {
  start({"--reader-after", "1s"});
  Client c(socket());
  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  auto j = fj::Journal::open(journal(), fj::JournalOptions{.read_only = true});
  ASSERT_TRUE(j) << j.error().message;
  std::promise<void> inside, release;
  auto released = release.get_future().share();
  std::thread reader([&] {
    (void)j->read([&](fj::Reader&) -> fj::Result<void> {
      inside.set_value();
      released.wait();
      return {};
    });
  });
  inside.get_future().wait();
  ASSERT_TRUE(is_ok(call(c, register_request("t2", "s2"))));
  ASSERT_TRUE(is_ok(call(c, register_request("t3", "s3"))));

  json::object h;
  const auto deadline = Clock::now() + 15s;
  do {
    std::this_thread::sleep_for(200ms);
    h = call(c, {{"op", "health"}});
  } while (h.at("status") == "healthy" && Clock::now() < deadline);
  const Exited text = run({FORKJOURNAL_BIN, "health", "--socket", socket()});
  release.set_value();
  reader.join();

  EXPECT_EQ(h.at("status"), "degraded") << show(h);
  const json::object& oldest = h.at("oldest_reader").as_object();
  EXPECT_EQ(oldest.at("pid").to_number<int>(), ::getpid()) << show(h);
  EXPECT_GE(oldest.at("txn_lag").to_number<std::uint64_t>(), 2u) << show(h);
  EXPECT_GT(oldest.at("age_seconds").to_number<double>(), 1.0) << show(h);
  EXPECT_NE(json::serialize(h.at("reasons")).find("has held a read transaction"), std::string::npos)
      << show(h);
  EXPECT_EQ(text.exit_code, 1) << text;
  EXPECT_TRUE(
      std::regex_search(text.out, std::regex("oldest reader pid " + std::to_string(::getpid()) +
                                             R"( \d+ commits behind for \d+\.\d s\n)")))
      << text;

  // Released: no reader is left, and health recovers.
  const auto recovered = Clock::now() + 15s;
  do {
    std::this_thread::sleep_for(100ms);
    h = call(c, {{"op", "health"}});
  } while (h.at("status") != "healthy" && Clock::now() < recovered);
  EXPECT_EQ(h.at("status"), "healthy") << show(h);
  EXPECT_TRUE(h.at("oldest_reader").is_null()) << show(h);
}

// The sample data root has entries only a person can settle: the boot
// reconcile says so, and health is degraded until a reconcile does not.
TEST_F(DaemonDataRootTest, HealthIsDegradedWhileTheLastReconcileNeedsAPerson) {
  start({"--data-root", root_});
  Client c(socket());
  const json::object h = call(c, {{"op", "health"}});
  ASSERT_TRUE(is_ok(h));
  EXPECT_EQ(h.at("status"), "degraded") << show(h);
  ASSERT_EQ(h.at("reasons").as_array().size(), 1u) << show(h);
  EXPECT_NE(std::string(h.at("reasons").as_array()[0].as_string()).find("needs a person"),
            std::string::npos);
  const json::object& r = h.at("last_reconcile").as_object();
  EXPECT_EQ(r.at("needs_attention"), true);
  EXPECT_EQ(r.at("based_on_seq"), 0) << "the boot reconcile ran on the empty journal";
  std::uint64_t findings = 0;
  for (const char* kind : {"unreadable", "leftovers", "half_made", "dangling", "kept", "kept_forks",
                           "link_mismatches", "stuck_flags", "held"}) {
    findings += r.at(kind).to_number<std::uint64_t>();
  }
  EXPECT_GT(findings, 0u) << show(r);

  const Exited text = run({FORKJOURNAL_BIN, "health", "--socket", socket()});
  EXPECT_EQ(text.exit_code, 1) << text;
  EXPECT_EQ(text.out.rfind("degraded:", 0), 0u) << text;
  EXPECT_NE(text.out.find("needs a person"), std::string::npos) << text;
}

// The reconcile log line carries every count that makes a run need a
// person: here a link mismatch alone, which the line used to leave out.
TEST_F(DaemonTest, ReconcileLogLineCountsALinkMismatch) {
  DataRoot disk;
  for (const char* s : {"S1", "S2"}) {
    disk.instance(s, "", true, std::string("T") + s[1]);
    disk.memory(s);
  }
  disk.instance("F", "T1");
  disk.memory_symlink("F", "S2");  // F names T1 but links T2's memory
  Daemon& d = start({"--data-root", disk.path()});
  {
    Client c(socket());
    ASSERT_TRUE(is_ok(call(c, register_request("T1", "S1"))));
    ASSERT_TRUE(is_ok(call(c, register_request("T2", "S2"))));
    ASSERT_TRUE(is_ok(call(c, fork_request("fork", "T1", "F"))));
    ASSERT_TRUE(is_ok(call(c, {{"op", "reconcile"}})));
  }
  ASSERT_EQ(d.terminate(), 0) << d.log();
  const std::string log = d.log();
  EXPECT_TRUE(contains(log,
                       "requested reconcile against seq 3: 3 scanned, 0 corrections, 0 swept, "
                       "0 unreadable, 0 leftover, 0 half-made, 0 skipped, 0 dangling, 0 kept, "
                       "0 kept fork, 1 link mismatch, 0 stuck flag, 0 held, nothing appended"))
      << log;
}

TEST_F(DaemonTest, HealthOfAnUnreachableDaemonExitsTwo) {
  const Exited r = run({FORKJOURNAL_BIN, "health", "--socket", tmp_.sub("nobody.sock")});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(r.out.empty()) << r;
  EXPECT_NE(r.err.find("unreachable"), std::string::npos) << r;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r;
}

// --- watchdog --------------------------------------------------------------------------

// Under WatchdogSec= (NOTIFY_SOCKET and WATCHDOG_USEC), the idle writer pings
// WATCHDOG=1 at half the interval.
TEST_F(DaemonTest, WatchdogPingsFromTheWriterAtHalfTheInterval) {
  const std::string notify = tmp_.sub("notify.sock");
  const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(notify.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, notify.c_str(), notify.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  // The daemon inherits the environment; each test runs in a process of its own.
  ::setenv("NOTIFY_SOCKET", notify.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // pings every 200 ms
  start();
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");

  // Count the pings over 3 s once READY=1 has come.
  bool ready = false;
  int pings = 0;
  Clock::time_point from{};
  const auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline && (!ready || Clock::now() - from < 3s)) {
    pollfd p{s, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::recv(s, buf, sizeof buf - 1, 0);
    if (n <= 0) continue;
    const std::string msg(buf, static_cast<std::size_t>(n));
    if (msg.find("READY=1") != std::string::npos && !ready) {
      ready = true;
      from = Clock::now();
    }
    if (ready && msg.find("WATCHDOG=1") != std::string::npos) ++pings;
  }
  ::close(s);
  ASSERT_TRUE(ready) << "no READY=1";
  // 15 expected; the writer wakes every 200 ms, so allow for scheduling.
  EXPECT_GE(pings, 10);
  EXPECT_LE(pings, 20);
}

}  // namespace
