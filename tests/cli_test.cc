// End-to-end tests of the `forkjournal` command-line tool: every test runs the
// built binary (FORKJOURNAL_BIN) in a child process and checks its stdout,
// stderr and exit code against the contract in DESIGN.md ("Interfaces").
#include "journal/codec.h"
#include "journal/journal.h"
#include "present/render.h"
#include "projector/internal/snapshot.h"
#include "projector/replay.h"
#include "support/data_root.h"
#include "support/event_samples.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace fj::testing;

#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif

// Runs FORKJOURNAL_BIN with `args`, with FORKJOURNAL_DIR set to `env_dir`
// when one is given.
Exited run_binary(std::vector<std::string> args,
                  const std::optional<std::string>& env_dir = std::nullopt) {
  args.insert(args.begin(), FORKJOURNAL_BIN);
  return run(args, {.journal_env = env_dir});
}

json::value parse_json(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v;
}

std::set<std::string> keys_of(const json::object& o) {
  std::set<std::string> keys;
  for (const auto& kv : o) keys.insert(std::string(kv.key()));
  return keys;
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

std::int64_t num(const json::value& v) {
  return v.to_number<std::int64_t>();
}

// "YYYY-MM-DDTHH:MM:SS" in UTC for now + offset: bounds for event times.
std::string utc_seconds(std::chrono::seconds offset) {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) +
                        static_cast<std::time_t>(offset.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

const std::regex& rfc3339_utc() {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$)");
  return re;
}

class CliTest : public ::testing::Test {
 protected:
  // Runs forkjournal --journal <journal()> args...
  Exited fj(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--journal", dir_});
    return run_binary(args);
  }

  // Runs a command that must succeed and returns its stdout.
  std::string ok(const std::vector<std::string>& args) const {
    const Exited r = fj(args);
    EXPECT_EQ(r.exit_code, 0) << "forkjournal " << ::testing::PrintToString(args) << "\n" << r;
    EXPECT_EQ(r.err, "") << ::testing::PrintToString(args);
    return r.out;
  }

  void init() { ok({"init"}); }

  // The journal's head seq according to `counts --json`.
  std::int64_t head() const {
    const json::value v = parse_json(ok({"counts", "--json"}));
    return num(v.at("seq"));
  }

  json::object counts_json(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"counts", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return parse_json(ok(args)).as_object();
  }

  // The template entry of `counts --json` for `id`, or an empty object.
  json::object template_entry(const std::string& id) const {
    const json::object counts = counts_json();
    for (const auto& t : counts.at("templates").as_array()) {
      if (t.at("template").as_string() == id) return t.as_object();
    }
    return {};
  }

  std::vector<json::object> log_json(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{"log", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<json::object> events;
    for (const auto& line : lines_of(ok(args))) events.push_back(parse_json(line).as_object());
    return events;
  }

  // Checks that a command was refused (exit 1) with the given code named on
  // one stderr line, that it printed nothing on stdout, and appended nothing.
  void expect_refused(const std::vector<std::string>& args, const std::string& code,
                      const std::string& also_in_message = "") {
    SCOPED_TRACE("forkjournal " + ::testing::PrintToString(args));
    const std::int64_t before = head();
    const Exited r = fj(args);
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_EQ(r.out, "") << r;
    ASSERT_EQ(lines_of(r.err).size(), 1u) << r;
    EXPECT_TRUE(r.err.starts_with("forkjournal: refused (" + code + "): ")) << r;
    if (!also_in_message.empty()) {
      EXPECT_TRUE(contains(r.err, also_in_message)) << r;
    }
    EXPECT_EQ(head(), before) << "a refused command appended events";
  }

  // Checks that a command failed as a usage/environment error (exit 2) with
  // one stderr line and printed nothing on stdout. Process start-up dominates
  // the run time, so the callers check once, after all their failing
  // commands, that the head did not move.
  void expect_usage_error(const std::vector<std::string>& args,
                          const std::string& also_in_message = "") {
    SCOPED_TRACE("forkjournal " + ::testing::PrintToString(args));
    const Exited r = fj(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
    EXPECT_TRUE(r.err.starts_with("forkjournal: ")) << r;
    if (!also_in_message.empty()) {
      EXPECT_TRUE(contains(r.err, also_in_message)) << r;
    }
  }

  // t1 (name "Web base", source s1): f1, f2 added, f1 removed -> 1 live (f2).
  // t2 (source s2): f3 added and removed, then retired.
  // seqs: 1 reg t1, 2 reg t2, 3 fork t1 f1, 4 fork t1 f2, 5 fork t2 f3,
  //       6 unfork t1 f1, 7 unfork t2 f3, 8 retire t2.
  static void populate_at(const std::string& dir) {
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"init"},
             {"register", "t1", "--source", "s1", "--name", "Web base"},
             {"register", "t2", "--source", "s2"},
             {"fork", "t1", "f1"},
             {"fork", "t1", "f2"},
             {"fork", "t2", "f3"},
             {"unfork", "t1", "f1"},
             {"unfork", "t2", "f3"},
             {"retire", "t2"}}) {
      std::vector<std::string> full{"--journal", dir};
      full.insert(full.end(), args.begin(), args.end());
      const Exited r = run_binary(full);
      ASSERT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\n" << r;
    }
  }
  void populate() { populate_at(dir_); }

  const std::string& journal() const { return dir_; }

  // Runs forkjournal --journal <journal()> args... with stdout on /dev/full,
  // where every write fails (ENOSPC).
  Exited fj_to_full_device(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"/bin/sh",       "-c",        "exec \"$0\" \"$@\" >/dev/full",
                                  FORKJOURNAL_BIN, "--journal", dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  TempDir tmp_;
  std::string dir_ = tmp_.sub("journal");
};

// Tests that only read share one journal holding populate()'s eight events,
// built once: starting the binary is what costs time here.
class PopulatedCliTest : public CliTest {
 protected:
  static void SetUpTestSuite() {
    shared_ = new TempDir;
    populated_after_ = utc_seconds(std::chrono::seconds(-2));
    populate_at(shared_->sub("journal"));
    populated_before_ = utc_seconds(std::chrono::seconds(2));
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(shared_, nullptr);
    dir_ = shared_->sub("journal");
  }

  static inline TempDir* shared_ = nullptr;
  static inline std::string populated_after_;  // bounds for the event times
  static inline std::string populated_before_;
};

// --- help and version ---------------------------------------------------------

TEST(CliHelp, TopLevelHelpExitsZeroAndListsEveryCommand) {
  const Exited r = run_binary({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(contains(r.out, "Usage: forkjournal")) << r;
  EXPECT_TRUE(contains(r.out, "--journal")) << r;
  EXPECT_TRUE(contains(r.out, "FORKJOURNAL_DIR")) << r;
  const std::vector<std::string> commands = {"init",   "register",  "fork",   "unfork",  "retire",
                                             "counts", "log",       "export", "explain", "replay",
                                             "stats",  "reconcile", "import", "audit",   "snapshot",
                                             "backup", "restore",   "health", "fleet"};
  for (const std::string& command : commands) {
    EXPECT_TRUE(std::regex_search(r.out, std::regex("\\n\\s+" + command + "\\s")))
        << "help does not list " << command << "\n"
        << r;
  }
  // And no command this test does not know: every line of the list is one.
  ASSERT_NE(r.out.find("Subcommands:"), std::string::npos) << r;
  const std::string list = r.out.substr(r.out.find("Subcommands:"));
  const std::regex line("\\n  ([a-z-]+) ");
  std::size_t listed = 0;
  for (auto it = std::sregex_iterator(list.begin(), list.end(), line); it != std::sregex_iterator();
       ++it, ++listed) {
    EXPECT_NE(std::find(commands.begin(), commands.end(), (*it)[1].str()), commands.end())
        << "help lists " << (*it)[1].str() << ", which this test does not check";
  }
  EXPECT_EQ(listed, commands.size()) << r;
}

TEST(CliHelp, FleetHelpListsItsCommands) {
  const Exited r = run_binary({"fleet", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  for (const std::string command : {"init", "counts", "verify"}) {
    EXPECT_TRUE(std::regex_search(r.out, std::regex("\\n\\s+" + command + "\\s")))
        << "fleet help does not list " << command << "\n"
        << r;
  }
  const Exited verify = run_binary({"fleet", "verify", "--help"});
  EXPECT_EQ(verify.exit_code, 0) << verify;
  EXPECT_TRUE(contains(verify.out, "--nats")) << verify;
  const Exited audit = run_binary({"audit", "--help"});
  EXPECT_TRUE(contains(audit.out, "--witness")) << audit;
}

TEST(CliHelp, SubcommandHelpExitsZeroAndDescribesItsOptions) {
  const Exited reg = run_binary({"register", "--help"});
  EXPECT_EQ(reg.exit_code, 0) << reg;
  EXPECT_TRUE(contains(reg.out, "--source")) << reg;
  EXPECT_TRUE(contains(reg.out, "--name")) << reg;
  EXPECT_FALSE(contains(reg.out, "--as-of")) << reg;

  const Exited counts = run_binary({"counts", "--help"});
  EXPECT_EQ(counts.exit_code, 0) << counts;
  EXPECT_TRUE(contains(counts.out, "--as-of")) << counts;
  EXPECT_TRUE(contains(counts.out, "--json")) << counts;
}

// A command's help names the global options it needs, which CLI11 lists
// only in the top-level help.
TEST(CliHelp, EveryJournalCommandsHelpNamesTheGlobalOptions) {
  for (const std::string command :
       {"init", "register", "fork", "unfork", "retire", "counts", "log", "export", "explain",
        "replay", "snapshot", "stats", "reconcile", "import", "audit", "backup", "restore"}) {
    const Exited r = run_binary({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_TRUE(contains(r.out, "\n  --journal DIR ")) << command << "\n" << r;
    EXPECT_TRUE(contains(r.out, "FORKJOURNAL_DIR")) << command << "\n" << r;
    EXPECT_TRUE(contains(r.out, "--sync")) << command << "\n" << r;
  }
  const Exited health = run_binary({"health", "--help"});
  EXPECT_EQ(health.exit_code, 0) << health;
  EXPECT_FALSE(contains(health.out, "FORKJOURNAL_DIR")) << health;
}

// export prints NDJSON in any case: it has no --json to suggest otherwise.
TEST(CliHelp, ExportHasNoJsonFlag) {
  const Exited help = run_binary({"export", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help;
  EXPECT_FALSE(contains(help.out, "--json")) << help;
  TempDir tmp;
  const std::string dir = tmp.sub("journal");
  ASSERT_EQ(run_binary({"--journal", dir, "init"}).exit_code, 0);
  const Exited r = run_binary({"--journal", dir, "export", "--json"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.out, "") << r;
  EXPECT_TRUE(contains(r.err, "--json")) << r;
}

// init, unlike backup and restore, creates missing parents: its help says so.
TEST(CliHelp, InitHelpSaysItCreatesMissingParents) {
  const Exited help = run_binary({"init", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help;
  EXPECT_TRUE(contains(help.out, "missing parent directories are created too")) << help;
  TempDir tmp;
  const std::string dir = tmp.sub("a/b/journal");
  EXPECT_EQ(run_binary({"--journal", dir, "init"}).exit_code, 0);
  EXPECT_TRUE(fs::is_regular_file(dir + "/data.mdb"));
}

TEST(CliHelp, VersionExitsZeroAndNamesTheFormatVersion) {
  const Exited r = run_binary({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex(R"(^forkjournal \S+ \(journal format version 1\)\n$)")))
      << r;
}

// --- choosing the journal -------------------------------------------------------

TEST(CliJournalDir, WithoutJournalOptionOrEnvironmentIsUsageError) {
  const Exited r = run_binary({"counts"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "--journal")) << r;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
}

TEST(CliJournalDir, EnvironmentVariableSelectsTheJournal) {
  TempDir tmp;
  const std::string dir = tmp.sub("env-journal");
  const Exited init = run_binary({"init"}, dir);
  ASSERT_EQ(init.exit_code, 0) << init;
  EXPECT_TRUE(fs::is_regular_file(dir + "/data.mdb"));
  const Exited reg = run_binary({"register", "tpl", "--source", "src"}, dir);
  ASSERT_EQ(reg.exit_code, 0) << reg;
  const Exited counts = run_binary({"counts", "--json"}, dir);
  ASSERT_EQ(counts.exit_code, 0) << counts;
  const json::value v = parse_json(counts.out);
  EXPECT_EQ(num(v.at("seq")), 1);
  ASSERT_EQ(v.at("templates").as_array().size(), 1u);
  EXPECT_EQ(str(v.at("templates").at(0).at("template")), "tpl");
}

TEST(CliJournalDir, JournalOptionTakesPrecedenceOverEnvironment) {
  TempDir tmp;
  const std::string a = tmp.sub("a");
  const std::string b = tmp.sub("b");
  ASSERT_EQ(run_binary({"--journal", a, "init"}).exit_code, 0);
  ASSERT_EQ(run_binary({"--journal", b, "init"}).exit_code, 0);
  ASSERT_EQ(run_binary({"--journal", a, "register", "only-in-a", "--source", "s"}, b).exit_code, 0);
  const Exited in_a = run_binary({"counts", "--json"}, a);
  const Exited in_b = run_binary({"counts", "--json"}, b);
  EXPECT_EQ(num(parse_json(in_a.out).at("seq")), 1) << in_a;
  EXPECT_EQ(num(parse_json(in_b.out).at("seq")), 0) << in_b;
}

// --- init ----------------------------------------------------------------------

TEST_F(CliTest, InitCreatesAnEmptyJournal) {
  const std::string out = ok({"init"});
  EXPECT_TRUE(contains(out, "initialized journal " + journal())) << out;
  EXPECT_TRUE(contains(out, "format version 1")) << out;
  EXPECT_TRUE(fs::is_regular_file(journal() + "/data.mdb"));
  const json::object counts = counts_json();
  EXPECT_EQ(json::serialize(counts), R"({"seq":0,"templates":[]})");
}

TEST_F(CliTest, InitOnAnExistingJournalExitsTwoAndKeepsItsEvents) {
  init();
  ok({"register", "t1", "--source", "s1"});
  const std::string before = file_text(journal() + "/data.mdb");
  const Exited r = fj({"init"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "already holds a journal")) << r;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
  EXPECT_EQ(head(), 1);
  EXPECT_EQ(str(template_entry("t1").at("source")), "s1");
  EXPECT_EQ(file_text(journal() + "/data.mdb"), before);
}

TEST_F(CliTest, InitInANonEmptyDirectoryExitsTwoAndCreatesNothing) {
  fs::create_directories(journal());
  std::ofstream(journal() + "/unrelated.txt") << "keep me\n";
  const Exited r = fj({"init"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(contains(r.err, "not empty")) << r;
  EXPECT_EQ(listing(journal()), std::set<std::string>{"unrelated.txt"});
}

// --- register --------------------------------------------------------------------

TEST_F(CliTest, RegisterWithNameAppendsOneEventAndShowsInCounts) {
  init();
  const std::string out =
      ok({"register", "web-1.0_base", "--source", "vm-7", "--name", "Web base"});
  EXPECT_EQ(out,
            "seq 1: template_registered template=web-1.0_base source=vm-7 name=\"Web base\" (0 "
            "live forks)\n");
  const json::object t = template_entry("web-1.0_base");
  EXPECT_EQ(str(t.at("source")), "vm-7");
  EXPECT_EQ(str(t.at("name")), "Web base");
  EXPECT_EQ(str(t.at("state")), "active");
  EXPECT_EQ(num(t.at("forks")), 0);
  EXPECT_EQ(head(), 1);
}

TEST_F(CliTest, RegisterWithoutNameStoresAnEmptyName) {
  init();
  const std::string out = ok({"register", "t1", "--source", "s1"});
  EXPECT_TRUE(out.starts_with("seq 1: template_registered template=t1 source=s1")) << out;
  EXPECT_FALSE(contains(out, "name=")) << out;
  EXPECT_EQ(str(template_entry("t1").at("name")), "");
}

TEST_F(CliTest, RegisterAcceptsSixtyFourCharacterIdsAndA255ByteUtf8Name) {
  init();
  const std::string id64(64, 'x');
  // 85 three-byte characters: exactly 255 bytes.
  std::string name;
  for (int i = 0; i < 85; ++i) name += "\xE2\x82\xAC";  // U+20AC EURO SIGN
  ASSERT_EQ(name.size(), 255u);
  ok({"register", id64, "--source", id64, "--name", name});
  const json::object t = template_entry(id64);
  EXPECT_EQ(str(t.at("name")), name);
  EXPECT_EQ(str(t.at("source")), id64);
}

TEST_F(CliTest, DuplicateRegisterIsRefusedAlreadyExists) {
  init();
  ok({"register", "t1", "--source", "s1", "--name", "first"});
  expect_refused({"register", "t1", "--source", "other", "--name", "second"}, "already_exists",
                 "'t1'");
  const json::object t = template_entry("t1");
  EXPECT_EQ(str(t.at("source")), "s1");
  EXPECT_EQ(str(t.at("name")), "first");
}

TEST_F(CliTest, DuplicateRegisterOfARetiredTemplateIsRefusedAlreadyExists) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"retire", "t1"});
  expect_refused({"register", "t1", "--source", "s1"}, "already_exists");
  EXPECT_EQ(str(template_entry("t1").at("state")), "retired");
}

// --- fork and unfork -----------------------------------------------------------

TEST_F(CliTest, ForkAndUnforkMoveTheCountUpAndDown) {
  init();
  ok({"register", "t1", "--source", "s1"});
  EXPECT_EQ(ok({"fork", "t1", "f1"}), "seq 2: fork_added template=t1 fork=f1 (1 live fork)\n");
  EXPECT_EQ(ok({"fork", "t1", "f2"}), "seq 3: fork_added template=t1 fork=f2 (2 live forks)\n");
  EXPECT_EQ(num(template_entry("t1").at("forks")), 2);
  EXPECT_EQ(ok({"unfork", "t1", "f1"}), "seq 4: fork_removed template=t1 fork=f1 (1 live fork)\n");
  EXPECT_EQ(num(template_entry("t1").at("forks")), 1);
  EXPECT_EQ(ok({"unfork", "t1", "f2"}), "seq 5: fork_removed template=t1 fork=f2 (0 live forks)\n");
  EXPECT_EQ(num(template_entry("t1").at("forks")), 0);
  EXPECT_EQ(head(), 5);
}

TEST_F(CliTest, ForkIdCanBeReusedAfterUnfork) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"register", "t2", "--source", "s2"});
  ok({"fork", "t1", "f1"});
  ok({"unfork", "t1", "f1"});
  ok({"fork", "t2", "f1"});
  EXPECT_EQ(num(template_entry("t1").at("forks")), 0);
  EXPECT_EQ(num(template_entry("t2").at("forks")), 1);
}

TEST_F(CliTest, ForkOfAnUnknownTemplateIsRefusedNotFound) {
  init();
  expect_refused({"fork", "nope", "f1"}, "not_found", "'nope'");
}

TEST_F(CliTest, ForkThatIsAlreadyLiveIsRefusedAlreadyLive) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"register", "t2", "--source", "s2"});
  ok({"fork", "t1", "f1"});
  expect_refused({"fork", "t1", "f1"}, "already_live", "'t1'");
  expect_refused({"fork", "t2", "f1"}, "already_live", "'t1'");
  EXPECT_EQ(num(template_entry("t1").at("forks")), 1);
  EXPECT_EQ(num(template_entry("t2").at("forks")), 0);
}

TEST_F(CliTest, UnforkOfAForkThatIsNotLiveIsRefusedNotFound) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"register", "t2", "--source", "s2"});
  expect_refused({"unfork", "t1", "never"}, "not_found", "'never'");
  ok({"fork", "t1", "f1"});
  // Live, but under another template.
  expect_refused({"unfork", "t2", "f1"}, "not_found", "'t1'");
  ok({"unfork", "t1", "f1"});
  // Already removed.
  expect_refused({"unfork", "t1", "f1"}, "not_found");
  expect_refused({"unfork", "nope", "f1"}, "not_found", "'nope'");
}

// --- retire --------------------------------------------------------------------

TEST_F(CliTest, RetireWithLiveForksIsRefusedInUse) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"fork", "t1", "f1"});
  ok({"fork", "t1", "f2"});
  expect_refused({"retire", "t1"}, "in_use", "2 live forks");
  ok({"unfork", "t1", "f1"});
  expect_refused({"retire", "t1"}, "in_use", "1 live fork");
  EXPECT_EQ(str(template_entry("t1").at("state")), "active");
}

