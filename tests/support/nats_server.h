// Real nats-server processes for the shipping tests: one JetStream node on
// loopback, or a three-node JetStream cluster routed on loopback. Each node
// listens on a free port with its own store directory and keeps both across
// stop() and start(), so a restarted node comes back with its data. Every
// running node is SIGKILLed and reaped at destruction. Waits are bounded and
// their failures are GoogleTest failures. Call from the test's main thread:
// it reaps with waitpid.
#pragma once

#include <gtest/gtest.h>

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace fj::testing {

// How long a node may take to answer after start.
inline constexpr std::chrono::steady_clock::duration kNatsStartTimeout = std::chrono::seconds(30);
// How long a cluster may take to place a stream after start. A cluster
// restarted whole elects its metadata leader afresh, with election timeouts
// drawn from 4-9 s and drawn again after a split vote: 40 whole restarts on
// this 2-core machine, idle or busy, took 4.1-12.5 s; one CI run waited past
// 30 s.
inline constexpr std::chrono::steady_clock::duration kNatsClusterStartTimeout =
    std::chrono::seconds(90);

// A free TCP port on 127.0.0.1 (bound and released; nothing else here races
// for it).
int free_port();

class NatsNode {
 public:
  // Prepares a node storing under `dir` (created), named `name`; routes name
  // the other nodes' cluster URLs (empty: a single node, no cluster).
  NatsNode(std::string dir, std::string name, int port, int cluster_port,
           std::vector<int> route_ports);
  ~NatsNode();
  NatsNode(const NatsNode&) = delete;
  NatsNode& operator=(const NatsNode&) = delete;

  std::string url() const;  // nats://127.0.0.1:PORT
  int cluster_port() const { return cluster_port_; }
  bool running() const { return pid_ > 0; }
  std::string log() const;

  // Starts the process; does not wait for it to answer (wait_jetstream).
  void start();
  // SIGTERM (a clean shutdown) and reap.
  void stop();
  // SIGKILL and reap.
  void kill9();

 private:
  std::string dir_, name_;
  int port_, cluster_port_;
  std::vector<int> route_ports_;
  pid_t pid_ = -1;
};

// Polls `urls` until JetStream answers an API request (a stream lookup
// comes back found or not found), for at most `timeout`.
::testing::AssertionResult wait_jetstream(
    const std::string& urls, std::chrono::steady_clock::duration timeout = kNatsStartTimeout);

// One node, started and answering JetStream.
class NatsServer {
 public:
  explicit NatsServer(const std::string& dir);
  NatsNode& node() { return *node_; }
  std::string url() const { return node_->url(); }

 private:
  std::unique_ptr<NatsNode> node_;
};

// Polls `urls` until a probe stream of `replicas` replicas can be created
// (then deletes it), for at most `timeout`.
::testing::AssertionResult wait_placement(const std::string& urls, int replicas,
                                          std::chrono::steady_clock::duration timeout);

// Three nodes routed to each other, started and able to place a stream of
// three replicas.
class NatsCluster {
 public:
  explicit NatsCluster(const std::string& dir);
  NatsNode& node(std::size_t i) { return *nodes_.at(i); }
  std::size_t size() const { return nodes_.size(); }
  // Every node's URL, comma-separated.
  std::string urls() const;
  // Starts every stopped node and waits until a stream of three replicas
  // can be placed (every node has joined JetStream's meta group), which
  // answering JetStream alone does not prove; for at most
  // kNatsClusterStartTimeout each, and a failure shows every node's log.
  void start_all();
  void stop_all();

 private:
  std::vector<std::unique_ptr<NatsNode>> nodes_;
};

}  // namespace fj::testing
