// Runs a built binary in a child process for the tests of the command-line
// interfaces: stdin from /dev/null, stdout and stderr captured through files
// in a scratch directory, FORKJOURNAL_DIR removed from the environment, and
// every wait bounded (a child still running at the deadline is killed and
// the test fails).
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fj::testing {

struct Ran {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

inline std::ostream& operator<<(std::ostream& os, const Ran& r) {
  return os << "exit " << r.exit_code << "\n--- stdout ---\n"
            << r.out << "--- stderr ---\n"
            << r.err;
}

inline std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A started child; its output goes to <stem>.out and <stem>.err.
class Child {
 public:
  Child(const std::vector<std::string>& args, std::string stem) : stem_(std::move(stem)) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "FORKJOURNAL_DIR=", 16) != 0) env_strings.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = args;
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, (stem_ + ".out").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, (stem_ + ".err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << args[0] << ": " << std::strerror(rc);
      pid_ = -1;
    }
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  std::string err_so_far() const { return file_text(stem_ + ".err"); }

  // Waits for the exit (killing the child at the deadline) and collects the
  // output.
  Ran wait(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    Ran r;
    if (pid_ <= 0) return r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        ADD_FAILURE() << "child did not exit within " << timeout.count() << " s";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid_ = -1;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.out = file_text(stem_ + ".out");
    r.err = file_text(stem_ + ".err");
    return r;
  }

 private:
  std::string stem_;
  pid_t pid_ = -1;
};

// Runs args (args[0] is the binary) to completion.
inline Ran run_binary(const std::vector<std::string>& args, const std::string& stem) {
  return Child(args, stem).wait();
}

}  // namespace fj::testing
