// `forkjournal export --follow` through the binary, as a child process beside
// other forkjournal processes appending: it prints what they commit within a
// bound, resumes from --from with nothing skipped or repeated, exits 0 on
// SIGINT, SIGTERM and a closed stdout, and sleeps while nothing commits.
#include "support/many_forks.h"
#include "support/process.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fj::testing::Exited;
using fj::testing::TempDir;

#ifndef FORKJOURNAL_BIN
#error "FORKJOURNAL_BIN must name the forkjournal binary"
#endif

// Generous: a follower wakes within milliseconds (the figure is printed);
// this only catches one that does not follow at all, or only by its
// one-second fallback poll stacking up.
constexpr auto kFollowBound = 2s;
// For a follower's first lines after it is spawned, which also wait for the
// process to start (slow under the sanitizers on a busy machine).
constexpr auto kStartBound = 10s;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The complete lines of `text` (a partial last line is left out).
std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    out.push_back(text.substr(start, nl - start));
  }
  return out;
}

std::vector<std::uint64_t> seqs_of(const std::vector<std::string>& lines) {
  std::vector<std::uint64_t> seqs;
  for (const std::string& line : lines) {
    seqs.push_back(json::parse(line).at("seq").to_number<std::uint64_t>());
  }
  return seqs;
}

// CPU seconds (user + system) the process has used, from /proc.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after ')'.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class ExportFollowTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      (void)fj::testing::wait_exit(pid, fj::testing::kExitTimeout);
    }
  }

  Exited fj(std::vector<std::string> args) {
    args.insert(args.begin(), {FORKJOURNAL_BIN, "--journal", journal_, "--sync", "none"});
    return fj::testing::run(args);
  }

  void ok(const std::vector<std::string>& args) {
    const Exited r = fj(args);
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  // Starts `export --follow extra...` with its stdout appended to `out`.
  pid_t follow(std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> argv = {FORKJOURNAL_BIN, "--journal", journal_, "export", "--follow"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const pid_t pid = fj::testing::spawn_logged(argv, out, err_);
    if (pid > 0) children_.push_back(pid);
    return pid;
  }

  // Waits until `out` holds at least `count` complete lines; returns them.
  std::vector<std::string> wait_lines(const std::string& out, std::size_t count,
                                      Clock::duration timeout = kFollowBound) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto lines = complete_lines(read_file(out));
      if (lines.size() >= count || Clock::now() >= deadline) return lines;
      std::this_thread::sleep_for(1ms);
    }
  }

  // Waits for the child to exit and returns its wait status (-1 if it did
  // not exit in time, a test failure).
  int reap(pid_t pid) {
    auto status = fj::testing::wait_exit(pid, fj::testing::kExitTimeout);
    if (!status) {
      ADD_FAILURE() << "export --follow did not exit";
      return -1;
    }
    children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
    return *status;
  }

  TempDir tmp_;
  std::string journal_ = tmp_.sub("journal");
  std::string out_ = tmp_.sub("follow.out");
  std::string err_ = tmp_.sub("follow.err");
  std::vector<pid_t> children_;
};

TEST_F(ExportFollowTest, PrintsWhatAnotherProcessCommitsWithinABound) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  const pid_t pid = follow({}, out_);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(wait_lines(out_, 1, kStartBound).size(), 1u) << read_file(err_);

  std::vector<double> latencies_ms;
  for (int i = 1; i <= 10; ++i) {
    ok({"fork", "t1", "f" + std::to_string(i)});
    // From the committing process's exit to the line: an upper bound of
    // commit-to-line, the fork process's own exit included.
    const auto committed = Clock::now();
    const auto lines = wait_lines(out_, 1 + i);
    ASSERT_EQ(lines.size(), 1u + i) << "seq " << 1 + i << " not followed within 2 s";
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - committed).count());
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::cout << "commit to line: median " << latencies_ms[latencies_ms.size() / 2] << " ms, max "
            << latencies_ms.back() << " ms\n";

  // The same lines as an export of the range: one rendering, chain included.
  const Exited exported = fj({"export"});
  ASSERT_EQ(exported.exit_code, 0) << exported;
  EXPECT_EQ(read_file(out_), exported.out);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(reap(pid), 0);
}

TEST_F(ExportFollowTest, ResumesFromLastPlusOneWithNothingSkippedOrRepeated) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  ok({"fork", "t1", "f1"});
  const pid_t first = follow({}, out_);
  ASSERT_GT(first, 0);
  ASSERT_EQ(wait_lines(out_, 2, kStartBound).size(), 2u);
  ok({"fork", "t1", "f2"});
  ASSERT_EQ(wait_lines(out_, 3).size(), 3u);
  ::kill(first, SIGTERM);
  ASSERT_EQ(reap(first), 0);
  const std::uint64_t last = seqs_of(complete_lines(read_file(out_))).back();

  // Committed while nobody follows.
  ok({"fork", "t1", "f3"});
  ok({"unfork", "t1", "f1"});
  const pid_t second = follow({"--from", std::to_string(last + 1)}, out_);
  ASSERT_GT(second, 0);
  ASSERT_EQ(wait_lines(out_, 5, kStartBound).size(), 5u);
  ok({"fork", "t1", "f4"});
  const auto lines = wait_lines(out_, 6);
  EXPECT_EQ(seqs_of(lines), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6}));
  ::kill(second, SIGINT);
  EXPECT_EQ(reap(second), 0);
  // Both runs together are the export, chain values included.
  const Exited exported = fj({"export"});
  EXPECT_EQ(read_file(out_), exported.out);

  // --from the head + 1 waits for the next event; past it is a usage error.
  const std::string next_out = tmp_.sub("next.out");
  const pid_t next = follow({"--from", "7"}, next_out);
  ASSERT_GT(next, 0);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(read_file(next_out), "");
  ok({"fork", "t1", "f5"});
  // (The follower may still be starting: its first line.)
  EXPECT_EQ(seqs_of(wait_lines(next_out, 1, kStartBound)), (std::vector<std::uint64_t>{7}));
  ::kill(next, SIGTERM);
  EXPECT_EQ(reap(next), 0);
  const Exited beyond = fj({"export", "--follow", "--from", "9"});
  EXPECT_EQ(beyond.exit_code, 2) << beyond;
  EXPECT_EQ(beyond.err,
            "forkjournal: --from 9 is beyond the head (seq 7): --follow starts at the head + 1 "
            "(seq 8) at most\n");
  const Exited with_to = fj({"export", "--follow", "--to", "3"});
  EXPECT_EQ(with_to.exit_code, 2) << with_to;
}

