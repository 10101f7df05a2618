// A forkjournald child process under test: started at construction, SIGKILLed
// and reaped at destruction at the latest. Its stderr (the log) goes to a
// file, read back for assertions. Waits are bounded (kStartTimeout to serve,
// kExitTimeout to exit) and their failures are GoogleTest failures. Call from
// the test's main thread: it reaps with waitpid.
#pragma once

#include "support/process.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace fj::testing {

// How long a daemon may take until its socket serves a ping.
inline constexpr std::chrono::steady_clock::duration kStartTimeout = 10s;

class Daemon {
 public:
  // argv[0] is the forkjournald binary; `socket` is what it serves; stdout
  // goes to log + ".out".
  Daemon(const std::vector<std::string>& argv, std::string socket, std::string log);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  std::string log() const;

  // Polls until the socket accepts a connection and then checks that a ping
  // is answered; fails at once if the daemon exits first, and after
  // kStartTimeout otherwise.
  ::testing::AssertionResult wait_ready();

  // Whether the socket accepts a connection now.
  bool accepts() const;

  void signal(int signo) const;

  // Waits for the daemon to exit; returns its exit code, or -1 (a test
  // failure) if it was killed by a signal or did not exit in time.
  int wait();

  int terminate(int signo = SIGTERM);

  void kill9();

 private:
  pid_t pid_ = -1;
  std::string socket_;
  std::string log_;
};

// The port from the daemon's "metrics on http://127.0.0.1:PORT/metrics" log
// line: one the daemon bound itself (--metrics 127.0.0.1:0), which no other
// test can take between a check and the bind. 0 (a test failure) if the log
// has none.
int metrics_port(const Daemon& d);

}  // namespace fj::testing
