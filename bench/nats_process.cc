#include "bench/nats_process.h"

#include "bench/stop_cleanup.h"
#include "fleet/stream_setup.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace fj::bench {
namespace {

std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

Result<int> free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return errno_error("finding a free port", err);
  return int(ntohs(addr.sin_port));
}

void stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  (void)::waitpid(pid, nullptr, 0);
}

}  // namespace

Result<NatsProcess> NatsProcess::start(const std::string& dir) {
  const std::string binary = on_path("nats-server");
  if (binary.empty()) {
    return make_error(Errc::invalid_argument,
                      "the ship benchmark needs nats-server on PATH (Debian: apt-get install "
                      "nats-server, which installs /usr/sbin/nats-server)");
  }
  auto port = free_port();
  if (!port) return port.error();
  const std::string log = dir + "/server.log";
  std::vector<std::string> args{
      binary, "-js", "-a", "127.0.0.1", "-p", std::to_string(*port), "-sd", dir + "/store"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Opened here: between fork and exec only async-signal-safe calls.
  const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_in < 0) return errno_error("open /dev/null", errno);
  const int log_out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_out < 0) {
    const int e = errno;
    ::close(null_in);
    return errno_error("open " + log, e);
  }
  // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: the server
  // gets SIGTERM when this thread ends (the harness calls start() from its
  // main thread), also on SIGKILL, where no cleanup of ours runs.
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) ::_exit(127);
    // The parent died before prctl: the signal will not come.
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // ours blocks the stop signals
    if (::dup2(null_in, 0) < 0 || ::dup2(log_out, 1) < 0 || ::dup2(log_out, 2) < 0) ::_exit(127);
    ::execve(binary.c_str(), argv.data(), environ);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(null_in);
  ::close(log_out);
  if (pid < 0) return errno_error("starting " + binary, fork_errno);
  track_child(pid);
  NatsProcess process(pid, "nats://127.0.0.1:" + std::to_string(*port));

  // Creating the stream is the readiness probe: it needs JetStream up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto setup = fleet::init_stream(process.url(), 1);
    if (setup) return process;
    int status = 0;
    const bool exited = ::waitpid(pid, &status, WNOHANG) == pid;
    if (exited) {
      forget_child(pid);
      process.pid_ = -1;
    }
    if (exited || std::chrono::steady_clock::now() > deadline) {
      std::ifstream in(log);
      std::stringstream text;
      text << in.rdbuf();
      std::string tail = text.str();
      if (tail.size() > 400) tail = tail.substr(tail.size() - 400);
      return make_error(Errc::unavailable,
                        "nats-server on " + process.url() +
                            (exited ? " exited (" : " did not answer in 30 s (") +
                            setup.error().message + "); its log ends: " + tail);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

NatsProcess::NatsProcess(NatsProcess&& other) noexcept
    : pid_(other.pid_), url_(std::move(other.url_)) {
  other.pid_ = -1;
}

NatsProcess::~NatsProcess() {
  if (pid_ <= 0) return;
  forget_child(pid_);
  stop(pid_);
}

}  // namespace fj::bench
