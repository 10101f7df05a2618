// The wire protocol (docs/protocol.md) in-process: a Dispatcher serves one
// end of a socketpair with a real Service on a temp journal; the test speaks
// newline-delimited JSON on the other end and checks the bytes it gets back.
#include "daemon/dispatcher.h"
#include "daemon/service.h"
#include "support/data_root.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace fj::service {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using fj::testing::DataRoot;
using fj::testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = std::chrono::seconds(10);
constexpr const char* kVersion = "9.9.9-test";

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceOptions options;
    options.journal = dir_.sub("journal");
    options.sync = SyncMode::none;
    options.data_root = data_root_.path();
    auto started = Service::start(io_.get_executor(), options);
    ASSERT_TRUE(started) << started.error().message;
    service_ = std::move(*started);
    dispatcher_.emplace(io_.get_executor(), *service_, kVersion);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0) << std::strerror(errno);
    client_ = fds[0];
    // The io_context does not run yet, so this thread is the executor's.
    dispatcher_->serve(Dispatcher::Socket(io_, asio::local::stream_protocol(), fds[1]));
    runner_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    // The connection sees end-of-file and ends; then io_ runs out of work.
    if (runner_.joinable()) runner_.join();
    dispatcher_.reset();
    service_.reset();
  }

  // Writes `bytes` as they are (no newline added).
  void write_raw(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(client_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send: " << std::strerror(errno);
      done += static_cast<std::size_t>(n);
    }
  }

  // The next reply line without its newline; nullopt on end-of-file.
  std::optional<std::string> read_line() {
    const auto deadline = Clock::now() + kTimeout;
    for (;;) {
      if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{client_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
        ADD_FAILURE() << "no reply within " << kTimeout.count() << " s; have '" << pending_ << "'";
        return std::nullopt;
      }
      char chunk[4096];
      const ssize_t n = ::recv(client_, chunk, sizeof chunk, 0);
      if (n == 0) return std::nullopt;
      if (n < 0) {
        ADD_FAILURE() << "recv: " << std::strerror(errno);
        return std::nullopt;
      }
      pending_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Sends one request line and returns the reply line.
  std::string call(const std::string& line) {
    write_raw(line + "\n");
    return read_line().value_or("<end of file>");
  }

  json::object call_json(const std::string& line) {
    const std::string reply = call(line);
    boost::system::error_code ec;
    json::value v = json::parse(reply, ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "reply is not a JSON object: " << reply;
      return {};
    }
    return v.as_object();
  }

  // Runs fn on the io_context's thread and waits for it.
  template <class Fn>
  auto on_executor(Fn fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  TempDir dir_;
  DataRoot data_root_;
  asio::io_context io_;
  std::unique_ptr<Service> service_;
  std::optional<Dispatcher> dispatcher_;
  std::thread runner_;
  int client_ = -1;
  std::string pending_;
};

TEST_F(DispatchTest, PingAnswersTheVersionAndEchoesTheId) {
  EXPECT_EQ(call(R"({"op":"ping","id":1})"), R"({"id":1,"ok":true,"version":"9.9.9-test"})");
  EXPECT_EQ(call(R"({"op":"ping","id":{"k":[1,"x"]}})"),
            R"({"id":{"k":[1,"x"]},"ok":true,"version":"9.9.9-test"})");
  EXPECT_EQ(call(R"({"op":"ping"})"), R"({"id":null,"ok":true,"version":"9.9.9-test"})");
}

TEST_F(DispatchTest, EveryOpAnswersItsFields) {
  EXPECT_EQ(call(R"({"op":"register","id":1,"template":"t1","source":"src1","name":"web"})"),
            R"({"id":1,"ok":true,"seq":1})");
  EXPECT_EQ(call(R"({"op":"fork","id":2,"template":"t1","fork":"f1"})"),
            R"({"id":2,"ok":true,"seq":2})");
  EXPECT_EQ(call(R"({"op":"fork","id":3,"template":"t1","fork":"f2"})"),
            R"({"id":3,"ok":true,"seq":3})");
  EXPECT_EQ(call(R"({"op":"unfork","id":4,"template":"t1","fork":"f2"})"),
            R"({"id":4,"ok":true,"seq":4})");
  EXPECT_EQ(call(R"({"op":"counts","id":5})"),
            R"({"id":5,"ok":true,"seq":4,"templates":[{"template":"t1","source":"src1",)"
            R"("name":"web","state":"active","forks":1}]})");
  EXPECT_EQ(call(R"({"op":"template","id":6,"template":"t1"})"),
            R"({"id":6,"ok":true,"template":"t1","source":"src1","name":"web",)"
            R"("state":"active","forks":1,"live_forks":["f1"],"last_seq":4,"seq":4})");
  EXPECT_EQ(call(R"({"op":"snapshot","id":7})"), R"({"id":7,"ok":true,"seq":4})");

  // The data root is empty: f1 has no directory, but it was recorded within
  // the service's default grace, so a dry run reports it pending, plans no
  // fork_lost and appends nothing.
  const json::object reconcile = call_json(R"({"op":"reconcile","id":8,"dry_run":true})");
  EXPECT_EQ(reconcile.at("id"), 8);
  EXPECT_EQ(reconcile.at("ok"), true);
  EXPECT_EQ(reconcile.at("based_on_seq"), 4);
  EXPECT_EQ(reconcile.at("committed"), false);
  EXPECT_TRUE(reconcile.at("corrections").as_array().empty()) << reconcile;
  ASSERT_EQ(reconcile.at("pending").as_array().size(), 1u) << reconcile;
  const json::object& pending = reconcile.at("pending").as_array()[0].as_object();
  EXPECT_EQ(pending.at("fork"), "f1");
  EXPECT_EQ(pending.at("template"), "t1");
  EXPECT_EQ(pending.at("seq"), 2);

  const json::object stats = call_json(R"({"op":"stats","id":9})");
  EXPECT_EQ(stats.at("id"), 9);
  EXPECT_EQ(stats.at("ok"), true);
  EXPECT_EQ(stats.at("events"), 4);
  EXPECT_EQ(stats.at("head_seq"), 4);
  EXPECT_EQ(stats.at("requests"), 4);
  EXPECT_EQ(stats.at("appended"), 4);
  EXPECT_EQ(stats.at("reconciles"), 2);            // the boot run and the dry run
  EXPECT_GE(stats.at("snapshots").as_int64(), 2);  // boot and requested
  for (const char* key : {"commits", "average_batch", "uptime_seconds"}) {
    EXPECT_TRUE(stats.contains(key)) << key << " missing: " << stats;
  }

  EXPECT_EQ(call(R"({"op":"unfork","id":10,"template":"t1","fork":"f1"})"),
            R"({"id":10,"ok":true,"seq":5})");
  EXPECT_EQ(call(R"({"op":"retire","id":11,"template":"t1"})"), R"({"id":11,"ok":true,"seq":6})");
  EXPECT_EQ(service_->stats().head_seq, 6u);
}

TEST_F(DispatchTest, MalformedLinesAreBadRequestsAndTheConnectionGoesOn) {
  const json::object malformed = call_json(R"({"op":"ping",)");
  EXPECT_EQ(malformed.at("id"), nullptr);
  EXPECT_EQ(malformed.at("ok"), false);
  EXPECT_EQ(malformed.at("error").at("code"), "bad_request");
  EXPECT_TRUE(malformed.at("error").at("message").as_string().starts_with("malformed JSON"))
      << malformed;

  EXPECT_EQ(call(R"([1,2])"), R"({"id":null,"ok":false,"error":{"code":"bad_request",)"
                              R"("message":"a request is a JSON object"}})");
  EXPECT_EQ(call(R"({"id":3,"op":"fork","template":"t1"})"),
            R"({"id":3,"ok":false,"error":{"code":"bad_request",)"
            R"("message":"field \"fork\" is missing or not a string"}})");
  EXPECT_EQ(call(R"({"id":4,"op":"frobnicate"})"),
            R"({"id":4,"ok":false,"error":{"code":"unknown_op",)"
            R"("message":"unknown op \"frobnicate\""}})");
  const json::object invalid = call_json(R"({"id":5,"op":"retire","template":"../x"})");
  EXPECT_EQ(invalid.at("error").at("code"), "invalid_id") << invalid;

  // Blank lines get no reply; a trailing \r is ignored.
  write_raw("\n\r\n");
  EXPECT_EQ(call("{\"op\":\"ping\",\"id\":6}\r"), R"({"id":6,"ok":true,"version":"9.9.9-test"})");
  EXPECT_EQ(service_->stats().head_seq, 0u);
}

