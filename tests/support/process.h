// Child processes for end-to-end tests: run a binary to completion and
// capture its stdout, stderr and exit code, or start one in the background
// with its output appended to files. Children read stdin from /dev/null and
// never inherit FORKJOURNAL_DIR (a test passes it explicitly). Problems (no
// spawn, a child killed by a signal or past its deadline) are GoogleTest
// failures, and the result then holds exit code -1. Call from the test's main
// thread: reaping with waitpid must not race another waiter.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace fj::testing {

using namespace std::chrono_literals;

// How long any child may take to exit once it is expected to.
inline constexpr std::chrono::steady_clock::duration kExitTimeout = 10s;

struct Exited {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Prints an Exited in assertion messages.
std::ostream& operator<<(std::ostream& os, const Exited& r);

struct RunOptions {
  std::optional<std::string> journal_env;  // FORKJOURNAL_DIR for the child, if any
  std::chrono::steady_clock::duration timeout = kExitTimeout;  // then it is killed
};

// Runs argv (argv[0] is the binary's path) to completion, draining stdout and
// stderr through pipes.
Exited run(const std::vector<std::string>& argv, const RunOptions& options = {});

// Starts argv with stdout and stderr appended to the given files and returns
// its pid, or -1 after a test failure. The caller reaps it.
pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& out_path,
                   const std::string& err_path);

// Waits up to `timeout` for `pid` to exit and returns its wait status, or
// nullopt while it still runs.
std::optional<int> wait_exit(pid_t pid, std::chrono::steady_clock::duration timeout);

// "exit 3", "signal 9".
std::string describe_status(int status);

}  // namespace fj::testing
