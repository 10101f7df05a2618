// What forkjournald acknowledges is durable: under concurrent clients (group
// commit), across a restart (request ids answered once), after a kill -9
// mid-load (the post-crash invariants of crashtest/invariants.h), and when
// clients hang up mid-request.
#include "crashtest/invariants.h"
#include "journal/journal.h"
#include "support/daemon_fixture.h"
#include "support/journal_reader.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace json = boost::json;
using namespace fj::testing;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// --- group commit --------------------------------------------------------------------

TEST_F(DaemonTest, ConcurrentClientsShareCommitsAndEveryAckIsDurable) {
  start();  // full sync, the default
  {
    Client c(socket());
    ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  }
  constexpr int kClients = 48;
  constexpr int kPerClient = 16;
  std::mutex mu;
  std::vector<AckedFork> acks;
  std::vector<std::string> failures;
  std::latch go(kClients + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Client c(socket());
      go.arrive_and_wait();
      for (int i = 0; i < kPerClient && c.connected(); ++i) {
        const std::string fork = "f" + std::to_string(t) + "-" + std::to_string(i);
        const auto r = c.roundtrip(fork_request("fork", "t1", fork, json::string(fork)));
        std::lock_guard lock(mu);
        if (!r) {
          failures.push_back(fork + ": " + c.error());
          return;
        }
        const auto seq = acked_seq(*r);
        const auto* id = r->if_contains("id");
        if (!seq || id == nullptr || *id != json::value(fork)) {
          failures.push_back(show(*r));
          continue;
        }
        acks.push_back({fork, *seq});
      }
      if (!c.connected()) failures.push_back(c.error());
    });
  }
  go.arrive_and_wait();
  for (auto& th : threads) th.join();
  ASSERT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  constexpr std::uint64_t kAppends = 1 + kClients * kPerClient;
  ASSERT_EQ(acks.size(), kAppends - 1);
  std::set<std::uint64_t> seqs;
  for (const AckedFork& a : acks) seqs.insert(a.seq);
  EXPECT_EQ(seqs.size(), acks.size()) << "two acknowledgements share a seq";
  EXPECT_EQ(*seqs.begin(), 2u);
  EXPECT_EQ(*seqs.rbegin(), kAppends);

  Client c(socket());
  const json::object s = stats(c);
  EXPECT_EQ(u64(s, "appended"), kAppends);
  EXPECT_EQ(u64(s, "head_seq"), kAppends);
  EXPECT_LT(u64(s, "commits"), kAppends) << "no group commit: " << show(s);
  std::cout << "[          ] " << kAppends << " appends in " << u64(s, "commits") << " commits\n";
  EXPECT_GT(s.at("average_batch").to_number<double>(), 1.0) << show(s);
  EXPECT_TRUE(acked_forks_present(journal(), "t1", acks));
  const Replayed r = replay_journal(journal());
  EXPECT_EQ(r.head, kAppends);
  ASSERT_TRUE(r.state);
  EXPECT_EQ(r.state->find("t1")->forks, kAppends - 1);
}

// --- request ids ---------------------------------------------------------------------

// Daemons started with a window of one request id.
class RequestWindowDaemonTest : public DaemonTest {
 protected:
  // Fork f<n> of t1 with request id r<n>.
  static json::object fork_with_id(int n) {
    json::object request = fork_request("fork", "t1", "f" + std::to_string(n), "vm");
    request["request_id"] = "r" + std::to_string(n);
    return request;
  }

  // Registers t1, forks f1 (r1; its retry at once is replayed) and f2 (r2),
  // then retries r1: a retry that r2 pushed out of the window is executed
  // anew, so the fork already live is refused and nothing is appended.
  static void expect_a_pushed_out_retry_runs_anew(Client& c) {
    ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
    ASSERT_TRUE(is_ok(call(c, fork_with_id(1))));
    const json::object retry_within = call(c, fork_with_id(1));
    ASSERT_TRUE(is_ok(retry_within));
    EXPECT_EQ(retry_within.at("replayed"), true);
    ASSERT_TRUE(is_ok(call(c, fork_with_id(2))));
    const json::object late = call(c, fork_with_id(1));
    EXPECT_TRUE(is_error(late, "already_live")) << boost::json::serialize(late);
    EXPECT_EQ(head(c), 3u);
  }
};

