#include "cli/stop_signals.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace fj::cli {

Result<StopSignals> StopSignals::open() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    return make_error(Errc::io_error, std::string("sigprocmask: ") + std::strerror(errno));
  }
  const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return make_error(Errc::io_error, std::string("signalfd: ") + std::strerror(errno));
  return StopSignals(fd);
}

StopSignals::StopSignals(StopSignals&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

StopSignals::~StopSignals() {
  if (fd_ >= 0) ::close(fd_);
}

bool StopSignals::received() const {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

}  // namespace fj::cli