TEST_F(CliTest, RetireAfterTheLastUnforkSucceeds) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"fork", "t1", "f1"});
  ok({"unfork", "t1", "f1"});
  EXPECT_EQ(ok({"retire", "t1"}),
            "seq 4: template_retired template=t1 reason=deleted (0 live forks)\n");
  const json::object t = template_entry("t1");
  EXPECT_EQ(str(t.at("state")), "retired");
  EXPECT_EQ(num(t.at("forks")), 0);
}

TEST_F(CliTest, RetiredTemplateRefusesForksAndASecondRetire) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"retire", "t1"});
  expect_refused({"fork", "t1", "f1"}, "retired", "'t1'");
  expect_refused({"retire", "t1"}, "retired", "'t1'");
  expect_refused({"unfork", "t1", "f1"}, "not_found");
}

TEST_F(CliTest, RetireOfAnUnknownTemplateIsRefusedNotFound) {
  init();
  expect_refused({"retire", "ghost"}, "not_found", "'ghost'");
}

// --- usage errors ----------------------------------------------------------------

TEST_F(CliTest, InvalidIdsAreUsageErrorsThatAppendNothing) {
  init();
  ok({"register", "t1", "--source", "s1"});
  ok({"fork", "t1", "f1"});
  // Every bad id in the two most common positions...
  for (const std::string& bad :
       {std::string("../x"), std::string(), std::string(65, 'a'), std::string("a b"),
        std::string("."), std::string(".."), std::string("a/b"), std::string("caf\xC3\xA9")}) {
    SCOPED_TRACE("id '" + bad + "'");
    expect_usage_error({"register", bad, "--source", "s9"}, "invalid template id");
    expect_usage_error({"fork", "t1", bad}, "invalid fork id");
  }
  // ...and a few in every other id position.
  for (const std::string& bad : {std::string("../x"), std::string(), std::string(65, 'b')}) {
    SCOPED_TRACE("id '" + bad + "'");
    expect_usage_error({"register", "t9", "--source", bad}, "invalid source id");
    expect_usage_error({"fork", bad, "f9"}, "invalid template id");
    expect_usage_error({"unfork", bad, "f1"}, "invalid template id");
    expect_usage_error({"unfork", "t1", bad}, "invalid fork id");
    expect_usage_error({"retire", bad}, "invalid template id");
  }
  EXPECT_EQ(head(), 2);
  EXPECT_EQ(num(template_entry("t1").at("forks")), 1);
}

