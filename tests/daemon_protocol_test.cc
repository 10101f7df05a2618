// forkjournald's wire protocol end to end (docs/protocol.md): the shape of
// every op's answer, every error code, id echoes, pipelining and framing
// limits, reconcile over the socket, and the daemon seeing writes the
// forkjournal tool makes beside it.
#include "crashtest/invariants.h"
#include "daemon/protocol.h"
#include "journal/journal.h"
#include "support/daemon_fixture.h"
#include "support/journal_reader.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace fj::testing;

// The protocol's line limit, written out so that changing it fails a test.
constexpr std::size_t kMaxLine = 64 * 1024;

// --- every op ------------------------------------------------------------------------

TEST_F(DaemonTest, EveryOpAnswersWithItsShape) {
  start();
  struct stat st {};
  ASSERT_EQ(::lstat(socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u) << "default --socket-mode";

  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  const json::object pong = call(c, {{"op", "ping"}, {"id", 1}});
  ASSERT_TRUE(is_ok(pong));
  ASSERT_TRUE(pong.contains("version"));
  EXPECT_TRUE(pong.at("version").is_string() && !pong.at("version").get_string().empty());

  // seqs: 1 reg t1, 2 reg t2, 3 fork t1 f1, 4 fork t1 f2, 5 fork t2 f3,
  //       6 unfork t2 f3, 7 unfork t1 f1, 8 retire t2.
  const std::vector<json::object> writes{
      register_request("t1", "s1", "Web base"), register_request("t2", "s2"),
      fork_request("fork", "t1", "f1"),         fork_request("fork", "t1", "f2"),
      fork_request("fork", "t2", "f3"),         fork_request("unfork", "t2", "f3"),
      fork_request("unfork", "t1", "f1"),       {{"op", "retire"}, {"template", "t2"}},
  };
  for (std::size_t i = 0; i < writes.size(); ++i) {
    json::object request = writes[i];
    request["id"] = "w" + std::to_string(i);
    const json::object r = call(c, request);
    ASSERT_TRUE(is_ok(r)) << show(request);
    EXPECT_EQ(u64(r, "seq"), i + 1) << show(r);
    EXPECT_FALSE(r.contains("noop")) << show(r);
    EXPECT_FALSE(r.contains("replayed")) << show(r);
  }

  const json::object counts = call(c, {{"op", "counts"}, {"id", "c"}});
  ASSERT_TRUE(is_ok(counts));
  EXPECT_EQ(u64(counts, "seq"), 8u);
  const json::value expected_templates = json::parse(R"([
    {"template":"t1","source":"s1","name":"Web base","state":"active","forks":1},
    {"template":"t2","source":"s2","name":"","state":"retired","forks":0}])");
  EXPECT_EQ(counts.at("templates"), expected_templates) << show(counts);
  // The same as `forkjournal counts --json`, which reads beside the daemon.
  const Exited tool = cli({"counts", "--json"});
  ASSERT_EQ(tool.exit_code, 0) << tool;
  json::object bare = counts;
  bare.erase("id");
  bare.erase("ok");
  EXPECT_EQ(json::value(bare), json::parse(tool.out)) << tool;

  const json::object t1 = call(c, {{"op", "template"}, {"template", "t1"}, {"id", "t"}});
  ASSERT_TRUE(is_ok(t1));
  EXPECT_EQ(t1.at("state"), "active");
  EXPECT_EQ(t1.at("source"), "s1");
  EXPECT_EQ(t1.at("name"), "Web base");
  EXPECT_EQ(u64(t1, "forks"), 1u);
  EXPECT_EQ(t1.at("live_forks"), json::parse(R"(["f2"])"));
  EXPECT_EQ(u64(t1, "last_seq"), 7u);
  EXPECT_EQ(u64(t1, "seq"), 8u);
  const json::object t2 = call(c, {{"op", "template"}, {"template", "t2"}});
  ASSERT_TRUE(is_ok(t2));
  EXPECT_EQ(t2.at("state"), "retired");
  EXPECT_EQ(t2.at("source"), "s2");
  EXPECT_TRUE(t2.at("live_forks").as_array().empty());

  const json::object snap = call(c, {{"op", "snapshot"}, {"id", "s"}});
  ASSERT_TRUE(is_ok(snap));
  EXPECT_EQ(u64(snap, "seq"), 8u);
  EXPECT_EQ(replay_journal(journal()).newest_snapshot, 8u) << "the snapshot is not stored";

  const json::object s = call(c, {{"op", "stats"}, {"id", "st"}});
  ASSERT_TRUE(is_ok(s));
  EXPECT_EQ(u64(s, "events"), 8u);
  EXPECT_EQ(u64(s, "head_seq"), 8u);
  EXPECT_EQ(u64(s, "appended"), 8u);
  EXPECT_EQ(u64(s, "requests"), 8u);
  EXPECT_EQ(u64(s, "commits"), 8u) << "one request at a time: one commit each";
  ASSERT_TRUE(s.contains("average_batch") && s.at("average_batch").is_number()) << show(s);
  EXPECT_DOUBLE_EQ(s.at("average_batch").to_number<double>(), 1.0);
  EXPECT_GE(u64(s, "snapshots"), 2u) << "boot + requested";
  ASSERT_TRUE(s.contains("uptime_seconds") && s.at("uptime_seconds").is_number()) << show(s);
  const double uptime = s.at("uptime_seconds").to_number<double>();
  EXPECT_GE(uptime, 0.0);
  EXPECT_LT(uptime, 60.0);
}

