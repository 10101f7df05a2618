// forkjournal fleet init against a real nats-server: creates the stream as
// the contract says, is idempotent, refuses a stream configured otherwise,
// and fails clearly without a server.
#include "fleet/internal/nats.h"
#include "fleet/stream.h"
#include "support/nats_server.h"
#include "support/process.h"
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

  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_GetStreamInfo(&raw, conn->js(), "FORKJOURNAL", nullptr, &jerr), NATS_OK);
  fleet::nats::StreamInfoPtr info(raw);
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
