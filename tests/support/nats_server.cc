#include "support/nats_server.h"

#include "fleet/internal/nats.h"
#include "support/process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fj::testing {
namespace {

std::string nats_server_binary() {
  for (const char* candidate : {"/usr/sbin/nats-server", "/usr/bin/nats-server",
                                "/usr/local/bin/nats-server", "/usr/local/sbin/nats-server"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  ADD_FAILURE() << "nats-server is not installed (scripts/setup.sh installs it)";
  return "nats-server";
}

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot find a free port: " << std::strerror(errno);
  }
  if (fd >= 0) ::close(fd);
  return ntohs(addr.sin_port);
}

NatsNode::NatsNode(std::string dir, std::string name, int port, int cluster_port,
                   std::vector<int> route_ports)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      port_(port),
      cluster_port_(cluster_port),
      route_ports_(std::move(route_ports)) {
  std::filesystem::create_directories(dir_ + "/store");
}

NatsNode::~NatsNode() {
  if (running()) kill9();
}

std::string NatsNode::url() const {
  return "nats://127.0.0.1:" + std::to_string(port_);
}

std::string NatsNode::log() const {
  std::ifstream in(dir_ + "/server.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void NatsNode::start() {
  if (running()) return;
  std::vector<std::string> argv{
      nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd",
      dir_ + "/store",      "-n",  name_};
  if (cluster_port_ != 0) {
    std::string routes;
    for (int p : route_ports_) {
      routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(p);
    }
    argv.insert(argv.end(),
                {"--cluster_name", "fjtest", "--cluster",
                 "nats://127.0.0.1:" + std::to_string(cluster_port_), "--routes", routes});
  }
  pid_ = spawn_logged(argv, dir_ + "/server.out", dir_ + "/server.log");
}

void NatsNode::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (!wait_exit(pid_, kExitTimeout)) {
    ADD_FAILURE() << name_ << " did not stop on SIGTERM; killing it";
    ::kill(pid_, SIGKILL);
    (void)wait_exit(pid_, kExitTimeout);
  }
  pid_ = -1;
}

void NatsNode::kill9() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  if (!wait_exit(pid_, kExitTimeout)) ADD_FAILURE() << name_ << " survived SIGKILL";
  pid_ = -1;
}

::testing::AssertionResult wait_jetstream(const std::string& urls,
                                          std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "never connected";
  while (std::chrono::steady_clock::now() < deadline) {
    fleet::nats::ConnectOptions options;
    options.timeout = std::chrono::milliseconds(1000);
    if (auto conn = fleet::nats::Connection::open(urls, options)) {
      jsStreamInfo* info = nullptr;
      jsErrCode jerr = jsErrCode(0);
      const natsStatus s = js_GetStreamInfo(&info, conn->js(), "FJ_PROBE", nullptr, &jerr);
      if (s == NATS_OK) jsStreamInfo_Destroy(info);
      if (s == NATS_OK || jerr == JSStreamNotFoundErr) return ::testing::AssertionSuccess();
      last = fleet::nats::error_from("stream lookup", s, jerr).message;
    } else {
      last = conn.error().message;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ::testing::AssertionFailure() << "JetStream on " << urls << " did not answer: " << last;
}

::testing::AssertionResult wait_placement(const std::string& urls, int replicas,
                                          std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "never connected";
  const char* subjects[] = {"fj.placement.probe"};
  while (std::chrono::steady_clock::now() < deadline) {
    fleet::nats::ConnectOptions options;
    options.timeout = std::chrono::milliseconds(2000);
    if (auto conn = fleet::nats::Connection::open(urls, options)) {
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      cfg.Name = "FJ_PLACEMENT_PROBE";
      cfg.Subjects = subjects;
      cfg.SubjectsLen = 1;
      cfg.Storage = js_MemoryStorage;
      cfg.Replicas = replicas;
      jsStreamInfo* info = nullptr;
      jsErrCode jerr = jsErrCode(0);
      const natsStatus s = js_AddStream(&info, conn->js(), &cfg, nullptr, &jerr);
      if (s == NATS_OK) {
        jsStreamInfo_Destroy(info);
        jerr = jsErrCode(0);
        const natsStatus d = js_DeleteStream(conn->js(), cfg.Name, nullptr, &jerr);
        if (d == NATS_OK) return ::testing::AssertionSuccess();
        last = fleet::nats::error_from("deleting the probe stream", d, jerr).message;
      } else {
        last = fleet::nats::error_from("creating the probe stream", s, jerr).message;
      }
    } else {
      last = conn.error().message;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return ::testing::AssertionFailure() << "a stream of " << replicas << " replicas on " << urls
                                       << " could not be placed: " << last;
}

NatsServer::NatsServer(const std::string& dir)
    : node_(std::make_unique<NatsNode>(dir, "fj-single", free_port(), 0, std::vector<int>{})) {
  node_->start();
  EXPECT_TRUE(wait_jetstream(url())) << node_->log();
}

NatsCluster::NatsCluster(const std::string& dir) {
  std::vector<int> ports, cluster_ports;
  // Six distinct ports: the kernel may hand a released port out again.
  std::vector<int> all;
  while (all.size() < 6) {
    const int p = free_port();
    if (std::find(all.begin(), all.end(), p) == all.end()) all.push_back(p);
  }
  for (int i = 0; i < 3; ++i) {
    ports.push_back(all[2 * i]);
    cluster_ports.push_back(all[2 * i + 1]);
  }
  for (int i = 0; i < 3; ++i) {
    std::vector<int> routes;
    for (int j = 0; j < 3; ++j) {
      if (j != i) routes.push_back(cluster_ports[j]);
    }
    nodes_.push_back(std::make_unique<NatsNode>(dir + "/n" + std::to_string(i),
                                                "fj-n" + std::to_string(i), ports[i],
                                                cluster_ports[i], routes));
  }
  start_all();
}

std::string NatsCluster::urls() const {
  std::string out;
  for (const auto& n : nodes_) out += (out.empty() ? "" : ",") + n->url();
  return out;
}

void NatsCluster::start_all() {
  for (auto& n : nodes_) n->start();
  // Every node's log: a missing leader is decided by the votes of all three.
  const auto logs = [this] {
    std::string out;
    for (const auto& n : nodes_) out += n->log();
    return out;
  };
  EXPECT_TRUE(wait_jetstream(urls(), kNatsClusterStartTimeout)) << logs();
  EXPECT_TRUE(wait_placement(urls(), static_cast<int>(nodes_.size()), kNatsClusterStartTimeout))
      << logs();
}

void NatsCluster::stop_all() {
  for (auto& n : nodes_) n->stop();
}

}  // namespace fj::testing