// The VM manager records a fork, then makes its directory; periodic
// reconciles in between keep the fork pending, so its template cannot be
// retired under it.
TEST_F(DaemonDataRootTest, PeriodicReconcilesKeepAForkWhoseDirectoryIsNotMadeYet) {
  start({"--data-root", root_, "--reconcile-every", "50ms"});
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_TRUE(is_ok(call(c, register_request(kWeb, "src0web0000000000000001", "web"))));
  ASSERT_TRUE(is_ok(call(c, fork_request("fork", kWeb, "frk0web0000000000000009"))));
  const std::uint64_t after_fork = u64(stats(c), "reconciles");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (u64(stats(c), "reconciles") < after_fork + 3 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GE(u64(stats(c), "reconciles"), after_fork + 3) << "no periodic reconciles ran";

  const json::object retire = call(c, {{"op", "retire"}, {"template", kWeb}, {"id", "retire"}});
  EXPECT_TRUE(is_error(retire, "in_use"));
  const json::object tpl = call(c, {{"op", "template"}, {"template", kWeb}, {"id", "tpl"}});
  const json::array& live = tpl.at("live_forks").as_array();
  EXPECT_NE(std::find(live.begin(), live.end(), json::value("frk0web0000000000000009")), live.end())
      << show(tpl);
  const json::object dry = call(c, {{"op", "reconcile"}, {"dry_run", true}, {"id", "dry"}});
  ASSERT_EQ(dry.at("pending").as_array().size(), 1u) << show(dry);
  EXPECT_EQ(dry.at("pending").as_array()[0].at("fork"), "frk0web0000000000000009");
}

TEST_F(DaemonDataRootTest, ReconcileDryRunWritesNothingAndARealRunHeals) {
  // No grace: the forks recorded below with no directory are lost at once.
  start({"--data-root", root_, "--fork-grace", "0"});
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  // The boot reconcile ran against the empty journal and appended nothing.
  const json::object boot = stats(c);
  EXPECT_EQ(u64(boot, "head_seq"), 0u);
  EXPECT_EQ(u64(boot, "reconciles"), 1u);

  // The journal as the manager recorded it (seqs 1-7).
  ASSERT_TRUE(is_ok(call(c, register_request(kWeb, "src0web0000000000000001", "web"))));
  ASSERT_TRUE(is_ok(call(c, register_request(kDb, "src0db00000000000000001", "db"))));
  ASSERT_TRUE(is_ok(call(c, register_request(kCi, "src0ci00000000000000001", "ci"))));
  for (const char* f :
       {"frk0web0000000000000001", "frk0web0000000000000002", "frk0web0000000000000003"}) {
    ASSERT_TRUE(is_ok(call(c, fork_request("fork", kWeb, f))));
  }
  ASSERT_TRUE(is_ok(call(c, fork_request("fork", kCi, "frk0ci00000000000000001"))));
  ASSERT_EQ(head(c), 7u);
  // The manager lost one fork's files.
  fs::remove_all(root_ + "/guests/frk0web0000000000000002");

  const std::string bytes = file_text(journal() + "/data.mdb");
  const json::object dry = call(c, {{"op", "reconcile"}, {"dry_run", true}, {"id", "dry"}});
  ASSERT_TRUE(is_ok(dry));
  EXPECT_EQ(dry.at("dry_run"), true);
  EXPECT_EQ(dry.at("committed"), false);
  EXPECT_EQ(u64(dry, "based_on_seq"), 7u);
  ASSERT_EQ(dry.at("corrections").as_array().size(), 1u) << show(dry);
  const json::object& fix = dry.at("corrections").as_array()[0].as_object();
  EXPECT_EQ(fix.at("type"), "fork_lost");
  EXPECT_EQ(fix.at("template"), kWeb);
  EXPECT_EQ(fix.at("fork"), "frk0web0000000000000002");
  EXPECT_EQ(fix.at("reason"), "instance_missing");
  EXPECT_EQ(dry.at("unreadable").as_array().size(), 2u) << show(dry);
  EXPECT_EQ(dry.at("kept").as_array().size(), 1u) << show(dry);
  EXPECT_EQ(dry.at("needs_attention"), true);
  EXPECT_EQ(head(c), 7u) << "a dry run appended events";
  EXPECT_EQ(file_text(journal() + "/data.mdb"), bytes) << "a dry run changed data.mdb";

  const json::object real = call(c, {{"op", "reconcile"}, {"id", "real"}});
  ASSERT_TRUE(is_ok(real));
  EXPECT_EQ(real.at("dry_run"), false);
  EXPECT_EQ(real.at("committed"), true);
  EXPECT_EQ(u64(real, "first_seq"), 8u);
  EXPECT_EQ(u64(real, "last_seq"), 9u);  // fork_lost + reconcile_run
  EXPECT_EQ(head(c), 9u);
  {  // The run is whole in the log: its correction directly before its marker.
    auto j = fj::Journal::open(journal(), fj::JournalOptions{.read_only = true});
    ASSERT_TRUE(j) << j.error().message;
    const fj::invariants::AckedRun run{u64(real, "first_seq"), u64(real, "last_seq"), 1, 0};
    const auto runs = fj::invariants::reconcile_runs_whole(*j, 0, 9, std::span(&run, 1));
    ASSERT_TRUE(runs) << runs.error().what;
    EXPECT_EQ(runs->runs, 1u);
    EXPECT_EQ(runs->corrections, 1u);
  }
  const json::object web = call(c, {{"op", "template"}, {"template", kWeb}});
  EXPECT_EQ(web.at("live_forks"),
            json::parse(R"(["frk0web0000000000000001","frk0web0000000000000003"])"));

  // Unforking what the reconciler already lost is a no-op at the fork_lost seq.
  const json::object late = call(c, fork_request("unfork", kWeb, "frk0web0000000000000002", 5));
  ASSERT_TRUE(is_ok(late));
  EXPECT_EQ(late.at("noop"), true);
  EXPECT_EQ(u64(late, "seq"), 8u);
  EXPECT_EQ(head(c), 9u);

  const json::object again = call(c, {{"op", "reconcile"}, {"dry_run", false}});
  ASSERT_TRUE(is_ok(again));
  EXPECT_EQ(again.at("committed"), false) << "a second run in a row must be a no-op";
  EXPECT_EQ(head(c), 9u);
  EXPECT_GE(u64(stats(c), "reconciles"), 3u);
}

// --- every error code ----------------------------------------------------------------

TEST_F(DaemonTest, EveryErrorCodeAndTheConnectionStaysUsable) {
  start();
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  // seqs: 1 reg t1, 2 reg t2, 3 fork t1 f1, 4 retire t2.
  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));
  ASSERT_TRUE(is_ok(call(c, register_request("t2", "s2"))));
  ASSERT_TRUE(is_ok(call(c, fork_request("fork", "t1", "f1"))));
  ASSERT_TRUE(is_ok(call(c, {{"op", "retire"}, {"template", "t2"}})));

  struct Case {
    std::string line;
    std::string code;
    json::value id = nullptr;  // expected echo
  };
  const std::string long_id(65, 'a');
  const std::string long_request_id(129, 'r');
  const std::vector<Case> cases{
      // bad_request: malformed, not an object, missing or wrong-typed fields.
      {R"({"op": "ping", )", "bad_request"},
      {"not json at all", "bad_request"},
      {R"(["op", "ping"])", "bad_request"},
      {R"("ping")", "bad_request"},
      {"42", "bad_request"},
      {R"({"id": 1})", "bad_request", 1},
      {R"({"id": 2, "op": 7})", "bad_request", 2},
      {R"({"id": 3, "op": "fork", "template": "t1"})", "bad_request", 3},
      {R"({"id": 4, "op": "fork", "template": "t1", "fork": 7})", "bad_request", 4},
      {R"({"id": 5, "op": "register", "template": "t3"})", "bad_request", 5},
      {R"({"id": 6, "op": "register", "template": "t3", "source": "s3", "name": 5})", "bad_request",
       6},
      {R"({"id": 7, "op": "reconcile", "dry_run": "yes"})", "bad_request", 7},
      {R"({"id": 8, "op": "template"})", "bad_request", 8},
      {R"({"id": 9, "op": "retire", "template": null})", "bad_request", 9},
      // bad_request: a bad request_id.
      {R"({"id": 10, "op": "fork", "template": "t1", "fork": "f9", "request_id": ""})",
       "bad_request", 10},
      {R"({"id": 11, "op": "fork", "template": "t1", "fork": "f9", "request_id": 17})",
       "bad_request", 11},
      {R"({"id": 12, "op": "fork", "template": "t1", "fork": "f9", "request_id": "a\u0001b"})",
       "bad_request", 12},
      {R"({"id": 13, "op": "fork", "template": "t1", "fork": "f9", "request_id": ")" +
           long_request_id + R"("})",
       "bad_request", 13},
      // bad_request: reconcile without a data root.
      {R"({"id": 14, "op": "reconcile"})", "bad_request", 14},
      // unknown_op
      {R"({"id": "u1", "op": "frobnicate"})", "unknown_op", "u1"},
      {R"({"id": "u2", "op": "FORK", "template": "t1", "fork": "f9"})", "unknown_op", "u2"},
      {R"({"op": ""})", "unknown_op"},
      // invalid_id
      {R"({"id": "i1", "op": "fork", "template": "bad id", "fork": "f9"})", "invalid_id", "i1"},
      {R"({"id": "i2", "op": "fork", "template": "t1", "fork": "a/b"})", "invalid_id", "i2"},
      {R"({"id": "i3", "op": "unfork", "template": "..", "fork": "f1"})", "invalid_id", "i3"},
      {R"({"id": "i4", "op": "register", "template": ")" + long_id + R"(", "source": "s"})",
       "invalid_id", "i4"},
      {R"({"id": "i5", "op": "register", "template": "t3", "source": "s!"})", "invalid_id", "i5"},
      {R"({"id": "i6", "op": "retire", "template": ""})", "invalid_id", "i6"},
      {R"({"id": "i7", "op": "template", "template": "x y"})", "invalid_id", "i7"},
      // Refusals.
      {R"({"id": "r1", "op": "register", "template": "t1", "source": "s9"})", "already_exists",
       "r1"},
      {R"({"id": "r2", "op": "fork", "template": "t9", "fork": "f9"})", "not_found", "r2"},
      {R"({"id": "r3", "op": "unfork", "template": "t1", "fork": "f9"})", "not_found", "r3"},
      {R"({"id": "r4", "op": "retire", "template": "t9"})", "not_found", "r4"},
      {R"({"id": "r5", "op": "template", "template": "t9"})", "not_found", "r5"},
      {R"({"id": "r6", "op": "fork", "template": "t2", "fork": "f9"})", "retired", "r6"},
      {R"({"id": "r7", "op": "retire", "template": "t2"})", "retired", "r7"},
      {R"({"id": "r8", "op": "fork", "template": "t1", "fork": "f1"})", "already_live", "r8"},
      {R"({"id": "r9", "op": "retire", "template": "t1"})", "in_use", "r9"},
  };
  std::set<std::string> codes;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& k = cases[i];
    SCOPED_TRACE(k.line);
    ASSERT_TRUE(c.send(k.line + "\n")) << c.error();
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_TRUE(is_error(*r, k.code));
    EXPECT_EQ(r->at("id"), k.id) << show(*r);
    codes.insert(k.code);
    if (k.code == "in_use") {
      EXPECT_TRUE(contains(message_of(*r), "1 live fork")) << show(*r);
    }
    if (k.code == "already_live") {
      EXPECT_TRUE(contains(message_of(*r), "t1")) << show(*r);
    }
    expect_pong(c, "case " + std::to_string(i));
  }
  EXPECT_EQ(codes.size(), 8u);
  EXPECT_EQ(head(c), 4u) << "an error appended events";
  EXPECT_EQ(replay_journal(journal()).head, 4u);
}