// With no minimum age each new id pushes the one before out
// (docs/protocol.md).
TEST_F(RequestWindowDaemonTest, ARetryPastTheRequestWindowIsExecutedAnew) {
  Daemon& d = start({"--request-window", "1", "--request-min-age", "0"});
  Client c(socket());
  expect_a_pushed_out_retry_runs_anew(c);
  c.close();
  EXPECT_EQ(d.terminate(SIGTERM), 0) << d.log();
}

// An age limit shorter than the default minimum turns the minimum off
// instead of refusing to start: the count and the age decide, as before.
TEST_F(RequestWindowDaemonTest, AShortAgeLimitTurnsTheDefaultMinimumAgeOff) {
  Daemon& d = start({"--request-window", "1", "--request-max-age", "30s"});
  Client c(socket());
  expect_a_pushed_out_retry_runs_anew(c);
  c.close();
  EXPECT_EQ(d.terminate(SIGTERM), 0) << d.log();
}

// By default an id younger than --request-min-age outlives the count, so a
// client's retry within its retry span is answered "replayed" even after
// more ids than --request-window.
TEST_F(RequestWindowDaemonTest, ARetryWithinTheMinimumAgeIsReplayedPastTheCount) {
  Daemon& d = start({"--request-window", "1"});
  Client c(socket());
  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  for (int n = 1; n <= 4; ++n) ASSERT_TRUE(is_ok(call(c, fork_with_id(n)))) << n;
  const json::object retry = call(c, fork_with_id(1));
  ASSERT_TRUE(is_ok(retry)) << boost::json::serialize(retry);
  EXPECT_EQ(retry.at("replayed"), true);
  EXPECT_EQ(u64(retry, "seq"), 2u);
  EXPECT_EQ(head(c), 5u);
  c.close();
  EXPECT_EQ(d.terminate(SIGTERM), 0) << d.log();
}

TEST_F(DaemonTest, ARequestIdIsAnsweredOnceAlsoAfterARestart) {
  json::object forked = fork_request("fork", "t1", "f1", "first");
  forked["request_id"] = "vm-42/create#1";
  std::uint64_t seq = 0;
  {
    Daemon& d = start();
    Client c(socket());
    ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
    const json::object first = call(c, forked);
    ASSERT_TRUE(is_ok(first));
    seq = u64(first, "seq");
    EXPECT_EQ(seq, 2u);
    EXPECT_FALSE(first.contains("replayed"));
    const json::object retry = call(c, forked);
    ASSERT_TRUE(is_ok(retry));
    EXPECT_EQ(u64(retry, "seq"), seq);
    EXPECT_EQ(retry.at("replayed"), true);
    // Without the id the same command is refused: the retry was not decided again.
    EXPECT_TRUE(is_error(call(c, fork_request("fork", "t1", "f1")), "already_live"));
    // The id reused for another command is refused, not answered wrongly.
    json::object other = fork_request("fork", "t1", "f2");
    other["request_id"] = "vm-42/create#1";
    EXPECT_TRUE(is_error(call(c, other), "bad_request"));
    EXPECT_EQ(head(c), 2u);
    c.close();
    EXPECT_EQ(d.terminate(SIGTERM), 0) << d.log();
  }
  Daemon& d = start();
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  forked["id"] = "after restart";
  const json::object again = call(c, forked);
  ASSERT_TRUE(is_ok(again));
  EXPECT_EQ(u64(again, "seq"), seq);
  EXPECT_EQ(again.at("replayed"), true);
  EXPECT_EQ(head(c), 2u) << "the retried request appended";
  EXPECT_EQ(call(c, {{"op", "template"}, {"template", "t1"}}).at("live_forks"),
            json::parse(R"(["f1"])"));
  c.close();
  EXPECT_EQ(d.terminate(SIGTERM), 0) << d.log();
  EXPECT_EQ(replay_journal(journal()).head, 2u);
}

// --- crashes -------------------------------------------------------------------------

