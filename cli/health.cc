#include "cli/commands.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

namespace fj::cli {
namespace {

namespace json = boost::json;

// A health reply is a few hundred bytes: a line this long is no reply.
constexpr std::size_t kMaxReply = 1 << 20;

// Closes the descriptor on every return path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int unreachable(const std::string& socket, const std::string& why) {
  std::cerr << "forkjournal: forkjournald on " << socket << " is unreachable: " << why << "\n";
  return 2;
}

// Waits at most until `deadline` for the socket's next bytes; false with
// `why` set when the time is up.
bool set_wait(int fd, std::chrono::steady_clock::time_point deadline, int option,
              const std::chrono::seconds& timeout, std::string& why) {
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    why = "no reply within " + std::to_string(timeout.count()) + " s";
    return false;
  }
  const timeval t{static_cast<time_t>(left.count() / 1000000),
                  static_cast<suseconds_t>(left.count() % 1000000)};
  ::setsockopt(fd, SOL_SOCKET, option, &t, sizeof t);
  return true;
}

// One request line to forkjournald and its reply line, over a fresh
// connection, all within `timeout`; nullopt with `why` set on failure.
std::optional<std::string> ask(const std::string& path, const std::string& line,
                               std::chrono::seconds timeout, std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    why = "the socket path is too long";
    return std::nullopt;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) {
    why = std::string("socket: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (!set_wait(s.fd, deadline, SO_SNDTIMEO, timeout, why)) return std::nullopt;
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    why = std::string("connect: ") + std::strerror(errno);
    return std::nullopt;
  }
  const std::string request = line + "\n";
  for (std::size_t sent = 0; sent < request.size();) {
    if (!set_wait(s.fd, deadline, SO_SNDTIMEO, timeout, why)) return std::nullopt;
    const ssize_t n = ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = errno == EAGAIN || errno == EWOULDBLOCK
                ? "no reply within " + std::to_string(timeout.count()) + " s"
                : std::string("send: ") + std::strerror(errno);
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  // The deadline covers the whole reply: a server that sends a byte now and
  // then must not hold the probe past it.
  std::string reply;
  char buf[4096];
  for (;;) {
    if (!set_wait(s.fd, deadline, SO_RCVTIMEO, timeout, why)) return std::nullopt;
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = errno == EAGAIN || errno == EWOULDBLOCK
                ? "no reply within " + std::to_string(timeout.count()) + " s"
                : std::string("recv: ") + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) {
      why = "the connection closed before a reply";
      return std::nullopt;
    }
    const std::size_t searched = reply.size();
    reply.append(buf, static_cast<std::size_t>(n));
    if (const auto end = reply.find('\n', searched); end != std::string::npos) {
      return reply.substr(0, end);
    }
    if (reply.size() > kMaxReply) {
      why = "a reply longer than " + std::to_string(kMaxReply) + " bytes without a line end";
      return std::nullopt;
    }
  }
}

// A JSON number as a person reads it: integers as they are, fractions (the
// ages in seconds) to a tenth, or a thousandth below one, never in
// Boost.JSON's exponent form (8.220266894E0); "none" for a missing field.
std::string number(const json::value* v) {
  if (v == nullptr || v->is_null()) return "none";
  if (!v->is_double()) return json::serialize(*v);
  const double d = v->get_double();
  char text[64];
  std::snprintf(text, sizeof text, std::fabs(d) < 1 && d != 0 ? "%.3f" : "%.1f", d);
  return text;
}

}  // namespace

int cmd_health(const Options& o) {
  std::string why;
  const auto reply =
      ask(o.socket, R"({"op":"health"})", std::chrono::seconds(o.health_timeout_s), why);
  if (!reply) return unreachable(o.socket, why);
  json::error_code ec;
  json::value v = json::parse(*reply, ec);
  if (ec || !v.is_object()) return unreachable(o.socket, "a reply that is not a JSON object");
  json::object& r = v.as_object();
  if (const auto* ok = r.if_contains("ok"); ok == nullptr || !ok->is_bool() || !ok->get_bool()) {
    const auto* error = r.if_contains("error");
    return unreachable(o.socket, "health refused: " + (error ? json::serialize(*error) : *reply));
  }
  const auto* status = r.if_contains("status");
  if (status == nullptr || !status->is_string()) {
    return unreachable(o.socket, "a reply without a status");
  }
  const bool healthy = status->get_string() == "healthy";
  if (o.json) {
    r.erase("id");
    r.erase("ok");
    std::cout << json::serialize(r) << "\n";
  } else {
    std::cout << status->get_string().c_str() << ": head seq " << number(r.if_contains("head_seq"));
    if (const auto* age = r.if_contains("last_commit_age_seconds");
        age == nullptr || age->is_null()) {
      std::cout << ", no commit since start";
    } else {
      std::cout << ", last commit " << number(r.if_contains("last_commit_age_seconds")) << " s ago";
    }
    if (const auto* map = r["map"].if_object()) {
      const auto* limit = map->if_contains("limit_bytes");
      std::cout << ", map " << number(map->if_contains("used_bytes")) << " bytes";
      if (limit != nullptr && !limit->is_null()) {
        std::cout << " of " << number(limit);
      } else {
        std::cout << " (no --max-map-size)";
      }
    }
    if (const auto* reader = r["oldest_reader"].if_object()) {
      const auto* age = reader->if_contains("age_seconds");
      std::cout << ", oldest reader pid " << number(reader->if_contains("pid")) << " "
                << number(reader->if_contains("txn_lag")) << " commits behind";
      if (age != nullptr && age->is_number()) std::cout << " for " << number(age) << " s";
    }
    std::cout << "\n";
    if (const auto* reasons = r["reasons"].if_array()) {
      for (const auto& reason : *reasons) {
        if (reason.is_string()) std::cout << "  " << reason.get_string().c_str() << "\n";
      }
    }
  }
  return healthy ? 0 : 1;
}

}  // namespace fj::cli
