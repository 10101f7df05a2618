// `forkjournal health`'s text output, against a stand-in for forkjournald: a
// socket that answers one canned health reply, so that the numbers printed
// are known exactly (the daemon's own health is tested in
// daemon_observability_test.cc).
#include "support/process.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

namespace {

using fj::testing::Exited;
using fj::testing::TempDir;

#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif

// Listens on `path` and answers the first request line with `reply`.
class CannedDaemon {
 public:
  CannedDaemon(const std::string& path, std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedDaemon() {
    thread_.join();
    ::close(fd_);
  }
  CannedDaemon(const CannedDaemon&) = delete;
  CannedDaemon& operator=(const CannedDaemon&) = delete;

 private:
  // Waits at most kExitTimeout for the client, so that a client that never
  // connects fails the test instead of hanging it.
  void serve() {
    pollfd p{fd_, POLLIN, 0};
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(fj::testing::kExitTimeout).count();
    if (::poll(&p, 1, static_cast<int>(wait_ms)) != 1) {
      ADD_FAILURE() << "nobody asked for health";
      return;
    }
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string request;
    char buf[256];
    while (request.find('\n') == std::string::npos) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    const std::string line = reply_ + "\n";
    EXPECT_EQ(::write(c, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    ::close(c);
  }

  std::string reply_;
  int fd_ = -1;
  std::thread thread_;
};

TEST(HealthCli, FractionsOfASecondArePrintedReadably) {
  TempDir tmp;
  const std::string socket = tmp.sub("fj.sock");
  Exited r;
  {
    CannedDaemon daemon(
        socket, R"({"id":null,"ok":true,"status":"degraded","reasons":["a reader is old"],)"
                R"("head_seq":15,"last_commit_age_seconds":8.220266894E0,)"
                R"("map":{"used_bytes":98304,"size_bytes":67108864,"limit_bytes":1073741824,)"
                R"("used_fraction":9.1552734375E-5},)"
                R"("writer":{"oldest_wait_seconds":0,"stuck_after_seconds":30},)"
                R"("oldest_reader":{"pid":4242,"txn_lag":3,"age_seconds":6.5123E2,)"
                R"("reader_after_seconds":600},"last_reconcile":null})");
    r = fj::testing::run({FORKJOURNAL_BIN, "health", "--socket", socket});
  }
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.out,
            "degraded: head seq 15, last commit 8.2 s ago, map 98304 bytes of 1073741824, "
            "oldest reader pid 4242 3 commits behind for 651.2 s\n"
            "  a reader is old\n")
      << r;
}

TEST(HealthCli, AnAgeBelowOneSecondKeepsThreeDecimals) {
  TempDir tmp;
  const std::string socket = tmp.sub("fj.sock");
  Exited r;
  {
    CannedDaemon daemon(socket,
                        R"({"id":null,"ok":true,"status":"healthy","reasons":[],"head_seq":2,)"
                        R"("last_commit_age_seconds":3.25E-3,)"
                        R"("map":{"used_bytes":4096,"size_bytes":67108864,"limit_bytes":null,)"
                        R"("used_fraction":null},"oldest_reader":null,"last_reconcile":null})");
    r = fj::testing::run({FORKJOURNAL_BIN, "health", "--socket", socket});
  }
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out,
            "healthy: head seq 2, last commit 0.003 s ago, map 4096 bytes (no --max-map-size)\n")
      << r;
}

}  // namespace
