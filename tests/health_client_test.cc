// `forkjournal health` against a server that answers badly: a reply with
// fields missing, one that drips a byte at a time, one that never ends its
// line. The probe must neither crash nor outlast its --timeout nor grow
// without bound: monitoring runs it unattended.
#include "support/process.h"
#include "support/temp_dir.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

namespace {

using namespace fj::testing;
using namespace std::chrono_literals;

// Listens on `path`; for one connection, reads the request line and hands
// the socket to `answer`. Stops when the test ends.
class BadServer {
 public:
  BadServer(const std::string& path, std::function<void(int fd, const std::atomic<bool>&)> answer)
      : answer_(std::move(answer)) {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    bound_ = listener_ >= 0 &&
             ::bind(listener_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
             ::listen(listener_, 4) == 0;
    if (bound_) thread_ = std::thread([this] { serve(); });
  }
  ~BadServer() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  bool bound() const { return bound_; }

 private:
  void serve() {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    char c = 0;
    while (::recv(fd, &c, 1, 0) == 1 && c != '\n') {
    }
    answer_(fd, stop_);
    ::close(fd);
  }

  std::function<void(int, const std::atomic<bool>&)> answer_;
  int listener_ = -1;
  bool bound_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void send_all(int fd, const std::string& s) {
  for (std::size_t sent = 0; sent < s.size();) {
    const ssize_t n = ::send(fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

Exited health(const std::string& socket, std::vector<std::string> more = {}) {
  std::vector<std::string> argv{FORKJOURNAL_BIN, "health", "--socket", socket};
  argv.insert(argv.end(), more.begin(), more.end());
  return run(argv, {.journal_env = std::nullopt, .timeout = 20s});
}

TEST(HealthClient, AReplyWithFieldsMissingIsShownNotACrash) {
  for (const std::string reply : {R"({"ok":true,"status":"healthy","map":{}})",
                                  R"({"ok":true,"status":"degraded","oldest_reader":{}})"}) {
    TempDir dir;
    const std::string socket = dir.sub("s.sock");
    BadServer server(socket, [&](int fd, const std::atomic<bool>&) { send_all(fd, reply + "\n"); });
    ASSERT_TRUE(server.bound());
    const Exited r = health(socket);
    EXPECT_EQ(r.exit_code, contains(reply, "healthy") ? 0 : 1) << reply << "\n" << r;
    EXPECT_TRUE(contains(r.out, "head seq none")) << r;
    EXPECT_TRUE(r.err.empty()) << r;
  }
}

// One byte every 100 ms, never a line end: the probe gives up at its
// --timeout, not the timeout of each read (which never expires).
TEST(HealthClient, AReplyThatDripsEndsAtTheTimeoutOfTheWholeExchange) {
  TempDir dir;
  const std::string socket = dir.sub("s.sock");
  BadServer server(socket, [](int fd, const std::atomic<bool>& stop) {
    for (int i = 0; i < 300 && !stop; ++i) {
      send_all(fd, " ");
      std::this_thread::sleep_for(100ms);
    }
  });
  ASSERT_TRUE(server.bound());
  const Exited r = health(socket, {"--timeout", "1"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(contains(r.err, "is unreachable: no reply within 1 s")) << r;
}

TEST(HealthClient, AReplyWithoutALineEndIsRefusedPastItsLimit) {
  TempDir dir;
  const std::string socket = dir.sub("s.sock");
  BadServer server(socket, [](int fd, const std::atomic<bool>& stop) {
    const std::string chunk(64 << 10, 'x');
    for (int i = 0; i < 1000 && !stop; ++i) send_all(fd, chunk);
  });
  ASSERT_TRUE(server.bound());
  const Exited r = health(socket);
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(contains(r.err, "a reply longer than 1048576 bytes without a line end")) << r;
}

}  // namespace
