// forkjournal fleet init against a real nats-server: creates the stream as
// the contract says, is idempotent, refuses a stream configured otherwise,
// and fails clearly without a server.
#include "fleet/internal/nats.h"
#include "fleet/stream.h"
#include "support/nats_server.h"
#include "support/process.h"
#include "support/ship_checks.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace fj::testing {
namespace {

namespace json = boost::json;

Exited fleet_init(const std::string& urls, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{FORKJOURNAL_BIN, "fleet", "init", "--nats", urls};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv);
}

// Stream FORKJOURNAL's info on `url`, or null (after a test failure).
fleet::nats::StreamInfoPtr stream_info(const std::string& url) {
  auto conn = fleet::nats::Connection::open(url);
  EXPECT_TRUE(conn) << conn.error().message;
  if (!conn) return nullptr;
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  EXPECT_EQ(js_GetStreamInfo(&raw, conn->js(), "FORKJOURNAL", nullptr, &jerr), NATS_OK);
  return fleet::nats::StreamInfoPtr(raw);
}

TEST(FleetInit, CreatesTheStreamOnceAndThenFindsItAsAsked) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  const auto first = fleet_init(server.url(), {"--json"});
  ASSERT_EQ(first.exit_code, 0) << first;
  const json::object created = json::parse(first.out).as_object();
  EXPECT_EQ(created.at("stream"), "FORKJOURNAL");
  EXPECT_EQ(created.at("subjects"), "forkjournal.events.>");
  EXPECT_EQ(created.at("created"), true);
  EXPECT_EQ(created.at("replicas"), 1);
  EXPECT_GT(created.at("duplicate_window_seconds").to_number<double>(), 0);

  const fleet::nats::StreamInfoPtr info = stream_info(server.url());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->Config->Storage, js_FileStorage);
  EXPECT_TRUE(info->Config->AllowDirect);
  ASSERT_EQ(info->Config->SubjectsLen, 1);
  EXPECT_STREQ(info->Config->Subjects[0], "forkjournal.events.>");

  const auto again = fleet_init(server.url());
  ASSERT_EQ(again.exit_code, 0) << again;
  EXPECT_NE(again.out.find("already there: stream FORKJOURNAL"), std::string::npos) << again;
}

TEST(FleetInit, RefusesAStreamConfiguredOtherwise) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_EQ(fleet_init(server.url()).exit_code, 0);
  const auto other = fleet_init(server.url(), {"--replicas", "3"});
  EXPECT_EQ(other.exit_code, 1) << other;
  EXPECT_NE(other.err.find("exists with another configuration: replicas 1, not 3"),
            std::string::npos)
      << other;
}

// A stream made by hand: init names each difference with the value the
// stream has, in one line with what to do, and changes nothing.
TEST(FleetInit, NamesWhatDiffersInAStreamMadeOtherwise) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  add_foreign_stream(server.url(), "other.>", js_MemoryStorage);
  const auto r = fleet_init(server.url());
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.out, "") << r;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r;
  EXPECT_NE(r.err.find("subjects other.>, not only forkjournal.events.>"), std::string::npos) << r;
  EXPECT_NE(r.err.find("memory storage, not file"), std::string::npos) << r;
  EXPECT_NE(r.err.find("nats stream edit FORKJOURNAL"), std::string::npos) << r;
  EXPECT_NE(r.err.find("nats stream rm FORKJOURNAL"), std::string::npos) << r;

  const fleet::nats::StreamInfoPtr info = stream_info(server.url());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->Config->Storage, js_MemoryStorage) << "init changed the stream";
  ASSERT_EQ(info->Config->SubjectsLen, 1);
  EXPECT_STREQ(info->Config->Subjects[0], "other.>");
}

TEST(FleetInit, FailsClearlyWithoutAServer) {
  const auto none = fleet_init("nats://127.0.0.1:" + std::to_string(free_port()));
  EXPECT_EQ(none.exit_code, 2) << none;
  EXPECT_NE(none.err.find("connecting to nats://127.0.0.1:"), std::string::npos) << none;
  const auto bad = fleet_init("http://example:4222");
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_NE(bad.err.find("is not a NATS URL"), std::string::npos) << bad;
}

TEST(FleetInit, CreatesAReplicatedStreamOnACluster) {
  TempDir dir;
  NatsCluster cluster(dir.sub("nats"));
  const auto created = fleet_init(cluster.urls(), {"--replicas", "3", "--json"});
  ASSERT_EQ(created.exit_code, 0) << created;
  EXPECT_EQ(json::parse(created.out).at("replicas"), 3);
}

}  // namespace
}  // namespace fj::testing
