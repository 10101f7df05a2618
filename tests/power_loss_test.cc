// The power-loss explorer end to end: the write recorder under a real
// journal create, and short seeded explorer runs in each sync mode, checked
// through --json.
#include "crashtest/power_loss/crash_model.h"
#include "support/process.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <vector>

namespace fj::power_loss {
namespace {

using fj::testing::run;
using fj::testing::RunOptions;
using fj::testing::TempDir;
using record::OpKind;
using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `forkjournal init` under the recorder: the trace it leaves.
Trace record_init(const TempDir& tmp) {
  const std::string journal = tmp.sub("journal"), trace = tmp.sub("trace");
  std::filesystem::create_directories(journal);
  // A sanitizer build insists on its runtime coming first in the library
  // list; the recorder only wraps libc, which the sanitizer sees either way.
  const auto r = run({"/usr/bin/env", std::string("LD_PRELOAD=") + RECORDER_LIB,
                      "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=1",
                      "FJ_RECORD_DIR=" + journal, "FJ_RECORD_TRACE=" + trace, FORKJOURNAL_BIN,
                      "--journal", journal, "init"});
  EXPECT_EQ(r.exit_code, 0) << r;
  auto t = read_trace(trace);
  EXPECT_TRUE(t) << (t ? "" : t.error());
  return t ? std::move(*t) : Trace{};
}

TEST(PowerLossRecorderTest, SeesEveryWriteOfAJournalCreate) {
  TempDir tmp;
  auto model = CrashModel::build(record_init(tmp));
  ASSERT_TRUE(model) << model.error();
  // The trace rebuilds data.mdb byte for byte: no write went unseen.
  const Files rebuilt = model->final_files();
  ASSERT_TRUE(rebuilt.contains("data.mdb"));
  EXPECT_EQ(rebuilt.at("data.mdb"), slurp(tmp.sub("journal/data.mdb")));
  EXPECT_FALSE(rebuilt.contains("lock.mdb"));
}

// A power loss right after `init` returned must leave the journal: LMDB syncs
// data.mdb's contents but never its name, so create syncs the directory.
TEST(PowerLossRecorderTest, JournalCreateSyncsTheDirectoryAfterItsFirstCommit) {
  TempDir tmp;
  const Trace trace = record_init(tmp);
  std::optional<std::size_t> created, meta, dir_synced;
  for (std::size_t j = 0; j < trace.size(); ++j) {
    const Op& op = trace[j];
    if (op.kind == OpKind::open && op.data == "data.mdb" && op.offset == record::kOpenCreated) {
      created = j;
    }
    if (op.kind == OpKind::write && (op.flags & record::kDsync) != 0) meta = j;
    if (op.kind == OpKind::dir_sync) dir_synced = j;
  }
  ASSERT_TRUE(created && meta && dir_synced);
  EXPECT_LT(*created, *meta);
  EXPECT_LT(*meta, *dir_synced) << "the directory is synced after the first commit's meta page";

  auto model = CrashModel::build(trace);
  ASSERT_TRUE(model) << model.error();
  std::size_t at_end = 0;
  model->for_each_state([&](const CrashState& s) {
    if (s.point == trace.size()) {
      ++at_end;
      EXPECT_TRUE(s.files.contains("data.mdb")) << s.description;
    }
    return true;
  });
  EXPECT_GT(at_end, 0u);
}

boost::json::object explore(const std::string& sync, int requests, int states) {
  RunOptions o;
  o.timeout = 500s;
  const auto r =
      run({CRASHTEST_BIN, "--power-loss", "--sync", sync, "--seed", "20261129", "--requests",
           std::to_string(requests), "--states", std::to_string(states), "--json"},
          o);
  EXPECT_EQ(r.exit_code, 0) << r;
  boost::system::error_code ec;
  auto parsed = boost::json::parse(r.out, ec);
  EXPECT_FALSE(ec) << r;
  if (ec || !parsed.is_object()) return {};
  return parsed.as_object();
}

std::int64_t number(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  EXPECT_TRUE(v != nullptr && v->is_int64()) << key << " in " << boost::json::serialize(o);
  return v != nullptr && v->is_int64() ? v->as_int64() : -1;
}

// The promise of the default mode: no crash state loses an acknowledged
// event or shows a wrong count. Every state the model can build for this
// workload (--states 0), a few thousand.
TEST(PowerLossExplorerTest, FullSyncLosesNothingAcknowledged) {
  const auto r = explore("full", 200, 0);
  EXPECT_EQ(r.at("sync"), "full");
  EXPECT_GE(number(r, "states"), 2000);
  EXPECT_EQ(number(r, "states") + number(r, "duplicates"), number(r, "candidates"));
  EXPECT_GT(number(r, "acknowledged"), 60);
  EXPECT_EQ(number(r, "acked_lost"), 0) << boost::json::serialize(r);
  EXPECT_EQ(number(r, "wrong_counts"), 0) << boost::json::serialize(r);
  EXPECT_EQ(number(r, "crashed"), 0);
  EXPECT_EQ(number(r, "refused_holding_acked"), 0);
  EXPECT_GT(number(r, "opened"), number(r, "states") * 9 / 10);
  EXPECT_EQ(r.at("promise_kept"), true);
}

// Without fsync a power loss certainly loses acknowledged events: an
// explorer that found nothing here would not be biting.
TEST(PowerLossExplorerTest, NoSyncLosesAcknowledgedEventsAndTheExplorerSaysSo) {
  const auto r = explore("none", 120, 400);
  EXPECT_GT(number(r, "acked_lost"), 0) << boost::json::serialize(r);
  EXPECT_GT(number(r, "states_losing_acked"), 0);
  EXPECT_GT(number(r, "refused"), 0) << "some states lose the journal's name or its meta pages";
}

// Without the meta-page sync the last commits may go, the counts never lie.
TEST(PowerLossExplorerTest, NometaLosesOnlyTheLastCommits) {
  const auto r = explore("nometa", 120, 400);
  EXPECT_GT(number(r, "acked_lost"), 0) << boost::json::serialize(r);
  EXPECT_EQ(number(r, "wrong_counts"), 0) << boost::json::serialize(r);
  EXPECT_EQ(number(r, "refused_holding_acked"), 0) << boost::json::serialize(r);
  EXPECT_EQ(r.at("promise_kept"), true);
}

// The children of `parent` (from /proc).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // "pid (comm) state ppid ...": comm may hold spaces, not ')'.
    const std::string stat = slurp(entry.path().string() + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == parent) out.push_back(std::stoi(name));
  }
  return out;
}