TEST_F(DaemonTest, ResponsesEchoIdsOfEveryJsonType) {
  start();
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  const std::vector<json::value> ids{
      0,
      -7,
      3.25,
      json::value(std::numeric_limits<std::uint64_t>::max()),
      "abc",
      "",
      "caf\xc3\xa9 \"quoted\"",
      true,
      false,
      nullptr,
      json::parse(R"([1, "two", {"three": 3}])"),
      json::parse(R"({"nested": {"k": [true, null]}})"),
  };
  for (const json::value& id : ids) {
    SCOPED_TRACE(json::serialize(id));
    // call() checks the echo on a success, on a parse-level error, on an
    // unknown op and on a refusal.
    EXPECT_TRUE(is_ok(call(c, {{"op", "ping"}, {"id", id}})));
    EXPECT_TRUE(is_error(call(c, {{"op", "nope"}, {"id", id}}), "unknown_op"));
    EXPECT_TRUE(is_error(call(c, {{"op", "fork"}, {"id", id}}), "bad_request"));
    EXPECT_TRUE(
        is_error(call(c, {{"op", "template"}, {"template", "t9"}, {"id", id}}), "not_found"));
  }
  // A fractional id comes back as the same number: Boost.JSON 1.81's own
  // parser is one unit in the last place off for -4.5e-37 (a fuzzer finding).
  for (const std::string_view id : {"-4.5e-37", "{\"k\":[0.1,1e-300]}"}) {
    SCOPED_TRACE(id);
    ASSERT_TRUE(c.send(R"({"op":"ping","id":)" + std::string(id) + "}\n")) << c.error();
    const auto line = c.read_line(kIoTimeout);
    ASSERT_TRUE(line) << c.error();
    json::error_code ec;
    const json::value echoed = fj::protocol::parse_json(*line, ec, 64);
    ASSERT_FALSE(ec) << *line;
    EXPECT_EQ(echoed.at("id"), fj::protocol::parse_json(id, ec, 64)) << *line;
  }
  // Without an id the response carries "id": null.
  const json::object r = call(c, {{"op", "ping"}});
  ASSERT_TRUE(r.contains("id"));
  EXPECT_TRUE(r.at("id").is_null());
}