TEST_F(CliTest, InvalidNamesAreUsageErrorsThatAppendNothing) {
  init();
  expect_usage_error({"register", "t1", "--source", "s1", "--name", std::string(256, 'n')},
                     "invalid name");
  expect_usage_error({"register", "t1", "--source", "s1", "--name", "tab\there"}, "invalid name");
  expect_usage_error({"register", "t1", "--source", "s1", "--name", "bad \xFF utf8"},
                     "invalid name");
  EXPECT_EQ(head(), 0);
}

TEST_F(CliTest, MissingArgumentsAndUnknownOptionsAreUsageErrors) {
  init();
  ok({"register", "t1", "--source", "s1"});
  expect_usage_error({}, "a command is required");
  expect_usage_error({"register", "t2"}, "--source");
  expect_usage_error({"register", "--source", "s2"}, "template");
  expect_usage_error({"register", "t2", "--source"});
  expect_usage_error({"fork", "t1"}, "fork");
  expect_usage_error({"fork"});
  expect_usage_error({"unfork", "t1"}, "fork");
  expect_usage_error({"retire"}, "template");
  expect_usage_error({"explain"}, "template");
  expect_usage_error({"counts", "--bogus"}, "--bogus");
  expect_usage_error({"counts", "extra"}, "extra");
  expect_usage_error({"fork", "t1", "f1", "f2"}, "f2");
  expect_usage_error({"counts", "--as-of", "-1"}, "--as-of");
  expect_usage_error({"counts", "--as-of", "abc"}, "--as-of");
  expect_usage_error({"log", "--from", "0"}, "--from: '0' is not a seq (a decimal integer from 1)");
  expect_usage_error({"export", "--from", "0"}, "--from");
  expect_usage_error({"log", "--to", "-3"}, "--to");
  expect_usage_error({"--sync", "sometimes", "fork", "t1", "f1"}, "--sync");
  expect_usage_error({"frobnicate"});
  expect_usage_error({"fork", "t1", "-f1"},
                     "'-f1' was read as an option: put '--' before an id that starts with '-'");
  EXPECT_EQ(head(), 1);
  ok({"fork", "t1", "--", "-f1"});
  EXPECT_EQ(num(template_entry("t1").at("forks")), 1);
}

// An option written --name= has no value: CLI11 alone took the next word
// for it (`--journal= stats init` created ./stats).
TEST(CliCommands, AnOptionWithNothingAfterTheEqualsSignIsAUsageError) {
  TempDir tmp;
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--journal=", "stats", "init"},
                                             {"--journal=", "fork", "t1", "f1"},
                                             {"--journal=", tmp.sub("j"), "init"},
                                             {"init", "--journal="}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = run_binary(args, tmp.sub("env"));
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(r.err, "forkjournal: --journal= has no value after '=' (see 'forkjournal --help')\n");
  }
  const Exited r = run_binary({"--journal", tmp.sub("j"), "counts", "--as-of=", "--json"});
  EXPECT_EQ(r.err, "forkjournal: --as-of= has no value after '=' (see 'forkjournal --help')\n");
  EXPECT_FALSE(fs::exists("stats"));
  EXPECT_FALSE(fs::exists(tmp.sub("j")));
  EXPECT_FALSE(fs::exists(tmp.sub("env")));
}

// Usage errors in plain words and pointing at the command's own help, not
// CLI11's wording ("At Most 1 required but received 2").
TEST_F(CliTest, UsageErrorsSayWhatIsWrongInPlainWords) {
  init();
  for (const auto& [args, err] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"counts", "--as-of", "3", "--as-of", "4"},
            "--as-of given twice (see 'forkjournal counts --help')"},
           {{"counts", "--as-of"}, "--as-of needs a value (see 'forkjournal counts --help')"},
           {{"stats", "extra"}, "unexpected argument 'extra' (see 'forkjournal stats --help')"},
           {{"stats", "--bogus"}, "unknown option '--bogus' (see 'forkjournal stats --help')"},
           {{"fork", "t1", "f1", "f2", "f3"},
            "unexpected arguments 'f2' 'f3' (see 'forkjournal fork --help')"},
           {{"register", "t1"}, "--source is required (see 'forkjournal register --help')"},
           {{"fleet", "counts", "--nats"},
            "--nats needs a value (see 'forkjournal fleet counts --help')"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = fj(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.err, "forkjournal: " + err + "\n");
  }
  // The word after an option that takes a value is that value, even one
  // that looks like an empty --name=.
  ok({"register", "t1", "--source", "s1", "--name", "--x="});
  EXPECT_EQ(str(template_entry("t1").at("name")), "--x=");
}

// CLI11 alone says "A subcommand is required" for these too.
TEST(CliCommands, AnUnknownCommandIsNamedAndAMissingOneAsked) {
  TempDir tmp;
  const std::string dir = tmp.sub("journal");
  for (const auto& [args, err] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--journal", dir, "frobnicate"},
            "unknown command 'frobnicate' (see 'forkjournal --help')"},
           {{"--journal", dir, "count"}, "unknown command 'count' (see 'forkjournal --help')"},
           {{"count", "--json"}, "unknown command 'count' (see 'forkjournal --help')"},
           {{"fleet", "bogus"}, "unknown fleet command 'bogus' (see 'forkjournal fleet --help')"},
           {{"fleet", "bogus", "--nats", "nats://127.0.0.1:1"},
            "unknown fleet command 'bogus' (see 'forkjournal fleet --help')"},
           {{}, "a command is required (see 'forkjournal --help')"},
           {{"--journal", dir}, "a command is required (see 'forkjournal --help')"},
           {{"fleet"},
            "fleet needs a command: init, counts or verify (see 'forkjournal fleet --help')"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = run_binary(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(r.err, "forkjournal: " + err + "\n") << r;
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(CliTest, MissingJournalDirectoryIsAnErrorAndIsNotCreated) {
  ASSERT_FALSE(fs::exists(journal()));
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"counts"},
                                             {"counts", "--json"},
                                             {"log"},
                                             {"log", "--json"},
                                             {"explain", "t1"},
                                             {"replay"},
                                             {"stats"},
                                             {"stats", "--json"},
                                             {"register", "t1", "--source", "s1"},
                                             {"fork", "t1", "f1"},
                                             {"snapshot"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const Exited r = fj(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_TRUE(contains(r.err, journal())) << "the error does not name the directory\n" << r;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r;
    EXPECT_FALSE(fs::exists(journal())) << "the command created the journal directory";
  }
}

TEST_F(CliTest, DirectoryThatIsNotAJournalIsRejectedAndLeftAlone) {
  TempDir tmp;
  const std::string empty = tmp.sub("empty");
  const std::string other = tmp.sub("other");
  const std::string garbage = tmp.sub("garbage");
  fs::create_directories(empty);
  fs::create_directories(other);
  fs::create_directories(garbage);
  std::ofstream(other + "/notes.txt") << "not a journal\n";
  std::ofstream(garbage + "/data.mdb") << std::string(8192, 'z');
  for (const std::string& dir : {empty, other, garbage}) {
    // A write command on `garbage` leaves a lock.mdb behind: see
    // WriteCommandOnAForeignDataFileCreatesNoFile.
    const bool write_ok = dir != garbage;
    const std::set<std::string> files = listing(dir);
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"counts", "--json"},
                                               {"log"},
                                               {"stats"},
                                               {"replay"},
                                               {"explain", "t1"},
                                               {"snapshot"},
                                               {"register", "t1", "--source", "s1"}}) {
      if (!write_ok && (args[0] == "snapshot" || args[0] == "register")) continue;
      SCOPED_TRACE(dir + " " + ::testing::PrintToString(args));
      std::vector<std::string> full{"--journal", dir};
      full.insert(full.end(), args.begin(), args.end());
      const Exited r = run_binary(full);
      EXPECT_EQ(r.exit_code, 2) << r;
      EXPECT_EQ(r.out, "") << r;
      EXPECT_TRUE(contains(r.err, dir)) << r;
      EXPECT_EQ(listing(dir), files) << "the command created files";
    }
  }
}

