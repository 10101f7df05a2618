#include "bench/nats_process.h"

#include "fleet/stream_setup.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
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
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return errno_error("starting " + binary, err);
  NatsProcess process(pid, "nats://127.0.0.1:" + std::to_string(*port));

  // Creating the stream is the readiness probe: it needs JetStream up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto setup = fleet::init_stream(process.url(), 1);
    if (setup) return process;
    int status = 0;
    const bool exited = ::waitpid(pid, &status, WNOHANG) == pid;
    if (exited) process.pid_ = -1;
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
  if (pid_ > 0) stop(pid_);
}

}  // namespace fj::bench
