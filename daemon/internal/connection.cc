#include "daemon/internal/connection.h"

#include "daemon/protocol.h"

#include <poll.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <utility>

namespace fj::service {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::string millis(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s"
                               : std::to_string(d.count()) + " ms";
}

}  // namespace

Connection::Connection(Socket socket, const DispatcherOptions& options)
    : socket_(std::move(socket)),
      options_(options),
      read_deadline_(socket_.get_executor()),
      write_deadline_(socket_.get_executor()),
      room_(socket_.get_executor(), Clock::time_point::max()),
      room_deadline_(socket_.get_executor()) {
  // Reads take what the kernel holds without waiting; only the wait for
  // more suspends.
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
}

// GCC 12 inlines Asio's coroutine-frame allocation (aligned_alloc) and its
// sized operator delete into these coroutines' ramps and reports them as
// mismatched (-Wmismatched-new-delete), though Asio releases that memory with
// std::free, which matches; the warning is wrong, so off for them.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<std::optional<std::string>> Connection::read_line() {
  for (;;) {
    if (closed_ || reading_stopped_) co_return std::nullopt;
    const std::size_t nl = input_.find('\n', scanned_);
    if (nl != std::string::npos && nl - head_ <= protocol::kMaxLine) {
      std::string line = input_.substr(head_, nl - head_);
      head_ = scanned_ = nl + 1;
      line_started_.reset();
      if (head_ == input_.size()) {
        std::string().swap(input_);
        head_ = scanned_ = 0;
      }
      co_return line;
    }
    if (nl != std::string::npos || input_.size() - head_ > protocol::kMaxLine) {
      reading_stopped_ = true;
      limit_ = own_error_ = "too_large";
      // Named: GCC 12 may destroy a temporary in a co_await expression twice.
      const std::string too_large = protocol::error_response(
          nullptr, "too_large",
          "request line longer than " + std::to_string(protocol::kMaxLine) + " bytes");
      co_await send(too_large);
      co_return std::nullopt;
    }
    // Lines handed out are dropped only now, once per read rather than once
    // per line.
    input_.erase(0, head_);
    head_ = 0;
    scanned_ = input_.size();

    boost::system::error_code ec;
    std::size_t ready = socket_.available(ec);
    if (!ec && ready == 0) {
      arm_read_deadline();
      auto [wait_ec] =
          co_await socket_.async_wait(Socket::wait_read, asio::as_tuple(asio::use_awaitable));
      read_deadline_.expires_at(Clock::time_point::max());
      if (expired_ == Expired::line) {
        reading_stopped_ = true;
        limit_ = "line_timeout";
        own_error_ = "timeout";
        const std::string message =
            "request line not completed within " + millis(options_.line_timeout);
        if (options_.log) options_.log("closing a connection: " + message);
        const std::string timeout = protocol::error_response(nullptr, "timeout", message);
        co_await send(timeout);
        co_return std::nullopt;
      }
      if (expired_ == Expired::idle) limit_ = "idle_timeout";
      if (expired_ == Expired::idle || wait_ec) co_return std::nullopt;
      ready = socket_.available(ec);
    }
    // At least one byte, so that end-of-file and errors show; never more
    // than one past the longest line.
    const std::size_t want =
        std::min(std::max<std::size_t>(ready, 1), protocol::kMaxLine + 1 - input_.size());
    const std::size_t had = input_.size();
    input_.resize(had + want);
    const std::size_t n = socket_.read_some(asio::buffer(input_.data() + had, want), ec);
    input_.resize(had + n);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec == asio::error::eof && !input_.empty() && !reading_stopped_) {
      // The peer ended its side in the middle of a line: the line is not a
      // request (it may have been cut short), but say so rather than let
      // the client take a bare end-of-file for an answer.
      reading_stopped_ = true;
      own_error_ = "bad_request";
      const std::string unterminated = protocol::error_response(
          nullptr, "bad_request",
          "request line not terminated: the connection ended before a newline");
      co_await send(unterminated);
      co_return std::nullopt;
    }
    if (ec) co_return std::nullopt;
  }
}

