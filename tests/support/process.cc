#include "support/process.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace fj::testing {
namespace {

using Clock = std::chrono::steady_clock;

// The environment strings and argv as posix_spawn wants them; the pointers
// point into the strings, so the object must outlive the spawn.
class SpawnArgs {
 public:
  SpawnArgs(const std::vector<std::string>& args, const std::optional<std::string>& journal_env)
      : args_(args) {
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "FORKJOURNAL_DIR=", 16) != 0) env_.emplace_back(*e);
    }
    if (journal_env) env_.push_back("FORKJOURNAL_DIR=" + *journal_env);
    for (auto& s : env_) envp_.push_back(s.data());
    envp_.push_back(nullptr);
    for (auto& s : args_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
  }
  SpawnArgs(const SpawnArgs&) = delete;
  SpawnArgs& operator=(const SpawnArgs&) = delete;

  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
};

// Spawns with `actions`, or returns -1 after a test failure.
pid_t spawn_with(const SpawnArgs& args, posix_spawn_file_actions_t& actions) {
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args.argv()[0], &actions, nullptr, args.argv(), args.envp());
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << args.argv()[0] << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Exited& r) {
  return os << "exit " << r.exit_code << "\n--- stdout ---\n"
            << r.out << "--- stderr ---\n"
            << r.err;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

Exited run(const std::vector<std::string>& argv, const RunOptions& options) {
  Exited result;
  const SpawnArgs args(argv, options.journal_env);
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return result;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  const pid_t pid = spawn_with(args, actions);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return result;
  }

  // Drain both pipes together so that neither can fill up and block the child.
  const auto deadline = Clock::now() + options.timeout;
  bool killed = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (!killed && left.count() <= 0) {
      ADD_FAILURE() << argv[0] << " did not exit within the deadline";
      ::kill(pid, SIGKILL);
      killed = true;
    }
    const int ready = ::poll(fds, 2, killed ? -1 : static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) {
      ADD_FAILURE() << "poll: " << std::strerror(errno);
      break;
    }
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (!killed) {
    ADD_FAILURE() << argv[0] << ": " << describe_status(status);
  }
  return result;
}

pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& out_path,
                   const std::string& err_path) {
  const SpawnArgs args(argv, std::nullopt);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  const pid_t pid = spawn_with(args, actions);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::optional<int> wait_exit(pid_t pid, std::chrono::steady_clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "waitpid " << pid << ": " << std::strerror(errno);
      return std::nullopt;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    // Polls: a child has no descriptor to wait on.
    std::this_thread::sleep_for(2ms);
  }
}

}  // namespace fj::testing