// --- read-only commands ------------------------------------------------------------

TEST_F(CliTest, ReadCommandsChangeNoFileOfTheJournal) {
  populate();
  // Without a lock file no writer runs; a reader must not create one.
  fs::remove(journal() + "/lock.mdb");
  const std::string before = file_text(journal() + "/data.mdb");
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"counts"},
                                             {"counts", "--json", "--as-of", "3"},
                                             {"log"},
                                             {"log", "--json"},
                                             {"explain", "t1"},
                                             {"explain", "t1", "--json"},
                                             {"replay"},
                                             {"replay", "--json"},
                                             {"stats"},
                                             {"stats", "--json"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    ok(args);
  }
  EXPECT_EQ(listing(journal()), std::set<std::string>{"data.mdb"});
  EXPECT_TRUE(file_text(journal() + "/data.mdb") == before) << "data.mdb changed";
}

// --- counts ----------------------------------------------------------------------

TEST_F(CliTest, CountsJsonHasTheExactShapeSortedByTemplate) {
  init();
  ok({"register", "zeta", "--source", "s-z", "--name", "Zeta"});
  ok({"register", "Alpha", "--source", "s-A"});
  ok({"register", "mid", "--source", "s-m", "--name", "Mid \"quoted\""});
  ok({"fork", "mid", "f1"});
  ok({"fork", "mid", "f2"});
  ok({"fork", "zeta", "f3"});
  ok({"retire", "Alpha"});

  const json::object v = counts_json();
  EXPECT_EQ(keys_of(v), (std::set<std::string>{"seq", "templates"}));
  EXPECT_TRUE(v.at("seq").is_number());
  EXPECT_EQ(num(v.at("seq")), 7);
  const json::array& templates = v.at("templates").as_array();
  ASSERT_EQ(templates.size(), 3u);
  const std::set<std::string> fields{"template", "source", "name", "state", "forks"};
  for (const auto& t : templates) {
    EXPECT_EQ(keys_of(t.as_object()), fields);
    EXPECT_TRUE(t.at("forks").is_number());
  }
  EXPECT_EQ(json::serialize(templates), json::serialize(json::parse(R"([
      {"template":"Alpha","source":"s-A","name":"","state":"retired","forks":0},
      {"template":"mid","source":"s-m","name":"Mid \"quoted\"","state":"active","forks":2},
      {"template":"zeta","source":"s-z","name":"Zeta","state":"active","forks":1}])")));
}

TEST_F(CliTest, CountsOfAnEmptyJournalIsSeqZeroAndNoTemplates) {
  init();
  EXPECT_EQ(ok({"counts"}), "as of seq 0: 0 templates, 0 live forks\n");
  EXPECT_EQ(json::serialize(counts_json()), R"({"seq":0,"templates":[]})");
}

TEST_F(PopulatedCliTest, CountsHumanShowsASummaryAndOneRowPerTemplate) {
  const std::vector<std::string> lines = lines_of(ok({"counts"}));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "as of seq 8: 2 templates, 1 live fork");
  EXPECT_TRUE(
      std::regex_match(lines[1], std::regex(R"(TEMPLATE\s+STATE\s+FORKS\s+SOURCE\s+NAME\s*)")))
      << lines[1];
  EXPECT_TRUE(std::regex_match(lines[2], std::regex(R"(t1\s+active\s+1\s+s1\s+"Web base")")))
      << lines[2];
  EXPECT_TRUE(std::regex_match(lines[3], std::regex(R"(t2\s+retired\s+0\s+s2\s*)"))) << lines[3];
}

TEST_F(PopulatedCliTest, CountsAsOfShowsThePastState) {
  const json::object at2 = counts_json({"--as-of", "2"});
  EXPECT_EQ(num(at2.at("seq")), 2);
  ASSERT_EQ(at2.at("templates").as_array().size(), 2u);
  EXPECT_EQ(num(at2.at("templates").at(0).at("forks")), 0);

  const json::object at5 = counts_json({"--as-of", "5"});
  EXPECT_EQ(num(at5.at("seq")), 5);
  EXPECT_EQ(num(at5.at("templates").at(0).at("forks")), 2);  // t1: f1, f2
  EXPECT_EQ(num(at5.at("templates").at(1).at("forks")), 1);  // t2: f3
  EXPECT_EQ(str(at5.at("templates").at(1).at("state")), "active");

  const json::object at1 = counts_json({"--as-of", "1"});
  ASSERT_EQ(at1.at("templates").as_array().size(), 1u);
  EXPECT_EQ(str(at1.at("templates").at(0).at("template")), "t1");

  EXPECT_EQ(json::serialize(counts_json({"--as-of", "8"})), json::serialize(counts_json()));
  EXPECT_TRUE(
      ok({"counts", "--as-of", "5"}).starts_with("as of seq 5: 2 templates, 3 live forks\n"));
}

TEST_F(CliTest, CountsAsOfBeforeASnapshotIgnoresTheSnapshot) {
  populate();
  ok({"snapshot"});
  const json::object at5 = counts_json({"--as-of", "5"});
  EXPECT_EQ(num(at5.at("seq")), 5);
  EXPECT_EQ(num(at5.at("templates").at(0).at("forks")), 2);
  EXPECT_EQ(str(at5.at("templates").at(1).at("state")), "active");
}

// Seq 0 is the state before any event and an empty journal's head: a script
// passing the head it read works on a new journal too.
TEST_F(CliTest, SeqZeroIsTheStateBeforeAnyEvent) {
  init();
  EXPECT_EQ(ok({"counts", "--as-of", "0"}), ok({"counts"}));
  EXPECT_EQ(ok({"counts", "--as-of", "0"}), "as of seq 0: 0 templates, 0 live forks\n");
  EXPECT_EQ(ok({"log", "--to", "0"}), "");
  EXPECT_EQ(ok({"export", "--to", "0"}), "");
  ok({"register", "t1", "--source", "s1"});
  EXPECT_EQ(json::serialize(counts_json({"--as-of", "0"})), R"({"seq":0,"templates":[]})");
  EXPECT_EQ(ok({"log", "--to", "0", "--json"}), "");
  EXPECT_EQ(ok({"export", "--to", "0"}), "");
  expect_usage_error({"log", "--from", "1", "--to", "0"}, "--from 1 is after --to 0");
}

TEST_F(CliTest, CountsHelpStatesTheDefaultAndTheRangeOfAsOf) {
  const std::string help = ok({"counts", "--help"});
  EXPECT_TRUE(contains(help, "--as-of SEQ")) << help;
  EXPECT_TRUE(contains(help, "from 0 (before any event) to the head (the default)")) << help;
}

TEST_F(PopulatedCliTest, CountsAsOfBeyondTheHeadIsUsageError) {
  expect_usage_error({"counts", "--as-of", "9"}, "9");
  expect_usage_error({"counts", "--as-of", "9", "--json"}, "9");
  EXPECT_EQ(head(), 8);
}

// --- log -------------------------------------------------------------------------

TEST_F(PopulatedCliTest, LogHumanPrintsOneLinePerEventInSeqOrder) {
  const std::vector<std::string> lines = lines_of(ok({"log"}));
  ASSERT_EQ(lines.size(), 8u);
  const char* types[] = {"template_registered", "template_registered", "fork_added",
                         "fork_added",          "fork_added",          "fork_removed",
                         "fork_removed",        "template_retired"};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::regex line_re("^\\s*" + std::to_string(i + 1) +
                             R"(\s+\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z\s+cli\s+)" +
                             types[i] + R"(\s+template=)");
    EXPECT_TRUE(std::regex_search(lines[i], line_re)) << lines[i];
  }
  EXPECT_TRUE(contains(lines[0], "template=t1 source=s1 name=\"Web base\"")) << lines[0];
  EXPECT_TRUE(contains(lines[2], "template=t1 fork=f1")) << lines[2];
  EXPECT_TRUE(contains(lines[7], "template=t2 reason=deleted")) << lines[7];
}