asio::awaitable<void> Connection::send(std::string_view reply) {
  if (closed_) co_return;
  output_.append(reply);
  output_.push_back('\n');
  flush();
  while (!closed_ && output_.size() + in_flight_.size() > options_.max_output) {
    co_await room_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void Connection::queue(std::string_view line) {
  if (closed_) return;
  output_.append(line);
  output_.push_back('\n');
  flush();
}

asio::awaitable<bool> Connection::wait_for_room(Clock::time_point deadline, std::size_t at_most) {
  if (closed_ || unsent() <= at_most) co_return !closed_;
  room_deadline_.expires_at(deadline);
  room_deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->room_.cancel();
  });
  while (!closed_ && unsent() > at_most && Clock::now() < deadline) {
    co_await room_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  room_deadline_.cancel();
  const bool room = !closed_ && unsent() <= at_most;
  if (!room && !closed_) limit_ = "too_slow";
  co_return room;
}

asio::awaitable<void> Connection::drain() {
  while (writing_ && !closed_) co_await room_.async_wait(asio::as_tuple(asio::use_awaitable));
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic pop
#endif

bool Connection::peer_gone() {
  if (closed_) return true;
  pollfd p{socket_.native_handle(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void Connection::stop_reading() {
  reading_stopped_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_receive, ignored);
}

void Connection::arm_read_deadline() {
  // A line's time counts from when the reader first waits for its rest, so
  // time spent answering earlier requests is not held against it.
  const bool partial = !input_.empty();
  if (partial && !line_started_) line_started_ = Clock::now();
  read_deadline_.expires_at(partial ? *line_started_ + options_.line_timeout
                                    : Clock::now() + options_.idle_timeout);
  read_deadline_.async_wait([self = shared_from_this(), partial](boost::system::error_code ec) {
    // A wait re-armed or disarmed after it expired still completes without
    // an error: only a deadline that has passed counts.
    if (ec || self->closed_ || self->read_deadline_.expiry() > Clock::now()) return;
    self->expired_ = partial ? Expired::line : Expired::idle;
    boost::system::error_code ignored;
    self->socket_.shutdown(Socket::shutdown_receive, ignored);
  });
}

void Connection::flush() {
  if (writing_ || closed_ || output_.empty()) return;
  writing_ = true;
  in_flight_.swap(output_);
  write_deadline_.expires_after(options_.write_timeout);
  write_deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || !self->writing_ || self->write_deadline_.expiry() > Clock::now()) return;
    // The first limit reached is the reason (a too_slow subscriber's last
    // line may then wait for the write timeout).
    if (self->limit_.empty()) self->limit_ = "write_timeout";
    if (self->options_.log) {
      self->options_.log("closing a connection: its peer took no reply within " +
                         millis(self->options_.write_timeout) + " (" +
                         std::to_string(self->in_flight_.size() + self->output_.size()) +
                         " bytes unsent)");
    }
    self->close();
  });
  asio::async_write(socket_, asio::buffer(in_flight_),
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->writing_ = false;
                      self->write_deadline_.expires_at(Clock::time_point::max());
                      self->in_flight_.clear();
                      if (ec) {
                        self->close();
                      } else if (self->output_.empty()) {
                        // Nothing more to write: keep no buffers while idle.
                        std::string().swap(self->in_flight_);
                        std::string().swap(self->output_);
                      } else {
                        self->flush();
                      }
                      self->room_.cancel();
                    });
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  // Before the socket closes: the peer may act on its end-of-file at once.
  if (on_close_) std::exchange(on_close_, nullptr)();
  boost::system::error_code ignored;
  socket_.close(ignored);
  read_deadline_.cancel();
  write_deadline_.cancel();
  room_deadline_.cancel();
  room_.cancel();
}

}  // namespace fj::service
