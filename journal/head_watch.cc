#include "journal/head_watch.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace fj {
namespace {

Error os_error(const std::string& what) {
  return make_error(Errc::io_error, what + ": " + std::strerror(errno));
}

}  // namespace

Result<HeadWatch> HeadWatch::open(const std::string& journal_dir) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return os_error("inotify_init1");
  HeadWatch watch(fd);
  const std::string data = journal_dir + "/data.mdb";
  if (::inotify_add_watch(fd, data.c_str(), IN_MODIFY) < 0) {
    if (errno == ENOENT) {
      return make_error(Errc::not_a_journal, "no journal at " + journal_dir + " (no data.mdb)");
    }
    return os_error("cannot watch " + data);
  }
  return watch;
}

HeadWatch::HeadWatch(HeadWatch&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), settle_left_(other.settle_left_) {}

HeadWatch& HeadWatch::operator=(HeadWatch&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    settle_left_ = other.settle_left_;
  }
  return *this;
}

HeadWatch::~HeadWatch() {
  if (fd_ >= 0) ::close(fd_);
}

Result<HeadWatch::Wake> HeadWatch::wait(std::chrono::milliseconds fallback, int stop_fd) {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  const nfds_t count = stop_fd >= 0 ? 2 : 1;
  const auto timeout = settle_left_ > 0 ? std::min(fallback, kSettle) : fallback;
  int ready = 0;
  do {
    ready = ::poll(fds, count, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return os_error("poll");
  if (count == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) return Wake::stop_fd;
  if (ready == 0) {
    if (settle_left_ > 0) --settle_left_;
    return Wake::timeout;
  }
  settle_left_ = kSettleWaits;
  // Drain every queued event: one read of the head covers all of them.
  alignas(inotify_event) char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return os_error("read inotify events");
    break;
  }
  return Wake::changed;
}

}  // namespace fj