// Runs the explorer (sync none) keeping its states in `keep`, kills its
// checking process once it is among the states, and returns its stdout. To
// the explorer the kill is what a crash of the check is: LMDB aborting on a
// damaged page.
std::string explore_killing_the_checker(const TempDir& tmp, const std::string& keep, bool json) {
  std::vector<std::string> args{CRASHTEST_BIN, "--power-loss", "--sync",     "none",
                                "--seed",      "20261129",     "--requests", "120",
                                "--states",    "1000",         "--keep",     keep};
  if (json) args.push_back("--json");
  const pid_t pid = fj::testing::spawn_logged(args, tmp.sub("out"), tmp.sub("err"));
  if (pid <= 0) return "";
  // failed-0 is kept once the explorer is among the states (sync none loses
  // acknowledged events early on); its only child is then the checker.
  bool killed = false;
  for (const auto deadline = std::chrono::steady_clock::now() + 300s;
       !killed && std::chrono::steady_clock::now() < deadline;) {
    if (std::filesystem::exists(keep + "/failed-0")) {
      for (const pid_t child : children_of(pid)) killed |= ::kill(child, SIGKILL) == 0;
    }
    if (!killed && fj::testing::wait_exit(pid, 1ms)) {
      ADD_FAILURE() << "the explorer ended before its checker could be killed: "
                    << slurp(tmp.sub("err"));
      return "";
    }
  }
  EXPECT_TRUE(killed);
  const auto status = fj::testing::wait_exit(pid, 500s);
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << (status ? fj::testing::describe_status(*status) : "running") << ": "
      << slurp(tmp.sub("err"));
  return slurp(tmp.sub("out"));
}

