// The health op's verdict (daemon/health.h) from chosen ServiceStats: each
// cause of "degraded" alone, and the fields a probe reads.
#include "daemon/health.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

namespace {

namespace json = boost::json;
using fj::service::health_json;
using fj::service::HealthOptions;
using fj::service::ReconcileSummary;
using fj::service::ServiceStats;

std::string reasons(const json::object& h) {
  return json::serialize(h.at("reasons"));
}

TEST(HealthDispatchTest, AnIdleServiceWithoutALimitIsHealthy) {
  ServiceStats s;
  s.head_seq = 7;
  s.map_used_bytes = 4096;
  s.map_size_bytes = 1 << 20;
  const json::object h = health_json(s, {});
  EXPECT_EQ(h.at("status"), "healthy");
  EXPECT_TRUE(h.at("reasons").as_array().empty());
  EXPECT_EQ(h.at("head_seq"), 7);
  EXPECT_TRUE(h.at("last_commit_age_seconds").is_null());
  EXPECT_TRUE(h.at("map").at("limit_bytes").is_null());
  EXPECT_TRUE(h.at("map").at("used_fraction").is_null());
  EXPECT_TRUE(h.at("last_reconcile").is_null());
  EXPECT_TRUE(h.at("oldest_reader").is_null());
}

TEST(HealthDispatchTest, AReaderOpenPastReaderAfterIsDegraded) {
  ServiceStats s;
  HealthOptions o;
  o.reader_after = std::chrono::seconds(60);
  s.oldest_reader = fj::service::ReaderSummary{.pid = 4242, .txn_lag = 17, .age_seconds = 60};
  json::object h = health_json(s, o);
  EXPECT_EQ(h.at("status"), "healthy") << reasons(h);
  EXPECT_EQ(h.at("oldest_reader").at("pid"), 4242);
  EXPECT_EQ(h.at("oldest_reader").at("txn_lag"), 17);
  s.oldest_reader->age_seconds = 61;
  h = health_json(s, o);
  EXPECT_EQ(h.at("status"), "degraded");
  EXPECT_NE(reasons(h).find("process 4242 has held a read transaction for 61 s (17 commits behind"),
            std::string::npos)
      << reasons(h);
}

TEST(HealthDispatchTest, AMapAboveItsFractionIsDegraded) {
  ServiceStats s;
  s.map_size_bytes = 1000;
  s.map_limit_bytes = 1000;
  s.map_used_bytes = 800;  // exactly 80 %: still healthy
  EXPECT_EQ(health_json(s, {}).at("status"), "healthy");
  s.map_used_bytes = 801;
  const json::object h = health_json(s, {});
  EXPECT_EQ(h.at("status"), "degraded");
  EXPECT_DOUBLE_EQ(h.at("map").at("used_fraction").as_double(), 0.801);
  EXPECT_NE(reasons(h).find("map 80.1% used"), std::string::npos) << reasons(h);
}

TEST(HealthDispatchTest, WorkWaitingPastStuckAfterIsDegraded) {
  ServiceStats s;
  HealthOptions o;
  o.stuck_after = std::chrono::seconds(5);
  s.oldest_wait_seconds = 5;
  EXPECT_EQ(health_json(s, o).at("status"), "healthy");
  s.oldest_wait_seconds = 5.5;
  const json::object h = health_json(s, o);
  EXPECT_EQ(h.at("status"), "degraded");
  EXPECT_NE(reasons(h).find("writer stuck"), std::string::npos) << reasons(h);
  EXPECT_EQ(h.at("writer").at("stuck_after_seconds"), 5.0);
}

TEST(HealthDispatchTest, AReconcileThatNeedsAPersonIsDegradedAndEveryCauseIsListed) {
  ServiceStats s;
  s.last_commit_age_seconds = 1.5;
  ReconcileSummary r;
  r.based_on_seq = 3;
  r.last_seq = 9;
  r.unreadable = 2;
  s.last_reconcile = r;
  EXPECT_EQ(health_json(s, {}).at("status"), "healthy") << "needs_attention is what counts";
  s.last_reconcile->needs_attention = true;
  s.map_limit_bytes = 10;
  s.map_used_bytes = 9;
  const json::object h = health_json(s, {});
  EXPECT_EQ(h.at("status"), "degraded");
  EXPECT_EQ(h.at("reasons").as_array().size(), 2u) << reasons(h);
  EXPECT_EQ(h.at("last_commit_age_seconds"), 1.5);
  const json::object& lr = h.at("last_reconcile").as_object();
  EXPECT_EQ(lr.at("based_on_seq"), 3);
  EXPECT_EQ(lr.at("last_seq"), 9);
  EXPECT_EQ(lr.at("unreadable"), 2);
  EXPECT_EQ(lr.at("needs_attention"), true);
}

}  // namespace