TEST_F(DispatchTest, PipelinedRequestsAreAnsweredInOrder) {
  write_raw(R"({"op":"register","id":"a","template":"t1","source":"s1"})"
            "\n"
            R"({"op":"fork","id":"b","template":"t1","fork":"f1"})"
            "\n"
            R"({"op":"ping","id":"c"})"
            "\n");
  EXPECT_EQ(read_line(), R"({"id":"a","ok":true,"seq":1})");
  EXPECT_EQ(read_line(), R"({"id":"b","ok":true,"seq":2})");
  EXPECT_EQ(read_line(), R"({"id":"c","ok":true,"version":"9.9.9-test"})");
}

TEST_F(DispatchTest, ARetriedRequestIdReturnsTheOriginalSeqAndAppendsNothing) {
  EXPECT_EQ(call(R"({"op":"register","id":1,"template":"t1","source":"s1"})"),
            R"({"id":1,"ok":true,"seq":1})");
  EXPECT_EQ(call(R"({"op":"fork","id":2,"template":"t1","fork":"f1","request_id":"vmm-7731"})"),
            R"({"id":2,"ok":true,"seq":2})");
  EXPECT_EQ(call(R"({"op":"fork","id":3,"template":"t1","fork":"f2"})"),
            R"({"id":3,"ok":true,"seq":3})");
  EXPECT_EQ(call(R"({"op":"fork","id":4,"template":"t1","fork":"f1","request_id":"vmm-7731"})"),
            R"({"id":4,"ok":true,"seq":2,"replayed":true})");
  EXPECT_EQ(service_->stats().head_seq, 3u);

  // The same id for another request is refused and stores nothing.
  const json::object reused =
      call_json(R"({"op":"fork","id":5,"template":"t1","fork":"f9","request_id":"vmm-7731"})");
  EXPECT_EQ(reused.at("ok"), false);
  EXPECT_EQ(reused.at("error").at("code"), "bad_request") << reused;
  EXPECT_EQ(service_->stats().head_seq, 3u);
}

