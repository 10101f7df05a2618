// A local single-node nats-server with JetStream for the ship benchmark:
// found on PATH, listening on a free loopback port, storing under a
// directory the caller owns, its output in DIR/server.log. Stopped (SIGTERM,
// then SIGKILL after 10 s) and reaped at destruction, or on our SIGINT or
// SIGTERM (stop_cleanup.h); it gets SIGTERM from the kernel when the thread
// that started it ends (PR_SET_PDEATHSIG), so that it outlives no harness,
// killed even with SIGKILL. Move-only; start and use it from the main
// thread.
#pragma once

#include "journal/error.h"

#include <sys/types.h>

#include <string>

namespace fj::bench {

class NatsProcess {
 public:
  // Starts nats-server -js and creates the fleet stream on it with the fleet
  // library (fleet::init_stream, one replica), retrying for up to 30 s until
  // JetStream answers. Errors: invalid_argument when nats-server is not on
  // PATH; io_error when it cannot be started; unavailable when it exits or
  // does not answer in time (the message quotes the end of its log).
  static Result<NatsProcess> start(const std::string& dir);
  NatsProcess(NatsProcess&& other) noexcept;
  NatsProcess& operator=(NatsProcess&&) = delete;
  NatsProcess(const NatsProcess&) = delete;
  NatsProcess& operator=(const NatsProcess&) = delete;
  ~NatsProcess();

  const std::string& url() const noexcept { return url_; }

 private:
  NatsProcess(pid_t pid, std::string url) : pid_(pid), url_(std::move(url)) {}
  pid_t pid_ = -1;
  std::string url_;
};

}  // namespace fj::bench
