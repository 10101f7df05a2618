// Closing a NATS connection, ending a walk of the stream, and stopping the
// shipper while the server is still sending. libnats 3.4.1 (Debian 12's)
// takes a subscription from the connection's table in its read loop without
// holding a reference, so a subscription freed at that moment is used after
// it is freed (docs/decisions.md, "A crash in libnats 3.4.1 as a connection
// closes"). The first test crashed within two rounds before
// Connection::close() drained first; the others check that a walk ended
// early and a shipper stopped mid-shipment leave nothing wrong behind.
#include "fleet/internal/nats.h"
#include "fleet/internal/stream_read.h"
#include "fleet/shipper.h"
#include "fleet/stream.h"
#include "fleet/stream_setup.h"
#include "support/nats_server.h"
#include "support/ship_checks.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#ifdef FJ_TEST_SANITIZED
// Under ASan a freed block is overwritten, so that the uninstrumented
// library reading a freed subscription crashes at once instead of reading
// stale but plausible bytes (TSan never calls this). Options given in
// ASAN_OPTIONS apply on top.
extern "C" const char* __asan_default_options() {
  return "max_free_fill_size=4096:free_fill_byte=255";
}
#endif

namespace fj::testing {
namespace {

using namespace std::chrono_literals;

const std::string kSubject = fleet::subject_for(std::string(32, 'c'));

// Stores `count` small messages on kSubject and waits until the stream
// holds them.
void store_messages(const fleet::nats::Connection& conn, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string body = "message " + std::to_string(i);
    ASSERT_EQ(js_PublishAsync(conn.js(), kSubject.c_str(), body.data(), int(body.size()), nullptr),
              NATS_OK);
  }
  ASSERT_EQ(js_PublishAsyncComplete(conn.js(), nullptr), NATS_OK);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    auto state = fleet::nats::subject_state(conn, fleet::kStreamName, kSubject);
    ASSERT_TRUE(state) << state.error().message;
    if (state->messages == std::uint64_t(count)) return;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << state->messages << " stored";
    std::this_thread::sleep_for(20ms);
  }
}

class NatsClose : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fleet::init_stream(server_.url(), 1)); }

  // Throws (failing the test) when the server does not answer.
  fleet::nats::Connection open() {
    auto conn = fleet::nats::Connection::open(server_.url());
    EXPECT_TRUE(conn) << conn.error().message;
    return std::move(conn).value();
  }

  TempDir dir_;
  NatsServer server_{dir_.sub("nats")};
};

// Connections closed from the test's thread while four others keep
// JetStream requests in flight on them: the replies stream in as the close
// frees the connection's reply subscription.
TEST_F(NatsClose, ClosingWhileRepliesAreInFlight) {
  for (int round = 0; round < 50; ++round) {
    fleet::nats::Connection conn = open();
    std::atomic<int> answered{0};
    std::vector<std::string> failures(4);
    std::vector<std::thread> askers;
    for (int t = 0; t < 4; ++t) {
      askers.emplace_back([&, t] {
        for (;;) {
          auto last = fleet::nats::last_message(conn, fleet::kStreamName, kSubject);
          if (!last) {
            failures[t] = last.error().message;
            return;
          }
          ++answered;
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (answered.load() < 4 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    EXPECT_GE(answered.load(), 4) << "round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 7));
    conn.close();
    for (std::thread& t : askers) t.join();
    // The requests end as the connection drains, or once it has closed.
    for (const std::string& failure : failures) {
      EXPECT_TRUE(failure.find("Draining in progress") != std::string::npos ||
                  failure.find("Connection Closed") != std::string::npos)
          << failure;
    }
    conn.close();  // again: nothing happens
  }
}

// Walks that end early, by the visitor's error, while the ordered consumer
// is still pushing the rest of the subject's messages.
TEST_F(NatsClose, EndingAWalkWhileMessagesArePushed) {
  fleet::nats::Connection conn = open();
  constexpr int kStored = 3000;
  ASSERT_NO_FATAL_FAILURE(store_messages(conn, kStored));
  for (int round = 0; round < 60; ++round) {
    const std::uint64_t stop_after = 1 + std::uint64_t(round) * 37 % 500;
    std::uint64_t seen = 0;
    const auto visit = [&](natsMsg*, std::uint64_t) -> Result<void> {
      if (++seen == stop_after) return make_error(Errc::invalid_argument, "enough");
      return {};
    };
    const Error failed =
        round % 2 == 0
            ? fleet::nats::for_each_in_stream(conn, fleet::kStreamName, kSubject, visit).error()
            : fleet::nats::for_each_message(conn, fleet::kStreamName, kSubject, 1, visit).error();
    EXPECT_EQ(failed.message, "enough");
    EXPECT_EQ(seen, stop_after);
  }
  // Whole walks still see every message once.
  auto all = fleet::nats::for_each_in_stream(
      conn, fleet::kStreamName, kSubject, [](natsMsg*, std::uint64_t) { return Result<void>(); });
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(*all, std::uint64_t(kStored));
}

// A shipper stopped again and again in the middle of shipping (a publish
// in flight), then allowed to finish: every event once, in order.
TEST_F(NatsClose, StoppingTheShipperMidShipment) {
  Journal journal = make_journal(dir_.sub("journal"));
  constexpr std::uint64_t kEvents = 20'000;
  append_forks(journal, kEvents);
  fleet::ShipOptions o;
  o.urls = server_.url();
  o.host = "host-a";
  std::uint64_t last_shipped = 0;
  for (int round = 0; round < 15; ++round) {
    auto shipper = fleet::Shipper::start(journal, o);
    ASSERT_TRUE(shipper) << shipper.error().message;
    (*shipper)->notify(kEvents);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((*shipper)->state().shipped_seq <= last_shipped &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    (*shipper)->stop();
    const auto state = (*shipper)->state();
    EXPECT_GT(state.shipped_seq, last_shipped) << "round " << round << ": " << state.last_error;
    EXPECT_FALSE(state.halted) << state.last_error;
    // A publish that the stop itself failed is no failure.
    EXPECT_EQ(state.failures, 0u) << state.last_error;
    last_shipped = state.shipped_seq;
    if (last_shipped == kEvents) break;
  }
  auto shipper = fleet::Shipper::start(journal, o);
  ASSERT_TRUE(shipper) << shipper.error().message;
  (*shipper)->notify(kEvents);
  ASSERT_TRUE(wait_shipped(**shipper, kEvents, 60s));
  (*shipper)->stop();
  EXPECT_TRUE(stream_matches(server_.url(), journal, "host-a"));
}

}  // namespace
}  // namespace fj::testing