// A state whose check dies is named in the report by its number and the
// stage it died in, and --keep keeps its files as they were built in
// crashed-N.
TEST(PowerLossExplorerTest, AStateThatCrashesTheCheckIsNamedAndKept) {
  const TempDir tmp;
  const std::string keep = tmp.sub("keep");
  const std::string out = explore_killing_the_checker(tmp, keep, true);
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(out, ec);
  ASSERT_FALSE(ec) << out;
  const auto& r = parsed.as_object();
  // Other states may crash the check by themselves (sync none leaves LMDB
  // pages it does not expect): each is named and kept the same way.
  const auto* crashes = r.if_contains("crashes");
  ASSERT_TRUE(crashes != nullptr && crashes->is_array()) << boost::json::serialize(r);
  EXPECT_GE(number(r, "crashed"), 1) << boost::json::serialize(r);
  EXPECT_EQ(static_cast<std::int64_t>(crashes->as_array().size()),
            std::min<std::int64_t>(number(r, "crashed"), 20))
      << boost::json::serialize(r);
  int killed_states = 0;
  for (const auto& c : crashes->as_array()) {
    const auto& crash = c.as_object();
    SCOPED_TRACE(boost::json::serialize(crash));
    const std::int64_t state = number(crash, "state");
    EXPECT_GE(state, 1);
    EXPECT_LE(state, number(r, "states"));
    EXPECT_TRUE(crash.at("description").as_string().starts_with("crash after operation "));
    EXPECT_TRUE(crash.at("died").as_string().starts_with("the check died of signal "));
    killed_states += crash.at("died").as_string().starts_with("the check died of signal 9");
    const std::string kept = keep + "/crashed-" + std::to_string(state);
    EXPECT_EQ(crash.at("kept"), boost::json::value(kept.c_str()));
    EXPECT_TRUE(std::filesystem::is_directory(kept));
    // Its files as the model built them: no lock.mdb, which a check adds.
    EXPECT_FALSE(std::filesystem::exists(kept + "/lock.mdb"));
  }
  EXPECT_EQ(killed_states, 1);
  EXPECT_EQ(r.at("promise_kept"), true);
}

// The text report says the same, one line per state that crashed, and how
// to repeat a kept one.
TEST(PowerLossExplorerTest, TheTextReportNamesTheStateThatCrashedAndWhereItIsKept) {
  const TempDir tmp;
  const std::string keep = tmp.sub("keep");
  const std::string out = explore_killing_the_checker(tmp, keep, false);
  const std::regex line(
      "\n  crashed: state ([0-9]+), crash after operation [0-9]+ of [0-9]+: [^\n]*"
      " acknowledged: the check died of signal 9[^\n]*; kept in " +
      keep + "/crashed-([0-9]+)\n");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, line)) << out;
  EXPECT_EQ(m[1].str(), m[2].str());
  EXPECT_TRUE(std::filesystem::is_directory(keep + "/crashed-" + m[1].str()));
  EXPECT_NE(out.find("a kept state is a journal directory"), std::string::npos) << out;
  EXPECT_NE(out.find("the mode kept its promise"), std::string::npos) << out;
}

// The refusal also takes its scratch directory with it: TMPDIR is left as
// it was found.
TEST(PowerLossExplorerTest, AMissingRecorderIsAOneLineError) {
  const TempDir tmp;
  const auto r = run({"/usr/bin/env", "TMPDIR=" + tmp.path(), CRASHTEST_BIN, "--power-loss",
                      "--recorder", "/nonexistent/libfjrecord.so", "--seed", "1"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("recorder /nonexistent/libfjrecord.so is missing"), std::string::npos) << r;
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()))
      << "left in TMPDIR: " << std::filesystem::directory_iterator(tmp.path())->path();
}

}  // namespace
}  // namespace fj::power_loss
