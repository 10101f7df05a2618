#include "support/daemon_process.h"

#include "support/daemon_client.h"
#include "support/text.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <thread>

namespace fj::testing {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

Daemon::Daemon(const std::vector<std::string>& argv, std::string socket, std::string log)
    : socket_(std::move(socket)), log_(std::move(log)) {
  pid_ = spawn_logged(argv, log_ + ".out", log_);
}

Daemon::~Daemon() {
  kill9();
}

std::string Daemon::log() const {
  return file_text(log_);
}

::testing::AssertionResult Daemon::wait_ready() {
  if (pid_ <= 0) return ::testing::AssertionFailure() << "forkjournald did not start";
  const auto deadline = Clock::now() + kStartTimeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "forkjournald ended (" << describe_status(status)
                                           << ") before accepting connections:\n"
                                           << log();
    }
    if (accepts()) {
      // Served, not just queued in the backlog: requests (and signals) are
      // handled only once the daemon has booted.
      Client c(socket_);
      const auto pong = c.roundtrip({{"op", "ping"}, {"id", "ready?"}});
      if (pong && pong->if_contains("ok") && *pong->if_contains("ok") == json::value(true)) {
        return ::testing::AssertionSuccess();
      }
      return ::testing::AssertionFailure()
             << "no answer to a ping on " << socket_ << ": " << c.error() << "\n"
             << log();
    }
    if (Clock::now() >= deadline) {
      return ::testing::AssertionFailure() << socket_ << " accepts no connection after 10 s:\n"
                                           << log();
    }
    std::this_thread::sleep_for(2ms);
  }
}

bool Daemon::accepts() const {
  const int fd = connect_unix(socket_);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

void Daemon::signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

int Daemon::wait() {
  if (pid_ <= 0) return -1;
  const auto status = wait_exit(pid_, kExitTimeout);
  if (!status) {
    ADD_FAILURE() << "forkjournald did not exit within 10 s:\n" << log();
    kill9();
    return -1;
  }
  pid_ = -1;
  if (!WIFEXITED(*status)) {
    ADD_FAILURE() << "forkjournald: " << describe_status(*status) << "\n" << log();
    return -1;
  }
  return WEXITSTATUS(*status);
}

int Daemon::terminate(int signo) {
  signal(signo);
  return wait();
}

void Daemon::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

int metrics_port(const Daemon& d) {
  static const std::regex re(R"(metrics on http://127\.0\.0\.1:(\d+)/metrics)");
  std::smatch m;
  const std::string log = d.log();
  if (!std::regex_search(log, m, re)) {
    ADD_FAILURE() << "no metrics address in the log:\n" << log;
    return 0;
  }
  return std::stoi(m[1]);
}

}  // namespace fj::testing
