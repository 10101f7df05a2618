// `forkjournal backup` of the journal a running forkjournald keeps writing
// (full sync, forks from a client over the socket), then `restore` and a
// second daemon serving the restored copy: the copy audits clean, proves the
// live journal's history up to its head, and holds the same counts as the
// live journal had at that seq.
#include "support/daemon_fixture.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace {

namespace json = boost::json;
using namespace fj::testing;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

json::value parse(const Exited& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.out, ec);
  EXPECT_FALSE(ec) << "not JSON: " << r;
  return v;
}

Exited forkjournal(const std::string& journal, std::vector<std::string> args) {
  args.insert(args.begin(), {FORKJOURNAL_BIN, "--journal", journal});
  return run(args, {.journal_env = std::nullopt, .timeout = 60s});
}

TEST_F(DaemonTest, BackupWhileTheDaemonServesForksThenRestoreAndServeTheCopy) {
  start();
  Client c(socket());
  ASSERT_TRUE(is_ok(call(c, register_request("tpl1", "src1"))));

  // A client forks (and unforks every other fork) until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> acked{0};
  std::atomic<bool> refused{false};
  std::thread writer([&] {
    Client w(socket());
    for (std::uint64_t i = 0; !stop; ++i) {
      const std::string fork = "frk" + std::to_string(i);
      auto r = w.roundtrip(fork_request("fork", "tpl1", fork));
      if (!r || !is_ok(*r)) {
        refused = true;
        return;
      }
      if (i % 2 == 0) {
        r = w.roundtrip(fork_request("unfork", "tpl1", fork));
        if (!r || !is_ok(*r)) {
          refused = true;
          return;
        }
      }
      ++acked;
    }
  });
  const auto deadline = Clock::now() + 30s;
  while (acked < 200 && !refused && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  const std::uint64_t before = acked;
  const std::string dest = tmp_.sub("backup");
  const Exited backup = forkjournal(journal(), {"backup", dest, "--json"});
  const std::uint64_t during = acked - before;
  // One more acknowledged fork, begun after the copy ended, lands past its head.
  for (const std::uint64_t done = acked; acked == done && !refused && Clock::now() < deadline;) {
    std::this_thread::sleep_for(1ms);
  }
  stop = true;
  writer.join();
  ASSERT_FALSE(refused) << "the daemon refused a fork";

  ASSERT_EQ(backup.exit_code, 0) << backup;
  EXPECT_GT(during, 0u) << "no fork was acknowledged while the backup ran";
  const json::object out = parse(backup).as_object();
  EXPECT_EQ(out.at("audit").as_string(), "clean");
  const auto head_seq = out.at("head_seq").to_number<std::uint64_t>();
  EXPECT_GE(head_seq, 301u) << "register + 200 forks + 100 unforks acknowledged before";
  EXPECT_GT(head(c), head_seq) << "the copy is not of one moment while the daemon wrote";

  const std::string expect =
      std::to_string(head_seq) + ":" + std::string(out.at("chain_head").as_string());
  for (const std::string& j : {dest, journal()}) {
    const Exited audit = forkjournal(j, {"audit", "--expect-head", expect});
    EXPECT_EQ(audit.exit_code, 0) << j << ": " << audit;
  }
  const Exited copy_counts = forkjournal(dest, {"counts", "--json"});
  const Exited live_counts =
      forkjournal(journal(), {"counts", "--json", "--as-of", std::to_string(head_seq)});
  ASSERT_EQ(copy_counts.exit_code, 0) << copy_counts;
  ASSERT_EQ(live_counts.exit_code, 0) << live_counts;
  EXPECT_EQ(parse(copy_counts), parse(live_counts));

  // Restored, the copy boots a daemon that serves it from its head on.
  const std::string restored = tmp_.sub("restored");
  const Exited restore = forkjournal(restored, {"restore", dest});
  ASSERT_EQ(restore.exit_code, 0) << restore;
  const std::string socket2 = tmp_.sub("restored.sock");
  ASSERT_TRUE(launch({}, restored, socket2).wait_ready());
  Client c2(socket2);
  EXPECT_EQ(head(c2), head_seq);
  EXPECT_TRUE(is_ok(call(c2, fork_request("fork", "tpl1", "frk-after-restore"))));
  EXPECT_EQ(head(c2), head_seq + 1);
}

}  // namespace