// An integer beyond 64 bits could only come back as a different number (the
// nearest double), so it is refused, named, with "id": null; the 64-bit
// extremes come back as they went, and the connection goes on.
TEST_F(DaemonTest, AnIntegerBeyond64BitsIsRefusedAndTheExtremesComeBack) {
  start();
  Client c(socket());
  for (const std::string& big :
       {std::string("123456789012345678901234567890"), std::string("18446744073709551616"),
        std::string("-9223372036854775809")}) {
    SCOPED_TRACE(big);
    for (const std::string& line :
         {R"({"op":"ping","id":)" + big + "}", R"({"op":"ping","id":{"n":[)" + big + "]}}",
          R"({"op":"fork","template":"t","fork":"f","extra":)" + big + "}"}) {
      ASSERT_TRUE(c.send(line + "\n")) << c.error();
      const auto r = c.read_response();
      ASSERT_TRUE(r) << c.error();
      EXPECT_TRUE(is_error(*r, "bad_request")) << show(*r);
      EXPECT_EQ(r->at("id"), nullptr) << show(*r);
      EXPECT_NE(message_of(*r).find("integer " + big + " is out of range"), std::string::npos)
          << show(*r);
    }
  }
  for (const std::string& edge :
       {std::string("18446744073709551615"), std::string("-9223372036854775808")}) {
    SCOPED_TRACE(edge);
    ASSERT_TRUE(c.send(R"({"op":"ping","id":)" + edge + "}\n")) << c.error();
    const auto line = c.read_line();
    ASSERT_TRUE(line) << c.error();
    EXPECT_TRUE(line->starts_with(R"({"id":)" + edge + ",")) << *line;
  }
  // Not an integer beyond 64 bits, whatever the parser makes of its sign.
  EXPECT_TRUE(is_ok(call(c, {{"op", "ping"}, {"id", json::parse("-0")}})));
  EXPECT_EQ(head(c), 0u);
}

