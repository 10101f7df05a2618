// Serves the forkjournald wire protocol (docs/protocol.md) on connected
// stream sockets: reads newline-delimited JSON requests, runs each against a
// Service and writes one reply line per request, in request order. A
// connection's next request is read and run while earlier replies are still
// being written. A subscribe request turns its connection into a stream of
// events (docs/protocol.md, daemon/internal/subscription.h) that reads no
// more requests; its subscribers are woken by DispatcherOptions::heads.
//
// Limits (DispatcherOptions), so that no client can hold unbounded memory or
// a connection slot for ever. Per connection the dispatcher holds at most one
// partial request line (protocol::kMaxLine) and the replies not yet written:
// past max_output bytes of those it stops reading the connection's requests
// until they drain, so one reply larger than max_output still goes out. An
// idle connection holds no buffer.
//
// Errors: none are thrown or returned; every limit ends in closing the
// connection (an unsent reply is dropped; what was applied stays applied).
// A malformed or refused request gets an error reply and the connection goes
// on. A line longer than protocol::kMaxLine gets a too_large reply, a line
// not completed within line_timeout a timeout reply, and one cut short by
// the peer's end-of-file a bad_request reply (it is not run), and the
// connection is closed once the replies before them are written. A connection with no
// request and no partial line for idle_timeout is closed without a reply;
// one whose peer has not taken a pending write within write_timeout is
// closed at once. A read or write error closes the connection.
//
// Past max_connections a new connection is still answered once, so that a
// monitor can tell a daemon at its cap from a dead one: its first line, if
// it comes within kOverLimitWait, gets a health answer when it asks for one
// and a busy reply otherwise (busy too when no line comes), and the
// connection is closed. At most kOverLimit such connections are held at a
// time (each for at most kOverLimitWait and one short reply); past them a
// new one gets busy at once, unread.
//
// Threads: not thread-safe. Call every member on the executor given to the
// constructor (a one-threaded io_context, or a strand); the connections run
// there as coroutines, and the Service posts its completions back to it.
//
// Lifetime: the Dispatcher and the Service must outlive every connection
// served: run the executor's io_context until it runs out of work (stop()
// makes every connection end) before destroying them.
#pragma once

#include "daemon/head_signal.h"
#include "daemon/health.h"
#include "daemon/protocol.h"
#include "daemon/service.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace fj::service {

class Connection;

// Connections past max_connections held at once to read their one request,
// and how long each is held for it.
inline constexpr std::size_t kOverLimit = 8;
inline constexpr std::chrono::milliseconds kOverLimitWait{1000};

struct DispatcherOptions {
  std::size_t max_connections = 4096;   // served at once; past it new ones are refused busy
  std::size_t max_output = 256 * 1024;  // bytes of unwritten replies before reading pauses
  std::chrono::milliseconds write_timeout{30'000};  // for the peer to take a pending write
  std::chrono::milliseconds line_timeout{10'000};   // for a started line to be completed
  std::chrono::milliseconds idle_timeout{300'000};  // with no request and no partial line
  // Told why a connection was refused or closed by a limit (not for the idle
  // timeout, which is routine); may be empty.
  std::function<void(const std::string&)> log;
  HealthOptions health;  // what the health op calls degraded
  // Told of every request answered: its op's name, whatever is wrong with
  // its fields ("invalid" only for a line that names no known op: malformed
  // JSON, no op, an unknown one) and "ok" or the error code of its reply.
  // Also told of every error line that ends a connection before a request
  // is read: too_large, timeout and an unterminated line's bad_request (op
  // "invalid"), and busy (the op the line names, else "invalid").
  // Called on the dispatcher's executor; may be empty.
  std::function<void(std::string_view op, std::string_view result)> on_request;
  // Told of every connection a limit refused or closed, by the limit:
  // "max_connections" (refused: busy, or one health answer),
  // "too_large", "line_timeout", "idle_timeout", "write_timeout",
  // "too_slow" (a subscriber). On the dispatcher's executor; may be empty.
  std::function<void(std::string_view reason)> on_closed;
  // Wakes subscribers when the head moves (it must also be one of the
  // service's observers); without it they look for new events once a second.
  std::shared_ptr<HeadSignal> heads;
};

class Dispatcher {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;

  // `version` is what a ping answers.
  Dispatcher(boost::asio::any_io_executor executor, Service& service, std::string version,
             DispatcherOptions options = {});
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;
  ~Dispatcher();

  // Serves `socket` until the peer closes it, a limit or an error ends it, or
  // stop(); returns true at once. With max_connections already served,
  // answers its one request as above (or writes busy without waiting) and
  // returns false.
  bool serve(Socket socket);

  // Ends every connection once its current request is answered (reads see
  // end-of-file; replies still go out). A connection served after stop()
  // ends the same way.
  void stop();

  // One request line (without its newline) to its reply (without newline).
  boost::asio::awaitable<std::string> reply(std::string_view line);

  // Connections being served.
  std::size_t connections() const { return connections_.size(); }

 private:
  using Connections = std::list<std::shared_ptr<Connection>>;

  boost::asio::awaitable<void> session(Connections::iterator it);
  // The one request of a connection past max_connections.
  boost::asio::awaitable<void> over_limit(Connections::iterator it);
  // Reports how a connection ended (on_request for its own error line,
  // on_closed for its limit): its on_close hook, so once per connection and
  // before its socket is closed on every path (after its replies are
  // written, a write error, the write deadline), so that a client that
  // reads the close finds it counted.
  void count_end(const Connection& connection, bool over_limit);
  // Writes busy without waiting and closes the socket.
  void refuse_busy(Socket& socket);
  std::string busy_line() const;
  // reply() for a line already parsed (`named` as parse_request set it).
  boost::asio::awaitable<std::string> respond(protocol::Parsed parsed,
                                              std::optional<protocol::Op> named);
  // respond() without the on_request call: sets op and result as it answers.
  boost::asio::awaitable<std::string> answer(protocol::Parsed& parsed,
                                             std::optional<protocol::Op> named,
                                             std::string_view& op, std::string& result);

  boost::asio::any_io_executor executor_;
  Service& service_;
  std::string version_;
  DispatcherOptions options_;
  // What connections past max_connections are held to: kOverLimitWait for
  // their line, whether started or not.
  DispatcherOptions over_limit_options_;
  Connections connections_;
  Connections over_limit_;  // past max_connections, answered once
  bool stopping_ = false;
  std::size_t refused_ = 0;  // connections refused since the last one served
};

}  // namespace fj::service