TEST_F(ExportFollowTest, CatchesUpAcrossChainCheckpointsThenFollows) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  fj::testing::append_forks(journal_, "t1", 8999);
  const pid_t pid = follow({"--from", "3000"}, out_);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(wait_lines(out_, 6001, 10s).size(), 6001u);
  fj::testing::append_forks(journal_, "t1", 3, "g");
  ASSERT_EQ(wait_lines(out_, 6004).size(), 6004u);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(reap(pid), 0);
  // Window by window, the same lines (chain values included) as one export.
  const Exited exported = fj({"export", "--from", "3000"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(read_file(out_), exported.out);
}

TEST_F(ExportFollowTest, ExitsZeroOnSigintAndSigterm) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  for (int signo : {SIGINT, SIGTERM}) {
    const std::string out = tmp_.sub("signal" + std::to_string(signo) + ".out");
    const pid_t pid = follow({}, out);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_lines(out, 1, kStartBound).size(), 1u);
    ::kill(pid, signo);
    const int status = reap(pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << strsignal(signo) << ": " << fj::testing::describe_status(status);
  }
  EXPECT_EQ(read_file(err_), "");
}

TEST_F(ExportFollowTest, ExitsZeroQuietlyWhenItsReaderGoesAway) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  const std::string fifo = tmp_.sub("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opened first, so that the child's open for writing does not block;
  // close-on-exec, so that the child holds no read end itself.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  const pid_t pid = follow({}, fifo);
  ASSERT_GT(pid, 0);
  std::string got;
  const auto deadline = Clock::now() + kStartBound;
  while (got.find('\n') == std::string::npos && Clock::now() < deadline) {
    char buffer[4096];
    const ssize_t n = ::read(reader, buffer, sizeof buffer);
    if (n > 0) got.append(buffer, static_cast<std::size_t>(n));
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(seqs_of(complete_lines(got)), (std::vector<std::uint64_t>{1}));
  ::close(reader);
  // The next line meets the closed pipe.
  ok({"fork", "t1", "f1"});
  const int status = reap(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << fj::testing::describe_status(status);
  EXPECT_EQ(read_file(err_), "");
}

// `export --follow | head -1` on an idle journal: the follower notices its
// reader is gone while it waits, not at the next commit's write.
TEST_F(ExportFollowTest, ExitsWhenItsReaderGoesAwayWhileNothingCommits) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const int reader = fds[0];
  const int writer = fds[1];
  // The child's stdout is the pipe's write end; the test keeps no copy of
  // it, so the reader closing is the last word.
  const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(err, 0);
  const std::string journal = journal_;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(writer, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execl(FORKJOURNAL_BIN, FORKJOURNAL_BIN, "--journal", journal.c_str(), "export", "--follow",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  children_.push_back(pid);
  ::close(writer);
  ::close(err);
  std::string got;
  const auto deadline = Clock::now() + kStartBound;
  while (got.find('\n') == std::string::npos && Clock::now() < deadline) {
    char buffer[4096];
    const ssize_t n = ::read(reader, buffer, sizeof buffer);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(seqs_of(complete_lines(got)), (std::vector<std::uint64_t>{1}));
  ::close(reader);
  // No commit follows: the exit must come from noticing the closed pipe.
  const auto closed = Clock::now();
  const auto status = fj::testing::wait_exit(pid, kFollowBound);
  ASSERT_TRUE(status.has_value()) << "export --follow still running 2 s after its reader closed";
  children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
  std::cout << "reader gone to exit: "
            << std::chrono::duration<double, std::milli>(Clock::now() - closed).count() << " ms\n";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << fj::testing::describe_status(*status);
  EXPECT_EQ(read_file(err_), "");
}

TEST_F(ExportFollowTest, AnIdleFollowerUsesLittleCpu) {
  ok({"init"});
  ok({"register", "t1", "--source", "s1"});
  const pid_t pid = follow({}, out_);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(wait_lines(out_, 1, kStartBound).size(), 1u);
  const double before = cpu_seconds(pid);
  std::this_thread::sleep_for(3s);
  const double used = cpu_seconds(pid) - before;
  std::cout << "idle follower: " << used << " s CPU over 3 s\n";
  // A busy poll uses about 3 s; sleeping in poll(2) next to nothing.
  EXPECT_LT(used, 0.2);
  // And it still follows after sleeping.
  ok({"fork", "t1", "f1"});
  EXPECT_EQ(wait_lines(out_, 2).size(), 2u);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(reap(pid), 0);
}

}  // namespace