// The spellings docs/protocol.md shows: numbers keep their value, and the
// doubles come out in Boost.JSON's exponent form (a client must parse them
// as JSON numbers).
TEST_F(DaemonTest, NumbersComeBackInTheFormTheProtocolDocShows) {
  start();
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  const std::vector<std::pair<std::string, std::string>> echoes{
      {"7", "7"}, {"4.50", "4.5E0"}, {"1e2", "1E2"}, {"30.0", "3E1"}};
  for (const auto& [sent, back] : echoes) {
    ASSERT_TRUE(c.send(R"({"op":"ping","id":)" + sent + "}\n")) << c.error();
    const auto line = c.read_line(kIoTimeout);
    ASSERT_TRUE(line) << c.error();
    EXPECT_TRUE(line->starts_with(R"({"id":)" + back + ",")) << sent << " -> " << *line;
  }
  ASSERT_TRUE(c.send("{\"op\":\"health\"}\n")) << c.error();
  const auto health = c.read_line(kIoTimeout);
  ASSERT_TRUE(health) << c.error();
  EXPECT_NE(health->find(R"("writer":{"oldest_wait_seconds":0E0,"stuck_after_seconds":3E1})"),
            std::string::npos)
      << *health;
}

TEST_F(DaemonTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));

  // 80 requests in one write: forks, pings, errors and reads, with blank
  // lines (no response) and CRLF endings mixed in.
  constexpr int kRequests = 80;
  std::string batch;
  for (int i = 0; i < kRequests; ++i) {
    json::object r;
    switch (i % 4) {
      case 0:
        r = fork_request("fork", "t1", "f" + std::to_string(i));
        break;
      case 1:
        r = {{"op", "ping"}};
        break;
      case 2:
        r = {{"op", i % 8 == 2 ? "nope" : "retire"}, {"template", "t1"}};  // unknown_op / in_use
        break;
      case 3:
        r = {{"op", "counts"}};
        break;
    }
    r["id"] = i;
    batch += json::serialize(r) + (i % 5 == 0 ? "\r\n" : "\n");
    if (i % 7 == 0) batch += "\n";
  }
  ASSERT_TRUE(c.send(batch)) << c.error();
  std::uint64_t last_fork_seq = 1;
  for (int i = 0; i < kRequests; ++i) {
    const auto r = c.read_response();
    ASSERT_TRUE(r) << "response " << i << ": " << c.error();
    ASSERT_EQ(r->at("id"), json::value(i)) << "out of order: " << show(*r);
    switch (i % 4) {
      case 0:
        ASSERT_TRUE(is_ok(*r));
        EXPECT_EQ(u64(*r, "seq"), last_fork_seq + 1) << show(*r);
        last_fork_seq = u64(*r, "seq");
        break;
      case 1:
        EXPECT_TRUE(is_ok(*r));
        break;
      case 2:
        EXPECT_TRUE(is_error(*r, i % 8 == 2 ? "unknown_op" : "in_use"));
        break;
      case 3:
        ASSERT_TRUE(is_ok(*r));
        EXPECT_EQ(u64(*r, "seq"), last_fork_seq) << "a read did not see the fork before it";
        break;
    }
  }
  // Nothing more: a blank line has no response.
  EXPECT_TRUE(is_ok(call(c, {{"op", "ping"}, {"id", "end"}})));

  // A request split over several writes is one request.
  ASSERT_TRUE(c.send(R"({"op": "pi)"));
  ASSERT_TRUE(c.send(R"(ng", "id": "spl)"));
  ASSERT_TRUE(c.send("it\"}\n"));
  const auto split = c.read_response();
  ASSERT_TRUE(split) << c.error();
  EXPECT_TRUE(is_ok(*split));
  EXPECT_EQ(split->at("id"), "split");
}