TEST_F(DaemonTest, Kill9DuringLoadLosesNoAcknowledgedFork) {
  Daemon& d = start({"--snapshot-every", "64"});
  {
    Client c(socket());
    ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  }
  constexpr int kClients = 16;
  constexpr std::size_t kBeforeKill = 400;
  std::mutex mu;
  std::condition_variable enough;
  std::vector<AckedFork> acks;
  std::vector<std::string> wrong;  // answers that were not acknowledgements
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Client c(socket());
      for (int i = 0; !stop && c.connected(); ++i) {
        const std::string fork = "f" + std::to_string(t) + "-" + std::to_string(i);
        const auto r = c.roundtrip(fork_request("fork", "t1", fork));
        if (!r) return;  // the daemon died: this fork's fate is unknown
        std::lock_guard lock(mu);
        const auto seq = acked_seq(*r);
        if (!seq) {
          wrong.push_back(show(*r));
          return;
        }
        acks.push_back({fork, *seq});
        if (acks.size() >= kBeforeKill) enough.notify_all();
      }
    });
  }
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(enough.wait_for(lock, 15s, [&] { return acks.size() >= kBeforeKill; }))
        << "only " << acks.size() << " acknowledgements";
  }
  d.kill9();
  stop = true;
  for (auto& th : threads) th.join();
  ASSERT_TRUE(wrong.empty()) << wrong.front();
  ASSERT_GE(acks.size(), kBeforeKill);

  // The dead daemon left its socket behind.
  struct stat st {};
  ASSERT_EQ(::lstat(socket().c_str(), &st), 0) << "expected a stale socket";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  // Before any restart, the post-crash invariants: every acknowledged fork
  // is in the journal, the audit is clean, and the newest periodic snapshot
  // plus the tail equals a full replay.
  EXPECT_TRUE(acked_forks_present(journal(), "t1", acks));
  std::uint64_t crashed_head = 0;
  std::uint64_t crashed_forks = 0;
  {
    auto j = fj::Journal::open(journal(), fj::JournalOptions{.read_only = true});
    ASSERT_TRUE(j) << j.error().message;
    crashed_head = j->head().value();
    const auto audited = fj::invariants::clean_audit(*j);
    ASSERT_TRUE(audited) << audited.error().what;
    EXPECT_EQ(audited->head_seq, crashed_head);
    const auto loaded = fj::invariants::load_matches_replay(*j, crashed_head);
    ASSERT_TRUE(loaded) << loaded.error().what;
    EXPECT_GT(loaded->load.snapshot_seq, 0u) << "no periodic snapshot was used";
    crashed_forks = loaded->replayed.find("t1")->forks;
    EXPECT_EQ(crashed_forks, crashed_head - 1);
    EXPECT_GE(crashed_forks, acks.size());
  }

  // A restart removes the stale socket and serves everything acknowledged.
  Daemon& again = start();
  EXPECT_TRUE(contains(again.log(), "removed stale socket")) << again.log();
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  EXPECT_EQ(head(c), crashed_head);
  const json::object t1 = call(c, {{"op", "template"}, {"template", "t1"}});
  ASSERT_TRUE(is_ok(t1));
  EXPECT_EQ(u64(t1, "forks"), crashed_forks);
  std::set<std::string> live;
  for (const auto& f : t1.at("live_forks").as_array()) live.insert(std::string(f.as_string()));
  std::size_t missing = 0;
  for (const AckedFork& a : acks) missing += live.count(a.fork) == 0;
  EXPECT_EQ(missing, 0u) << "acknowledged forks not live after the restart";
  for (const AckedFork& a : {acks.front(), acks.back()}) {
    EXPECT_TRUE(is_error(call(c, fork_request("fork", "t1", a.fork)), "already_live"));
  }
}

TEST_F(DaemonTest, ClientsThatHangUpMidRequestDoNotHurtTheDaemon) {
  Daemon& d = start();
  Client c(socket());
  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  constexpr int kQuitters = 16;
  for (int i = 0; i < kQuitters; ++i) {
    Client quitter(socket());
    ASSERT_TRUE(quitter.connected()) << quitter.error();
    ASSERT_TRUE(
        quitter.send(json::serialize(fork_request("fork", "t1", "q" + std::to_string(i))) + "\n"));
    if (i % 2 == 0) {
      ASSERT_TRUE(quitter.send(R"({"op": "counts", "id": "half a li)"));
    }
  }  // each closes without reading its answer
  // Wait (bounded) until the daemon has dealt with every complete request.
  const auto deadline = Clock::now() + 5s;
  while (u64(stats(c), "requests") < 1 + kQuitters && Clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(::waitpid(d.pid(), nullptr, WNOHANG), 0) << "the daemon died:\n" << d.log();
  expect_pong(c, "clients hung up");
  const std::uint64_t h = head(c);
  EXPECT_LE(h, 1u + kQuitters);
  EXPECT_EQ(u64(call(c, {{"op", "template"}, {"template", "t1"}}), "forks"), h - 1);
  const Replayed r = replay_journal(journal());
  EXPECT_EQ(r.head, h);
  ASSERT_TRUE(r.state);
  EXPECT_EQ(r.state->find("t1")->forks, h - 1);
}

}  // namespace