TEST_F(DispatchTest, RefusalsCarryTheirCodeAndAppendNothing) {
  EXPECT_EQ(call(R"({"op":"register","id":1,"template":"t1","source":"s1"})"),
            R"({"id":1,"ok":true,"seq":1})");
  EXPECT_EQ(call(R"({"op":"fork","id":2,"template":"t1","fork":"f1"})"),
            R"({"id":2,"ok":true,"seq":2})");

  const json::object in_use = call_json(R"({"op":"retire","id":3,"template":"t1"})");
  EXPECT_EQ(in_use.at("id"), 3);
  EXPECT_EQ(in_use.at("ok"), false);
  EXPECT_EQ(in_use.at("error").at("code"), "in_use") << in_use;
  EXPECT_NE(in_use.at("error").at("message").as_string().find('1'), json::string::npos)
      << "the message gives the count: " << in_use;

  EXPECT_EQ(call_json(R"({"op":"fork","id":4,"template":"t1","fork":"f1"})").at("error").at("code"),
            "already_live");
  EXPECT_EQ(call(R"({"op":"template","id":5,"template":"t9"})"),
            R"({"id":5,"ok":false,"error":{"code":"not_found",)"
            R"("message":"template 't9' is not registered"}})");
  EXPECT_EQ(service_->stats().head_seq, 2u);
}

TEST_F(DispatchTest, RequestsAfterTheServiceStoppedAreAnsweredStopping) {
  EXPECT_EQ(call(R"({"op":"register","id":1,"template":"t1","source":"s1"})"),
            R"({"id":1,"ok":true,"seq":1})");
  service_->stop();
  const json::object fork = call_json(R"({"op":"fork","id":2,"template":"t1","fork":"f1"})");
  EXPECT_EQ(fork.at("id"), 2);
  EXPECT_EQ(fork.at("ok"), false);
  EXPECT_EQ(fork.at("error").at("code"), "stopping") << fork;
  EXPECT_EQ(call_json(R"({"op":"counts","id":3})").at("error").at("code"), "stopping");
  EXPECT_EQ(service_->stats().head_seq, 1u);
}

TEST_F(DispatchTest, StopEndsTheConnectionAfterItsCurrentReply) {
  EXPECT_EQ(call(R"({"op":"ping","id":1})"), R"({"id":1,"ok":true,"version":"9.9.9-test"})");
  EXPECT_EQ(on_executor([this] { return dispatcher_->connections(); }), 1u);
  on_executor([this] { dispatcher_->stop(); });
  EXPECT_EQ(read_line(), std::nullopt) << "the connection should be closed";
  if (runner_.joinable()) runner_.join();  // io_ ran out of work: nothing is left
  EXPECT_EQ(dispatcher_->connections(), 0u);
}

TEST_F(DispatchTest, ALineOverTheLimitIsTooLargeAndClosesTheConnection) {
  write_raw(std::string(64 * 1024 + 1, 'x'));
  const std::optional<std::string> reply = read_line();
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, R"({"id":null,"ok":false,"error":{"code":"too_large",)"
                    R"("message":"request line longer than 65536 bytes"}})");
  EXPECT_EQ(read_line(), std::nullopt) << "the connection should be closed";
}

}  // namespace
}  // namespace fj::service