TEST_F(DaemonTest, ALineOverTheLimitGetsTooLarge) {
  start();
  // Exactly kMaxLine bytes before the newline is still a request.
  {
    Client c(socket());
    ASSERT_TRUE(c.connected()) << c.error();
    std::string line = R"({"op": "ping", "id": "edge"})";
    line.append(kMaxLine - line.size(), ' ');
    ASSERT_EQ(line.size(), kMaxLine);
    ASSERT_TRUE(c.send(line + "\n")) << c.error();
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_TRUE(is_ok(*r));
    EXPECT_EQ(r->at("id"), "edge");
    expect_pong(c, "a line of exactly 64 KiB");
  }
  // One byte more is too_large; the server may close the connection after.
  {
    Client c(socket());
    ASSERT_TRUE(c.connected()) << c.error();
    std::string line = R"({"op": "ping", "id": "over"})";
    line.append(kMaxLine + 1 - line.size(), ' ');
    ASSERT_TRUE(c.send_until_closed(line + "\n")) << c.error();
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_TRUE(is_error(*r, "too_large"));
    if (c.send("{\"op\": \"ping\"}\n")) {
      if (const auto after = c.read_response(); after) {
        EXPECT_TRUE(is_ok(*after)) << show(*after);
      }
    }
  }
  // A long line without any newline gets too_large without waiting for one.
  {
    Client c(socket());
    ASSERT_TRUE(c.connected()) << c.error();
    ASSERT_TRUE(c.send_until_closed(std::string(100'000, 'x'))) << c.error();
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_TRUE(is_error(*r, "too_large"));
  }
  // The daemon serves the next connection.
  Client fresh(socket());
  ASSERT_TRUE(fresh.connected()) << fresh.error();
  expect_pong(fresh, "too_large on other connections");
}

// --- the tool beside the daemon ------------------------------------------------------

// Sends `bytes`, shuts down the sending side and returns everything the
// daemon writes until it closes (or 10 s pass).
std::string send_then_shut(const std::string& socket, const std::string& bytes) {
  const int fd = connect_unix(socket);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  if (fd < 0) return {};
  EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  EXPECT_EQ(::shutdown(fd, SHUT_WR), 0);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// A last line without its newline is not run, and the client is told so
// instead of seeing a bare end of file; complete lines before it are answered.
TEST_F(DaemonTest, ALastLineWithoutANewlineGetsBadRequest) {
  start();
  const std::string unterminated =
      R"({"id":null,"ok":false,"error":{"code":"bad_request","message":"request line not )"
      R"(terminated: the connection ended before a newline"}})"
      "\n";
  EXPECT_EQ(send_then_shut(socket(), R"({"op":"ping","id":1})"), unterminated);

  const std::string out =
      send_then_shut(socket(),
                     "{\"op\":\"register\",\"template\":\"t1\",\"source\":\"s1\",\"id\":1}\n"
                     "{\"op\":\"register\",\"template\":\"t2\",\"source\":\"s2\",\"id\":2}");
  EXPECT_EQ(out, "{\"id\":1,\"ok\":true,\"seq\":1}\n" + unterminated);
  Client c(socket());
  EXPECT_EQ(head(c), 1u) << "the unterminated register was not applied";
  // A shut-down write side after a complete line is an ordinary end.
  EXPECT_EQ(send_then_shut(socket(), "{\"op\":\"ping\",\"id\":3}\n").find("bad_request"),
            std::string::npos);
}