// A name is free text: in every text rendering a quote or backslash in it
// is escaped, so that it cannot read as the end of the field and more
// fields after it.
TEST_F(CliTest, NamesWithQuotesAndBackslashesReadAsOneFieldInText) {
  init();
  const std::string evil = R"(web" source=EVIL fork=f1 x=")";
  const std::string escaped = R"("web\" source=EVIL fork=f1 x=\"")";
  const std::string registered = ok({"register", "t1", "--source", "s1", "--name", evil});
  EXPECT_TRUE(contains(registered, "source=s1 name=" + escaped + " (0 live forks)")) << registered;
  ok({"register", "t2", "--source", "s2", "--name", R"(back\slash "q")"});

  const std::vector<std::string> logged = lines_of(ok({"log"}));
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_TRUE(logged[0].ends_with("template=t1 source=s1 name=" + escaped)) << logged[0];
  EXPECT_TRUE(logged[1].ends_with(R"(template=t2 source=s2 name="back\\slash \"q\"")"))
      << logged[1];
  EXPECT_FALSE(contains(logged[0], "source=EVIL fork=f1 x=\"\"")) << logged[0];

  const std::vector<std::string> counted = lines_of(ok({"counts"}));
  ASSERT_EQ(counted.size(), 4u);
  EXPECT_TRUE(counted[2].ends_with("s1      " + escaped)) << counted[2];
  EXPECT_TRUE(counted[3].ends_with(R"(s2      "back\\slash \"q\"")")) << counted[3];

  const std::string explained = lines_of(ok({"explain", "t1"})).at(0);
  EXPECT_EQ(explained,
            "template t1 (" + escaped + "), source s1, active, 0 live forks as of seq 2");

  // JSON keeps the name as it is.
  EXPECT_EQ(str(template_entry("t1").at("name")), evil);
  EXPECT_EQ(str(log_json().at(0).at("name")), evil);
}

TEST(RenderQuoted, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(fj::render::quoted(""), R"("")");
  EXPECT_EQ(fj::render::quoted("Web base"), R"("Web base")");
  EXPECT_EQ(fj::render::quoted(R"(a"b\c)"), R"("a\"b\\c")");
  // Evidence is free text the codec does not restrict: one line, always.
  EXPECT_EQ(fj::render::quoted(std::string("l1\nl2\r\t\x01\x7f\0end", 13)),
            R"("l1\nl2\r\t\x01\x7f\x00end")");
  EXPECT_EQ(fj::render::quoted("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  // A name recorded before C1 controls and bidirectional formatting were
  // refused is shown as its bytes: it cannot reorder or hide the line.
  EXPECT_EQ(fj::render::quoted("a\xc2\x85"
                               "b\xe2\x80\xae"
                               "c"),
            R"("a\xc2\x85b\xe2\x80\xaec")");
}

TEST_F(PopulatedCliTest, LogJsonPrintsOneObjectPerLineWithTheEventFields) {
  const std::string& earliest = populated_after_;
  const std::string& latest = populated_before_;
  const std::string text = ok({"log", "--json"});
  ASSERT_TRUE(text.ends_with("\n"));
  const std::vector<json::object> events = log_json();
  ASSERT_EQ(events.size(), 8u);

  std::string previous_time;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const json::object& e = events[i];
    SCOPED_TRACE(json::serialize(e));
    EXPECT_EQ(num(e.at("seq")), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(str(e.at("origin")), "cli");
    const std::string time = str(e.at("time"));
    EXPECT_TRUE(std::regex_match(time, rfc3339_utc())) << time;
    EXPECT_TRUE(time.ends_with("Z"));
    EXPECT_GE(time.substr(0, 19), earliest);
    EXPECT_LE(time.substr(0, 19), latest);
    EXPECT_GE(time, previous_time) << "event times go backwards";
    previous_time = time;
  }
  using Keys = std::set<std::string>;
  const Keys registered{"seq", "type", "time", "origin", "template", "source", "name"};
  const Keys fork_event{"seq", "type", "time", "origin", "template", "fork"};
  const Keys retired{"seq", "type", "time", "origin", "template", "reason"};

  EXPECT_EQ(str(events[0].at("type")), "template_registered");
  EXPECT_EQ(keys_of(events[0]), registered);
  EXPECT_EQ(str(events[0].at("template")), "t1");
  EXPECT_EQ(str(events[0].at("source")), "s1");
  EXPECT_EQ(str(events[0].at("name")), "Web base");
  EXPECT_EQ(keys_of(events[1]), registered);
  EXPECT_EQ(str(events[1].at("name")), "");

  EXPECT_EQ(str(events[2].at("type")), "fork_added");
  EXPECT_EQ(keys_of(events[2]), fork_event);
  EXPECT_EQ(str(events[2].at("template")), "t1");
  EXPECT_EQ(str(events[2].at("fork")), "f1");

  EXPECT_EQ(str(events[5].at("type")), "fork_removed");
  EXPECT_EQ(keys_of(events[5]), fork_event);
  EXPECT_EQ(str(events[5].at("fork")), "f1");

  EXPECT_EQ(str(events[7].at("type")), "template_retired");
  EXPECT_EQ(keys_of(events[7]), retired);
  EXPECT_EQ(str(events[7].at("template")), "t2");
  EXPECT_EQ(str(events[7].at("reason")), "deleted");
}

TEST_F(CliTest, LogOfAnEmptyJournalPrintsNothing) {
  init();
  EXPECT_EQ(ok({"log"}), "");
  EXPECT_EQ(ok({"log", "--json"}), "");
}

TEST_F(PopulatedCliTest, LogFromToAndTemplateFiltersSelectEvents) {
  const auto seqs = [](const std::vector<json::object>& events) {
    std::vector<std::int64_t> out;
    for (const auto& e : events) out.push_back(num(e.at("seq")));
    return out;
  };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(seqs(log_json({"--from", "3", "--to", "5"})), (V{3, 4, 5}));
  EXPECT_EQ(seqs(log_json({"--from", "6"})), (V{6, 7, 8}));
  EXPECT_EQ(seqs(log_json({"--to", "2"})), (V{1, 2}));
  EXPECT_EQ(seqs(log_json({"--from", "4", "--to", "4"})), (V{4}));
  EXPECT_EQ(seqs(log_json({"--to", "100"})), (V{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(seqs(log_json({"--from", "9"})), V{});  // the head + 1: nothing yet
  EXPECT_EQ(seqs(log_json({"--template", "t2"})), (V{2, 5, 7, 8}));
  EXPECT_EQ(seqs(log_json({"--template", "t1", "--from", "2", "--to", "6"})), (V{3, 4, 6}));
  EXPECT_EQ(seqs(log_json({"--template", "unknown"})), V{});
  for (const auto& e : log_json({"--template", "t2"})) EXPECT_EQ(str(e.at("template")), "t2");
  EXPECT_EQ(lines_of(ok({"log", "--template", "t1"})).size(), 4u);
  EXPECT_EQ(lines_of(ok({"log", "--from", "2", "--to", "3"})).size(), 2u);
}

// As in export: a --from past the next seq is a mistake, not an empty log.
TEST_F(PopulatedCliTest, LogFromBeyondTheHeadPlusOneIsUsageError) {
  const std::string why = ": log starts at the head + 1 (seq 9) at most";
  expect_usage_error({"log", "--from", "10"}, "--from 10 is beyond the head (seq 8)" + why);
  expect_usage_error({"log", "--from", "99", "--json"},
                     "--from 99 is beyond the head (seq 8)" + why);
  expect_usage_error({"log", "--from", "99", "--to", "100"}, "--from 99 is beyond the head");
  expect_usage_error({"log", "--from", "99", "--template", "t1"}, "--from 99 is beyond the head");
}

TEST_F(CliTest, LogOfAnEmptyJournalFromSeqOneIsEmptyAndFromTwoIsUsageError) {
  init();
  EXPECT_EQ(ok({"log", "--from", "1"}), "");
  expect_usage_error({"log", "--from", "2"}, "--from 2 is beyond the head (seq 0)");
}

TEST_F(PopulatedCliTest, LogFromAfterToIsUsageError) {
  expect_usage_error({"log", "--from", "5", "--to", "2"},
                     "forkjournal: --from 5 is after --to 2 (the head is seq 8)\n");
  expect_usage_error({"log", "--from", "5", "--to", "4", "--json"},
                     "--from 5 is after --to 4 (the head is seq 8)");
  EXPECT_EQ(head(), 8);
}

// --- explain ---------------------------------------------------------------------

TEST_F(PopulatedCliTest, ExplainJsonListsTheTemplatesEventsWithTheRunningCount) {
  const json::object v = parse_json(ok({"explain", "t1", "--json"})).as_object();
  EXPECT_EQ(str(v.at("template")), "t1");
  EXPECT_EQ(str(v.at("source")), "s1");
  EXPECT_EQ(str(v.at("name")), "Web base");
  EXPECT_EQ(str(v.at("state")), "active");
  EXPECT_EQ(num(v.at("forks")), 1);
  EXPECT_EQ(num(v.at("seq")), 8);
  EXPECT_EQ(json::serialize(v.at("live_forks")), R"(["f2"])");

  const json::array& events = v.at("events").as_array();
  ASSERT_EQ(events.size(), 4u);
  const std::int64_t seqs[] = {1, 3, 4, 6};
  const std::int64_t running[] = {0, 1, 2, 1};
  const char* types[] = {"template_registered", "fork_added", "fork_added", "fork_removed"};
  for (std::size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(json::serialize(events[i]));
    EXPECT_EQ(num(events[i].at("seq")), seqs[i]);
    EXPECT_EQ(num(events[i].at("forks")), running[i]);
    EXPECT_EQ(str(events[i].at("type")), types[i]);
    EXPECT_EQ(str(events[i].at("template")), "t1");
    EXPECT_TRUE(std::regex_match(str(events[i].at("time")), rfc3339_utc()));
    EXPECT_FALSE(events[i].as_object().contains("anomaly"));
  }
  EXPECT_EQ(str(events[3].at("fork")), "f1");
}

TEST_F(PopulatedCliTest, ExplainJsonOfARetiredTemplateEndsAtZero) {
  const json::object v = parse_json(ok({"explain", "t2", "--json"})).as_object();
  EXPECT_EQ(str(v.at("state")), "retired");
  EXPECT_EQ(num(v.at("forks")), 0);
  EXPECT_EQ(v.at("live_forks").as_array().size(), 0u);
  const json::array& events = v.at("events").as_array();
  ASSERT_EQ(events.size(), 4u);
  std::vector<std::int64_t> running;
  for (const auto& e : events) running.push_back(num(e.at("forks")));
  EXPECT_EQ(running, (std::vector<std::int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(str(events[3].at("type")), "template_retired");
  EXPECT_EQ(str(events[3].at("reason")), "deleted");
}

TEST_F(PopulatedCliTest, ExplainHumanShowsAHeaderOneRowPerEventAndTheLiveForks) {
  const std::vector<std::string> lines = lines_of(ok({"explain", "t1"}));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "template t1 (\"Web base\"), source s1, active, 1 live fork as of seq 8");
  EXPECT_TRUE(
      std::regex_match(lines[1], std::regex(R"(\s*SEQ\s+TIME\s+ORIGIN\s+EVENT\s+DETAIL\s+FORKS)")))
      << lines[1];
  EXPECT_TRUE(
      std::regex_search(lines[2], std::regex(R"(^\s*1\s.*template_registered\s+source=s1\s+0$)")))
      << lines[2];
  EXPECT_TRUE(std::regex_search(lines[3], std::regex(R"(^\s*3\s.*fork_added\s+f1\s+1$)")))
      << lines[3];
  EXPECT_TRUE(std::regex_search(lines[4], std::regex(R"(^\s*4\s.*fork_added\s+f2\s+2$)")))
      << lines[4];
  EXPECT_TRUE(std::regex_search(lines[5], std::regex(R"(^\s*6\s.*fork_removed\s+f1\s+1$)")))
      << lines[5];
  EXPECT_EQ(lines[6], "live forks: f2");
}

TEST_F(PopulatedCliTest, ExplainOfAnUnknownTemplateIsRefusedNotFound) {
  expect_refused({"explain", "ghost"}, "not_found", "'ghost'");
  expect_refused({"explain", "ghost", "--json"}, "not_found", "'ghost'");
}

// --- replay and snapshot -----------------------------------------------------------

TEST_F(PopulatedCliTest, ReplayJsonWithoutSnapshotMatchesAndAgreesWithCounts) {
  const json::object v = parse_json(ok({"replay", "--json"})).as_object();
  EXPECT_EQ(num(v.at("seq")), 8);
  EXPECT_EQ(num(v.at("events")), 8);
  EXPECT_EQ(num(v.at("live_forks")), 1);
  EXPECT_EQ(num(v.at("snapshot_seq")), 0);
  EXPECT_EQ(num(v.at("tail_events")), 8);  // no snapshot: the fast path replays all of it
  EXPECT_EQ(json::serialize(v.at("ignored_snapshots")), "[]");
  EXPECT_EQ(v.at("matches_snapshot"), json::value(true));
  EXPECT_EQ(v.at("anomalies").as_array().size(), 0u);
  EXPECT_TRUE(v.at("seconds").is_number());
  EXPECT_TRUE(v.at("events_per_second").is_number());
  EXPECT_EQ(json::serialize(v.at("templates")), json::serialize(counts_json().at("templates")));
}

TEST_F(PopulatedCliTest, ReplayHumanReportsEventsTemplatesAndNoSnapshot) {
  const std::vector<std::string> lines = lines_of(ok({"replay"}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(
      std::regex_match(lines[0], std::regex(R"(replayed 8 events from seq 1 in .* s \(.*\))")))
      << lines[0];
  EXPECT_EQ(lines[1], "2 templates, 1 live fork, 0 anomalies");
  EXPECT_EQ(lines[2], "no snapshot in use: the fast path replays from seq 1 too");
}

TEST_F(CliTest, SnapshotStoresTheHeadWithoutAppendingAndReplayMatchesIt) {
  populate();
  EXPECT_EQ(ok({"snapshot"}), "snapshot stored at seq 8 (2 templates, 1 live fork)\n");
  EXPECT_EQ(head(), 8);
  const json::object stats = parse_json(ok({"stats", "--json"})).as_object();
  EXPECT_EQ(json::serialize(stats.at("snapshots")), "[8]");

  ok({"fork", "t1", "f4"});
  ok({"fork", "t1", "f5"});
  const json::object v = parse_json(ok({"replay", "--json"})).as_object();
  EXPECT_EQ(num(v.at("snapshot_seq")), 8);
  EXPECT_EQ(num(v.at("seq")), 10);
  EXPECT_EQ(v.at("matches_snapshot"), json::value(true));
  EXPECT_EQ(num(v.at("live_forks")), 3);

  const std::string human = ok({"replay"});
  EXPECT_TRUE(contains(human, "snapshot at seq 8 + 2 events of tail matches the full replay"))
      << human;
  EXPECT_EQ(num(template_entry("t1").at("forks")), 3);

  ok({"snapshot"});
  const std::string text = ok({"stats"});
  EXPECT_TRUE(contains(text, "\nsnapshots      seq 8 seq 10\n")) << text;  // no trailing space
}

// Flips one byte in the middle of the blob stored for the snapshot at `seq`,
// as a bad sector would: its checksum no longer matches.
void damage_snapshot(const std::string& dir, std::uint64_t seq) {
  auto journal = fj::Journal::open(dir);
  ASSERT_TRUE(journal) << journal.error().message;
  auto done = journal->write([&](fj::WriteTxn& w) -> fj::Result<void> {
    auto stored = w.snapshot_at_most(seq);
    if (!stored) return stored.error();
    EXPECT_TRUE(*stored && (*stored)->seq == seq) << "no snapshot at seq " << seq;
    if (!*stored || (*stored)->seq != seq) return {};
    std::string blob((*stored)->blob);
    blob[blob.size() / 2] ^= 0x40;
    return w.put_snapshot(seq, blob);
  });
  ASSERT_TRUE(done) << done.error().message;
}

TEST_F(CliTest, ReplayJsonSaysWhatTheTextSaysAboutTheSnapshotPath) {
  populate();
  ok({"snapshot"});
  ok({"fork", "t1", "f4"});
  ok({"fork", "t1", "f5"});
  json::object v = parse_json(ok({"replay", "--json"})).as_object();
  EXPECT_EQ(num(v.at("snapshot_seq")), 8);
  EXPECT_EQ(num(v.at("tail_events")), 2);
  EXPECT_EQ(json::serialize(v.at("ignored_snapshots")), "[]");

  damage_snapshot(journal(), 8);
  const std::string text = ok({"replay"});
  EXPECT_TRUE(contains(text, "  ignored snapshot at seq 8: snapshot: checksum mismatch\n")) << text;
  EXPECT_TRUE(contains(text, "no snapshot in use")) << text;
  v = parse_json(ok({"replay", "--json"})).as_object();
  EXPECT_EQ(num(v.at("snapshot_seq")), 0);
  EXPECT_EQ(num(v.at("tail_events")), 10);
  EXPECT_EQ(v.at("matches_snapshot"), json::value(true));  // the path used is the full replay
  EXPECT_EQ(json::serialize(v.at("ignored_snapshots")),
            R"([{"seq":8,"reason":"snapshot: checksum mismatch"}])");
}

// Stores at `seq` a snapshot whose checksums pass but whose state does not
// follow from the events: the state at seq - 1 plus a fork "forged" of t1
// that no event added.
void forge_snapshot(const std::string& dir, std::uint64_t seq) {
  auto journal = fj::Journal::open(dir);
  ASSERT_TRUE(journal) << journal.error().message;
  auto state = fj::replay(*journal, seq - 1);
  ASSERT_TRUE(state) << state.error().message;
  state->apply(seq, fj::view(fj::testing::added("t1", "forged")));
  auto done = journal->write([&](fj::WriteTxn& w) -> fj::Result<void> {
    auto record = w.record(seq);
    if (!record) return record.error();
    EXPECT_TRUE(*record) << "no record at seq " << seq;
    if (!*record) return {};
    return w.put_snapshot(seq, fj::SnapshotCodec::encode(*state, fj::stored_checksum(**record)));
  });
  ASSERT_TRUE(done) << done.error().message;
}

// `snapshot` stores a full replay's state: a snapshot `replay` proves wrong
// is replaced (with every other one, which may be as wrong), not stored again.
TEST_F(CliTest, SnapshotReplacesASnapshotThatReplayProvesWrong) {
  populate();
  ok({"snapshot"});  // at 8, sound
  ok({"fork", "t1", "f4"});
  ok({"snapshot"});  // at 9, then forged
  forge_snapshot(journal(), 9);
  const Exited wrong = fj({"replay"});
  EXPECT_EQ(wrong.exit_code, 1) << wrong;
  EXPECT_TRUE(contains(wrong.out, "DOES NOT MATCH")) << wrong;

  EXPECT_EQ(ok({"snapshot"}),
            "the snapshot at seq 9 differs from a full replay from seq 1: replaced by the replayed "
            "state, other snapshots deleted (restart a forkjournald serving this journal: it "
            "loaded the wrong state)\n"
            "snapshot stored at seq 9 (2 templates, 2 live forks)\n");
  const json::object v = parse_json(ok({"replay", "--json"})).as_object();
  EXPECT_EQ(num(v.at("snapshot_seq")), 9);
  EXPECT_EQ(v.at("matches_snapshot"), json::value(true));
  EXPECT_EQ(json::serialize(parse_json(ok({"stats", "--json"})).at("snapshots")), "[9]");
  EXPECT_EQ(ok({"snapshot"}), "snapshot stored at seq 9 (2 templates, 2 live forks)\n");
  EXPECT_EQ(json::serialize(parse_json(ok({"stats", "--json"})).at("snapshots")), "[9]");
}

TEST_F(CliTest, SnapshotOfAnEmptyJournalStoresNothing) {
  init();
  EXPECT_EQ(ok({"snapshot"}), "journal is empty: no snapshot stored\n");
  const json::object stats = parse_json(ok({"stats", "--json"})).as_object();
  EXPECT_EQ(json::serialize(stats.at("snapshots")), "[]");
  EXPECT_EQ(num(stats.at("head_seq")), 0);
}

// --- stats -----------------------------------------------------------------------

TEST_F(PopulatedCliTest, StatsJsonReportsHeadEventCountsAndTemplates) {
  const json::object v = parse_json(ok({"stats", "--json"})).as_object();
  EXPECT_EQ(str(v.at("journal")), journal());
  EXPECT_TRUE(std::regex_match(str(v.at("journal_id")), std::regex("[0-9a-f]{32}")))
      << v.at("journal_id");
  EXPECT_EQ(num(v.at("format_version")), 1);
  EXPECT_TRUE(std::regex_match(str(v.at("created")), rfc3339_utc()));
  EXPECT_EQ(num(v.at("head_seq")), 8);
  EXPECT_EQ(json::serialize(v.at("events_by_type")),
            json::serialize(json::parse(
                R"({"template_registered":2,"fork_added":3,"fork_removed":2,"template_retired":1,
                    "fork_recovered":0,"fork_lost":0,"reconcile_run":0})")));
  EXPECT_EQ(num(v.at("templates")), 2);
  EXPECT_EQ(num(v.at("active_templates")), 1);
  EXPECT_EQ(num(v.at("live_forks")), 1);
  EXPECT_EQ(num(v.at("anomalies")), 0);
  EXPECT_EQ(json::serialize(v.at("snapshots")), "[]");
  EXPECT_GT(num(v.at("record_bytes")), 8 * 16);  // at least the framing of 8 records
  EXPECT_GT(num(v.at("file_bytes")), 0);
  EXPECT_GE(num(v.at("map_bytes")), num(v.at("file_bytes")));
}

TEST_F(PopulatedCliTest, StatsHumanReportsTheSameNumbers) {
  const json::object v = parse_json(ok({"stats", "--json"})).as_object();
  const std::string out = ok({"stats"});
  EXPECT_TRUE(contains(out, "journal        " + journal() + "\n")) << out;
  EXPECT_TRUE(contains(out, "id             " + str(v.at("journal_id")) + "\n")) << out;
  EXPECT_TRUE(contains(out, "head seq       8\n")) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n\s+fork_added\s+3\n)"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n\s+template_retired\s+1\n)"))) << out;
  EXPECT_TRUE(contains(out, "templates      2 (1 active)\n")) << out;
  EXPECT_TRUE(contains(out, "live forks     1\n")) << out;
  EXPECT_TRUE(contains(out, "snapshots      none\n")) << out;
}

// --- a report that cannot be written ------------------------------------------

constexpr const char* kNoSpace = "forkjournal: write to stdout: No space left on device";

// A command whose output is lost exits 2, so that a script (a backup timer
// keeping the printed head as its anchor) never takes it for success.
// The head to keep for --expect-head is offered only by a clean audit: a
// journal with findings is no anchor.
TEST_F(PopulatedCliTest, AuditOffersItsHeadForExpectHeadOnlyWhenClean) {
  const Exited clean = fj({"audit"});
  ASSERT_EQ(clean.exit_code, 0) << clean;
  const std::smatch head = [&] {
    std::smatch m;
    EXPECT_TRUE(
        std::regex_search(clean.out, m, std::regex("head seq 8, chain head ([0-9a-f]{64})")))
        << clean;
    return m;
  }();
  ASSERT_FALSE(head.empty());
  const std::string anchor = "8:" + head[1].str();
  EXPECT_TRUE(contains(clean.out,
                       "(keep \"" + anchor + "\" and pass it to a later audit as --expect-head)\n"))
      << clean;

  const Exited findings = fj({"audit", "--expect-head", "9:" + head[1].str()});
  EXPECT_EQ(findings.exit_code, 1) << findings;
  EXPECT_TRUE(contains(findings.out, "1 finding:\n")) << findings;
  EXPECT_TRUE(contains(findings.out, "head seq 8, chain head " + head[1].str())) << findings;
  EXPECT_FALSE(contains(findings.out, "--expect-head")) << findings;
  EXPECT_FALSE(contains(findings.out, "(keep")) << findings;
}

TEST_F(PopulatedCliTest, EveryReadCommandExitsTwoWhenStdoutCannotBeWritten) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"counts"},
                                             {"counts", "--json"},
                                             {"log"},
                                             {"log", "--json"},
                                             {"stats"},
                                             {"stats", "--json"},
                                             {"explain", "t1"},
                                             {"explain", "t1", "--json"},
                                             {"replay"},
                                             {"replay", "--json"},
                                             {"audit"},
                                             {"audit", "--json"},
                                             {"export"}}) {
    SCOPED_TRACE("forkjournal " + ::testing::PrintToString(args));
    const Exited r = fj_to_full_device(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.err, std::string(kNoSpace) + "\n") << r;
  }
}

TEST_F(PopulatedCliTest, HelpExitsTwoWhenStdoutCannotBeWritten) {
  const Exited r = fj_to_full_device({"--help"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, std::string(kNoSpace) + "\n") << r;
}

// The backup is kept (it is complete and audited), but the exit code says
// that its head, the anchor to keep, never reached stdout.
TEST_F(CliTest, ABackupWhoseHeadCannotBePrintedExitsTwoAndNamesTheCompleteCopy) {
  populate();
  for (const bool json_output : {true, false}) {
    const std::string dest = tmp_.sub(json_output ? "backup-json" : "backup-text");
    std::vector<std::string> args{"backup", dest};
    if (json_output) args.push_back("--json");
    const Exited r = fj_to_full_device(args);
    EXPECT_EQ(r.exit_code, 2) << r;
    ASSERT_EQ(lines_of(r.err).size(), 1u) << r;
    EXPECT_TRUE(r.err.starts_with(kNoSpace)) << r;
    EXPECT_TRUE(contains(r.err, "the copy in " + dest + " is complete")) << r;
    EXPECT_TRUE(contains(r.err, "forkjournal --journal " + dest + " audit")) << r;
    EXPECT_TRUE(fs::is_regular_file(dest + "/data.mdb"));
    EXPECT_EQ(run_binary({"--journal", dest, "audit"}).exit_code, 0);
  }
}

TEST_F(CliTest, AWriteCommandWhoseReportCannotBePrintedExitsTwoAndSaysItIsCommitted) {
  init();
  const Exited r = fj_to_full_device({"register", "t1", "--source", "s1"});
  EXPECT_EQ(r.exit_code, 2) << r;
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r;
  EXPECT_TRUE(r.err.starts_with(kNoSpace)) << r;
  EXPECT_TRUE(contains(r.err, "committed")) << r;
  EXPECT_EQ(head(), 1);
}

// --- out-of-range and invalid values on read commands ------------------------

// `counts --as-of` with a value that does not fit in 64 bits is a usage
// error, not clamped to the head.
TEST_F(PopulatedCliTest, CountsAsOfOutOfRangeIsUsageError) {
  const std::string beyond = "is out of range: beyond the head of any journal";
  expect_usage_error({"counts", "--as-of", "99999999999999999999999"}, "--as-of");
  expect_usage_error({"counts", "--as-of", "99999999999999999999999"}, beyond);
  expect_usage_error({"counts", "--as-of", "18446744073709551615"},
                     "--as-of: '18446744073709551615' " + beyond);
  expect_usage_error({"log", "--from", "10000000000000000000"}, beyond);
  EXPECT_EQ(head(), 8);
}

// An invalid id given to a read command is a usage error like on the write path,
// not a not_found refusal (or, for log --template, silently nothing).
TEST_F(PopulatedCliTest, InvalidIdOnReadCommandsIsUsageError) {
  expect_usage_error({"explain", "../x"}, "invalid template id");
  expect_usage_error({"log", "--template", "../x"}, "invalid template id");
  EXPECT_EQ(head(), 8);
}

// A write command on a directory whose data.mdb is not an LMDB file fails
// (exit 2) and leaves no lock.mdb behind.
TEST(CliNotAJournal, WriteCommandOnAForeignDataFileCreatesNoFile) {
  TempDir tmp;
  const std::string dir = tmp.sub("garbage");
  fs::create_directories(dir);
  std::ofstream(dir + "/data.mdb") << std::string(8192, 'z');
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"register", "t1", "--source", "s1"}, {"snapshot"}}) {
    std::vector<std::string> full{"--journal", dir};
    full.insert(full.end(), args.begin(), args.end());
    const Exited r = run_binary(full);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(listing(dir), std::set<std::string>{"data.mdb"}) << args[0];
    fs::remove(dir + "/lock.mdb");
  }
}

// --- reconcile and import ---------------------------------------------------

class CliDataRootTest : public CliTest {
 protected:
  void SetUp() override {
    fs::copy(std::string(FJ_FIXTURES) + "/hypeman-sample", root_.path() + "/root",
             fs::copy_options::recursive);
    init();
  }
  std::string root() const { return root_.path() + "/root"; }
  void journal_like_the_fixture() {
    ok({"register", kWeb, "--source", "src0web0000000000000001", "--name", "web"});
    ok({"register", kDb, "--source", "src0db00000000000000001", "--name", "db"});
    ok({"register", kCi, "--source", "src0ci00000000000000001", "--name", "ci"});
    for (const char* f :
         {"frk0web0000000000000001", "frk0web0000000000000002", "frk0web0000000000000003"}) {
      ok({"fork", kWeb, f});
    }
    ok({"fork", kCi, "frk0ci00000000000000001"});
  }

  static constexpr const char* kWeb = "tpl0web0000000000000001";
  static constexpr const char* kDb = "tpl0db00000000000000001";
  static constexpr const char* kCi = "tpl0ci00000000000000001";
  TempDir root_;
};

TEST_F(CliDataRootTest, ReconcileJsonReportsCorrectionsAndWhatNeedsAPerson) {
  journal_like_the_fixture();
  fs::remove_all(root() + "/guests/frk0web0000000000000002");
  const std::int64_t before = head();
  const Exited r = fj({"reconcile", "--data-root", root(), "--json", "--fork-grace", "0"});
  EXPECT_EQ(r.exit_code, 1) << r;  // unreadable instances and a kept template
  const json::object out = parse_json(r.out).as_object();
  for (const char* key : {"based_on_seq", "corrections", "swept", "kept", "unreadable", "dangling",
                          "committed", "sweep_blocked"}) {
    EXPECT_TRUE(out.contains(key)) << key;
  }
  EXPECT_EQ(num(out.at("based_on_seq")), before);
  ASSERT_EQ(out.at("corrections").as_array().size(), 1u);
  const json::object& c = out.at("corrections").as_array()[0].as_object();
  EXPECT_EQ(str(c.at("type")), "fork_lost");
  EXPECT_EQ(str(c.at("fork")), "frk0web0000000000000002");
  EXPECT_EQ(str(c.at("reason")), "instance_missing");
  EXPECT_TRUE(contains(str(c.at("evidence")), "guests/frk0web0000000000000002"));
  EXPECT_TRUE(out.at("swept").as_array().empty());  // an instance is unreadable
  EXPECT_EQ(str(out.at("kept").as_array()[0].at("template")), kCi);
  EXPECT_EQ(out.at("unreadable").as_array().size(), 2u);
  EXPECT_TRUE(out.at("committed").as_bool());
  EXPECT_EQ(head(), before + 2);                        // fork_lost + reconcile_run
  EXPECT_EQ(num(template_entry(kWeb).at("forks")), 2);  // the torn frk0web…3 stays live
}

// A fork recorded moments ago whose directory is not there yet: the VM
// manager may still be making it, so it stays live (pending) for the grace.
TEST_F(CliDataRootTest, AForkRecordedWithinTheGraceIsPendingNotLost) {
  journal_like_the_fixture();
  fs::remove_all(root() + "/guests/frk0web0000000000000002");
  const std::int64_t before = head();
  const Exited r = fj({"reconcile", "--data-root", root()});
  EXPECT_TRUE(contains(r.out, "pending fork frk0web0000000000000002 of " + std::string(kWeb) +
                                  ": no guests/frk0web0000000000000002 yet, recorded "))
      << r;
  EXPECT_FALSE(contains(r.out, "fork_lost")) << r;
  EXPECT_TRUE(contains(r.out, "nothing appended: the pending forks are weighed again")) << r;
  EXPECT_EQ(num(template_entry(kWeb).at("forks")), 3);
  EXPECT_EQ(head(), before);  // nothing to append: no marker either

  const Exited j = fj({"reconcile", "--data-root", root(), "--dry-run", "--json"});
  const json::value report = parse_json(j.out);
  const json::array& pending = report.at("pending").as_array();
  ASSERT_EQ(pending.size(), 1u) << j;
  EXPECT_EQ(str(pending[0].at("fork")), "frk0web0000000000000002");
  EXPECT_EQ(str(pending[0].at("template")), kWeb);

  const Exited bad = fj({"reconcile", "--data-root", root(), "--fork-grace", "ten minutes"});
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_TRUE(contains(bad.err, "--fork-grace")) << bad;
  EXPECT_EQ(head(), before);
}

TEST_F(CliDataRootTest, ReconcileDryRunWritesNothing) {
  journal_like_the_fixture();
  fs::remove_all(root() + "/guests/frk0web0000000000000002");
  const std::string bytes = file_text(dir_ + "/data.mdb");
  const Exited r = fj({"reconcile", "--data-root", root(), "--dry-run", "--fork-grace", "0"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(contains(r.out, "would append fork_lost")) << r;
  EXPECT_TRUE(contains(r.out, "nothing written")) << r;
  EXPECT_EQ(file_text(dir_ + "/data.mdb"), bytes);
}

TEST_F(CliDataRootTest, ReconcileOfAnAgreeingDataRootExitsZeroAndAppendsNothing) {
  fs::remove_all(root() + "/guests/frk0web0000000000000003");
  fs::remove_all(root() + "/guests/ins0empty00000000000001");
  fs::remove_all(root() + "/guests/frk0ci00000000000000001");
  ok({"register", kWeb, "--source", "src0web0000000000000001"});
  ok({"fork", kWeb, "frk0web0000000000000001"});
  ok({"fork", kWeb, "frk0web0000000000000002"});
  const Exited r = fj({"reconcile", "--data-root", root()});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(contains(r.out, "nothing appended")) << r;
  EXPECT_EQ(head(), 3);
}

TEST_F(CliDataRootTest, ReconcileSweepsPastALeftoverAndProvesATornForkByItsLink) {
  journal_like_the_fixture();
  fs::remove_all(root() + "/guests/ins0empty00000000000001");
  fs::create_directories(root() + "/guests/ins0leak00000000000001/snapshots");  // a leftover
  const std::string src = root() + "/guests/src0web0000000000000001/snapshots/snapshot-latest";
  const std::string frk = root() + "/guests/frk0web0000000000000003/snapshots/snapshot-latest";
  fs::create_directories(src);
  fs::create_directories(frk);
  std::ofstream(src + "/memory") << "memory";
  fs::create_symlink(src + "/memory", frk + "/memory");  // frk0web…3's metadata is torn
  const Exited r = fj({"reconcile", "--data-root", root()});
  EXPECT_EQ(r.exit_code, 1) << r;  // the leftover and the torn metadata need a person
  EXPECT_TRUE(contains(r.out, "template_retired template=" + std::string(kDb))) << r;
  EXPECT_TRUE(contains(r.out, "leftover guests/ins0leak00000000000001")) << r;
  EXPECT_TRUE(contains(r.out, "proven by its memory link")) << r;
  EXPECT_EQ(str(template_entry(kDb).at("state")), "retired");
  EXPECT_EQ(num(template_entry(kWeb).at("forks")), 3);

  const Exited again = fj({"reconcile", "--data-root", root(), "--json"});
  EXPECT_EQ(again.exit_code, 1) << again;
  const json::object out = parse_json(again.out).as_object();
  EXPECT_EQ(out.at("leftovers").as_array().size(), 1u);
  EXPECT_TRUE(out.at("held").as_array().empty());
  const json::object& kept = out.at("kept_forks").as_array()[0].as_object();
  EXPECT_EQ(str(kept.at("fork")), "frk0web0000000000000003");
  EXPECT_TRUE(contains(str(kept.at("proven_by")), "src0web0000000000000001")) << again;
  EXPECT_FALSE(out.at("committed").as_bool());
}

TEST_F(CliDataRootTest, ReconcileNeedsAReadableDataRoot) {
  expect_usage_error({"reconcile"}, "--data-root");
  expect_usage_error({"reconcile", "--data-root", root() + "/missing"}, "missing");
  EXPECT_EQ(head(), 0);
}

// A data root built per test: templates whose sources have memory files,
// forks whose memory symlinks a source's.
class CliReconcileTest : public CliTest {
 protected:
  void SetUp() override { init(); }
  // Source `source` of template `tpl`, registered, with its own memory.
  void source(const std::string& source, const std::string& tpl) {
    disk_.instance(source, "", true, tpl);
    disk_.memory(source);
    disk_.template_dir(tpl, source);
    ok({"register", tpl, "--source", source});
  }
  // A fork of `tpl` on disk whose memory links `links`'s, live in the journal.
  void fork(const std::string& tpl, const std::string& fork, const std::string& links) {
    disk_.instance(fork, tpl);
    disk_.memory_symlink(fork, links);
    ok({"fork", tpl, fork});
  }
  Exited dry_run(bool as_json = false) const {
    std::vector<std::string> args{"reconcile", "--data-root", disk_.path(), "--dry-run"};
    if (as_json) args.push_back("--json");
    return fj(args);
  }
  std::string guests() const { return disk_.path() + "/guests/"; }

  DataRoot disk_;
};

// A live fork linking a template that is then retired holds its files, and
// the wrong link stays reported, also once that template's source is gone.
TEST_F(CliReconcileTest, ALiveLinkToARetiredTemplateHoldsItAndNeedsAPerson) {
  source("S1", "T1");
  source("S2", "T2");
  fork("T1", "F", "S2");
  ok({"retire", "T2"});
  for (bool source_gone : {false, true}) {
    if (source_gone) disk_.remove("S2");
    const Exited r = dry_run(/*as_json=*/true);
    EXPECT_EQ(r.exit_code, 1) << r;
    const json::object out = parse_json(r.out).as_object();
    ASSERT_EQ(out.at("link_mismatches").as_array().size(), 1u) << r;
    EXPECT_EQ(str(out.at("link_mismatches").as_array()[0].at("linked")), "T2");
    ASSERT_EQ(out.at("held").as_array().size(), 1u) << r;
    EXPECT_EQ(str(out.at("held").as_array()[0].at("template")), "T2");
    EXPECT_TRUE(out.at("retired_with_files").as_array().empty()) << r;
    EXPECT_TRUE(out.at("needs_attention").as_bool());
  }
}

// A live fork whose readable metadata names no template, kept because its
// memory cannot be examined, is not called unreadable; the closing line
// names what needs a person.
TEST_F(CliReconcileTest, AReadableKeptForkIsNotCalledUnreadable) {
  source("S1", "T1");
  disk_.instance("F");
  fs::create_directories(disk_.snapshot_dir("F") + "/memory");  // not a file
  ok({"fork", "T1", "F"});
  const Exited r = dry_run();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(contains(r.out, "kept live fork F of T1: ForkOfTemplate names none")) << r;
  EXPECT_FALSE(contains(r.out, "an unreadable fork is still a fork")) << r;
  EXPECT_TRUE(contains(r.out, "needs attention: see the kept fork entries above\n")) << r;
}

TEST_F(CliReconcileTest, TheClosingLineNamesALinkMismatch) {
  source("S1", "T1");
  source("S2", "T2");
  fork("T1", "F", "S2");
  const Exited r = dry_run();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(contains(r.out, "needs attention: see the link mismatch entries above\n")) << r;
}

TEST_F(CliReconcileTest, ALeftoverThatIsATemplatesSourceIsToBeKept) {
  source("S1", "T1");
  fork("T1", "F", "S1");
  fs::remove(guests() + "S1/metadata.json");
  const Exited r = dry_run();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(contains(r.out,
                       "guests/S1: source of template T1, its metadata.json is missing; "
                       "keep it"))
      << r;
  EXPECT_FALSE(contains(r.out, "remove it by hand")) << r;
  const json::object out = parse_json(dry_run(true).out).as_object();
  EXPECT_TRUE(out.at("leftovers").as_array().empty());
  EXPECT_EQ(str(out.at("kept_leftovers").as_array()[0].at("instance")), "S1");
}

TEST_F(CliReconcileTest, ALiveForkWithoutMetadataIsNotOfferedForRemoval) {
  source("S1", "T1");
  fork("T1", "F", "S1");
  fs::remove(guests() + "F/metadata.json");
  const Exited r = dry_run();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(contains(r.out, "kept live fork F of T1")) << r;
  EXPECT_TRUE(contains(r.out, "guests/F: live fork of template T1")) << r;
  EXPECT_FALSE(contains(r.out, "remove it by hand")) << r;
}

// An entry never read (a name that is no id, a file) may be any fork: it is
// listed, holds every orphan back and needs a person.
TEST_F(CliReconcileTest, SkippedEntriesAreListedAndHoldEveryOrphan) {
  source("S1", "T1");
  source("S9", "T9");
  const std::string odd = guests() + "fork-\xc3\xa9";
  fs::create_directories(odd + "/snapshots/snapshot-latest");
  std::ofstream(odd + "/metadata.json") << "{\"Id\":\"fork-\xc3\xa9\",\"ForkOfTemplate\":\"T1\"}";
  fs::create_symlink(guests() + "S1/snapshots/snapshot-latest/memory",
                     odd + "/snapshots/snapshot-latest/memory");
  disk_.remove("S1");
  const Exited r = dry_run();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_FALSE(contains(r.out, "template_retired")) << r;
  EXPECT_TRUE(contains(r.out, "skipped guests/fork-\\xc3\\xa9: the name is not a valid id")) << r;
  const json::object out = parse_json(dry_run(true).out).as_object();
  ASSERT_EQ(out.at("skipped").as_array().size(), 1u);
  EXPECT_EQ(str(out.at("skipped").as_array()[0].at("entry")), "fork-\\xc3\\xa9");
  EXPECT_TRUE(out.at("swept").as_array().empty());
}

TEST_F(CliReconcileTest, ASourceReplacedByAFileNeedsAPerson) {
  source("S1", "T1");
  disk_.remove("S1");
  std::ofstream(guests() + "S1") << "not a directory";
  const Exited r = dry_run();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(contains(r.out, "skipped guests/S1: not a directory")) << r;
  EXPECT_TRUE(contains(r.out, "needs attention: see the skipped entries above\n")) << r;
}

TEST_F(CliDataRootTest, ImportBootstrapsAnEmptyJournalFromTheFixture) {
  const Exited r = fj({"import", "--data-root", root(), "--json"});
  EXPECT_EQ(r.exit_code, 1) << r;  // two unreadable instances need a person
  const json::object out = parse_json(r.out).as_object();
  EXPECT_EQ(num(out.at("templates")), 3);
  EXPECT_EQ(num(out.at("forks")), 3);
  EXPECT_EQ(out.at("fork_count_mismatches").as_array().size(), 3u);
  EXPECT_EQ(out.at("unreadable").as_array().size(), 2u);
  EXPECT_EQ(head(), 6);
  EXPECT_EQ(num(template_entry(kWeb).at("forks")), 2);
  for (const json::object& e : log_json()) EXPECT_EQ(str(e.at("origin")), "import");
}

TEST_F(CliDataRootTest, ImportIntoANonEmptyJournalIsRefused) {
  ok({"register", "t1", "--source", "s1"});
  expect_refused({"import", "--data-root", root()}, "not_empty");
}

}  // namespace
