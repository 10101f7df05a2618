#include "bench/stop_cleanup.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace fj::bench {
namespace {

struct Registry {
  std::mutex mutex;
  std::set<std::string> dirs;
  std::set<pid_t> children;
};

Registry& registry() {
  // Never destroyed: the cleanup thread may use it while main() returns.
  static Registry* r = new Registry;
  return *r;
}

// Whether `pid` has ended (reaped here, or already by its owner).
bool ended(pid_t pid) {
  const pid_t got = ::waitpid(pid, nullptr, WNOHANG);
  return got == pid || (got < 0 && errno == ECHILD);
}

void stop_children(const std::set<pid_t>& children) {
  for (pid_t pid : children) ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::set<pid_t> left = children;
  while (!left.empty()) {
    std::erase_if(left, ended);
    if (left.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (pid_t pid : left) ::kill(pid, SIGKILL);
      for (pid_t pid : left) (void)::waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

[[noreturn]] void clean_up_and_exit(int sig) {
  Registry& r = registry();
  // Held until _exit: no other thread makes or removes anything meanwhile.
  r.mutex.lock();
  stop_children(r.children);
  for (const std::string& dir : r.dirs) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::fprintf(stderr, "forkjournal-bench: %s: stopped, %zu temporary director%s removed\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", r.dirs.size(),
               r.dirs.size() == 1 ? "y" : "ies");
  std::fflush(stderr);
  ::_exit(128 + sig);
}

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

Result<void> start_stop_cleanup() {
  const sigset_t set = stop_signals();
  if (const int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    return errno_error("blocking SIGINT and SIGTERM", rc);
  }
  try {
    std::thread([set] {
      for (;;) {
        int sig = 0;
        if (::sigwait(&set, &sig) == 0) clean_up_and_exit(sig);
      }
    }).detach();
  } catch (const std::system_error& e) {
    return errno_error("starting the signal thread", e.code().value());
  }
  return {};
}

void track_dir(const std::string& path) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.dirs.insert(path);
}

void remove_tracked_dir(const std::string& path) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  r.dirs.erase(path);
}

void track_child(pid_t pid) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.children.insert(pid);
}

void forget_child(pid_t pid) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.children.erase(pid);
}

void wait_unless_stopping() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
}

}  // namespace fj::bench