// The op is what the parsed request says, however the line spells it: an
// op written with JSON escapes subscribes, and a line that only mentions
// "subscribe" elsewhere is the request it names.
TEST_F(DaemonTest, AnOpSpelledWithEscapesIsTheOpItSpells) {
  start();
  Client writer(socket());
  ASSERT_TRUE(is_ok(call(writer, register_request("tpl", "src"))));
  const json::object mention = call(writer, {{"op", "ping"}, {"id", "subscribe"}});
  EXPECT_TRUE(is_ok(mention)) << show(mention);

  Client sub(socket());
  ASSERT_TRUE(sub.send("{\"op\":\"sub\\u0073cribe\",\"id\":1,\"from_seq\":1}\n"));
  const auto ack = sub.read_response();
  ASSERT_TRUE(ack) << sub.error();
  EXPECT_TRUE(is_ok(*ack)) << show(*ack);
  EXPECT_EQ(ack->at("subscribed"), true) << show(*ack);
  const auto event = sub.read_response();
  ASSERT_TRUE(event) << sub.error();
  ASSERT_TRUE(event->contains("event")) << show(*event);
  EXPECT_EQ(u64(event->at("event").as_object(), "seq"), 1u) << show(*event);

  Client other(socket());
  ASSERT_TRUE(other.send("{\"op\":\"\\u0070ing\",\"id\":2}\n"));
  const auto pong = other.read_response();
  ASSERT_TRUE(pong) << other.error();
  EXPECT_TRUE(is_ok(*pong)) << show(*pong);
  EXPECT_TRUE(pong->contains("version")) << show(*pong);
}

