// One connection the dispatcher serves, under its limits (DispatcherOptions,
// daemon/dispatcher.h): reads request lines with an idle and a line
// deadline, and queues reply lines that a write drains behind the reader,
// with a write deadline. Only whole lines are handed out; a partial line is
// buffered (at most protocol::kMaxLine + 1 bytes) and an idle connection
// holds no buffer at all.
//
// Errors: none are thrown. read_line() ends the requests (nullopt) at the
// peer's end-of-file (after a partial line, a bad_request reply saying so is
// queued), a read error, stop_reading(), a line over protocol::kMaxLine (a
// too_large reply is queued) and the line deadline (a timeout reply is
// queued); the idle deadline ends them as well. A write
// error or the write deadline closes the connection (close(), on_close()
// first): queued replies are dropped and read_line() and send() return at
// once.
//
// Threads: not thread-safe; every member runs on the socket's executor,
// which must be one thread or a strand. Timers and the write hold a
// shared_ptr to the Connection, so create it with std::make_shared; it
// stays alive until they complete, which close() brings about.
#pragma once

#include "daemon/dispatcher.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace fj::service {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Socket = Dispatcher::Socket;

  // `options` must outlive the Connection.
  Connection(Socket socket, const DispatcherOptions& options);

  // The next request line, without its newline; nullopt when no request
  // follows (see above).
  boost::asio::awaitable<std::optional<std::string>> read_line();

  // Queues `reply` and a newline for writing, then waits while more than
  // max_output bytes of replies are unwritten.
  boost::asio::awaitable<void> send(std::string_view reply);

  // Queues `line` and a newline without waiting, however much is unsent.
  void queue(std::string_view line);

  // Bytes queued and not yet written (the in-flight write included).
  std::size_t unsent() const noexcept { return output_.size() + in_flight_.size(); }

  // Waits until at most `at_most` bytes are unsent, the socket is closed or
  // `deadline` passes; returns whether there is room.
  boost::asio::awaitable<bool> wait_for_room(std::chrono::steady_clock::time_point deadline,
                                             std::size_t at_most);

  // Whether the peer has closed or shut down its end (checked without
  // reading or waiting, for a connection that no longer reads requests).
  bool peer_gone();

  bool closed() const noexcept { return closed_; }

  // Which limit ended the connection, if one did: "too_large" and
  // "line_timeout" (read_line() queued that error line), "idle_timeout",
  // "write_timeout", "too_slow" (a wait_for_room() that gave up with the
  // socket open: a subscriber's end); empty otherwise (the peer's end, an
  // error, stop_reading()).
  std::string_view limit_reached() const noexcept { return limit_; }

  // The code of the error line read_line() queued itself, without a request
  // to answer: "too_large", "timeout", "bad_request" (a line cut short by
  // end-of-file); empty when it queued none.
  std::string_view own_error() const noexcept { return own_error_; }

  // Waits until every queued reply is written or the socket is closed.
  boost::asio::awaitable<void> drain();

  // `hook` is called once, by the first close(), before the socket is
  // closed. The peer sees its end-of-file from then on, so what the
  // connection is counted for is counted in the hook, where a client that
  // reads the close and then scrapes the metrics finds it, whichever path
  // closes it (drain() and close(), a write error, the write deadline).
  void on_close(std::function<void()> hook) { on_close_ = std::move(hook); }

  // Calls the on_close() hook, then closes the socket; replies still queued
  // are dropped. Idempotent.
  void close();

  // Reads see end-of-file from now on; queued replies still go out.
  void stop_reading();

 private:
  enum class Expired { none, line, idle };

  void flush();
  void arm_read_deadline();

  Socket socket_;
  const DispatcherOptions& options_;
  boost::asio::steady_timer read_deadline_;
  boost::asio::steady_timer write_deadline_;
  // Never expires: a waiter for room in the output wakes when it is cancelled.
  boost::asio::steady_timer room_;
  // Cancels room_ at a wait_for_room deadline.
  boost::asio::steady_timer room_deadline_;
  std::string input_;        // bytes read; from head_ on not yet handed out as lines
  std::size_t head_ = 0;     // where input_'s next line starts
  std::size_t scanned_ = 0;  // input_'s bytes from head_ to here hold no newline
  // When the reader first waited for the rest of input_'s partial line.
  std::optional<std::chrono::steady_clock::time_point> line_started_;
  std::string output_;     // replies queued behind the write in flight
  std::string in_flight_;  // replies being written
  bool writing_ = false;
  bool reading_stopped_ = false;
  bool closed_ = false;
  Expired expired_ = Expired::none;
  std::string_view limit_;      // limit_reached()
  std::string_view own_error_;  // own_error()
  std::function<void()> on_close_;
};

}  // namespace fj::service
