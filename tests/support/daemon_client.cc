#include "support/daemon_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fj::testing {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

int connect_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // Bounds sends, and a connect against a full backlog.
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

Client::Client(const std::string& path) {
  fd_ = connect_unix(path);
  if (fd_ < 0) error_ = "connect " + path + ": " + std::strerror(errno);
}

Client::~Client() {
  close();
}

bool Client::send(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      send_errno_ = errno;
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool Client::send_until_closed(std::string_view bytes) {
  if (send(bytes)) return true;
  return send_errno_ == EPIPE || send_errno_ == ECONNRESET;
}

std::optional<std::string> Client::read_line(Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (fd_ < 0 || eof_) {
      error_ = eof_ ? "end of file" : "not connected";
      return std::nullopt;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      error_ = "no response within the deadline";
      return std::nullopt;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno != EINTR) {
      error_ = std::string("poll: ") + std::strerror(errno);
      return std::nullopt;
    }
    if (ready <= 0) continue;
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0) {
      eof_ = true;
    } else if (errno != EINTR && errno != EAGAIN) {
      reset_ = errno == ECONNRESET;
      error_ = std::string("recv: ") + std::strerror(errno);
      return std::nullopt;
    }
  }
}

std::optional<json::object> Client::roundtrip(const json::object& request) {
  if (!send(json::serialize(request) + "\n")) return std::nullopt;
  return read_response();
}

std::optional<json::object> Client::read_response(Clock::duration timeout) {
  const auto line = read_line(timeout);
  if (!line) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*line, ec);
  if (ec || !v.is_object()) {
    error_ = "response is not a JSON object: " + *line;
    return std::nullopt;
  }
  return std::move(v.as_object());
}

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace fj::testing