TEST_F(DaemonTest, AWriteByTheToolIsSeenByTheNextDecision) {
  start();
  Client c(socket());
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_TRUE(is_ok(call(c, register_request("t1", "s1"))));

  const Exited fork = cli({"fork", "t1", "f1"});
  ASSERT_EQ(fork.exit_code, 0) << fork;
  const json::object refused = call(c, fork_request("fork", "t1", "f1", "again"));
  EXPECT_TRUE(is_error(refused, "already_live"));
  const json::object next = call(c, fork_request("fork", "t1", "f2"));
  ASSERT_TRUE(is_ok(next));
  EXPECT_EQ(u64(next, "seq"), 3u) << "the daemon did not append after the tool's event";

  const Exited reg = cli({"register", "t2", "--source", "s2"});
  ASSERT_EQ(reg.exit_code, 0) << reg;
  const json::object forked = call(c, fork_request("fork", "t2", "f3"));
  ASSERT_TRUE(is_ok(forked)) << "the daemon did not see the tool's template";
  EXPECT_EQ(u64(forked, "seq"), 5u);
  const Exited unfork = cli({"unfork", "t1", "f1"});
  ASSERT_EQ(unfork.exit_code, 0) << unfork;
  EXPECT_TRUE(is_error(call(c, {{"op", "retire"}, {"template", "t2"}, {"id", "busy"}}), "in_use"));
  EXPECT_TRUE(is_ok(call(c, fork_request("fork", "t2", "f1")))) << "the tool's unfork was not seen";

  // The tool also reads beside the daemon.
  const Exited counts = cli({"counts", "--json"});
  ASSERT_EQ(counts.exit_code, 0) << counts;
  EXPECT_EQ(json::parse(counts.out).at("seq"), json::value(7));
}

}  // namespace
