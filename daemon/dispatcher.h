// Serves the forkjournald wire protocol (docs/protocol.md) on connected
// stream sockets: reads newline-delimited JSON requests, runs each against a
// Service and writes one reply line per request, in request order.
//
// Errors: none are thrown or returned. A malformed or refused request gets an
// error reply and the connection goes on; a line longer than
// protocol::kMaxLine gets a too_large reply and the connection is closed; a
// read or write error closes the connection.
//
// Threads: not thread-safe. Call every member on the executor given to the
// constructor (a one-threaded io_context, or a strand); the connections run
// there as coroutines, and the Service posts its completions back to it.
//
// Lifetime: the Dispatcher and the Service must outlive every connection
// served: run the executor's io_context until it runs out of work (stop()
// makes every connection end) before destroying them.
#pragma once

#include "daemon/service.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <list>
#include <string>
#include <string_view>

namespace fj::service {

class Dispatcher {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;

  // `version` is what a ping answers.
  Dispatcher(boost::asio::any_io_executor executor, Service& service, std::string version);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Serves `socket` until the peer closes it, a line is too large, a write
  // fails, or stop(). Returns at once; the socket is closed at the end.
  void serve(Socket socket);

  // Ends every connection once its current request is answered (reads see
  // end-of-file; replies still go out). A connection served after stop()
  // ends the same way.
  void stop();

  // One request line (without its newline) to its reply (without newline).
  boost::asio::awaitable<std::string> reply(std::string_view line);

  // Connections being served.
  std::size_t connections() const { return connections_.size(); }

 private:
  boost::asio::awaitable<void> session(std::list<Socket>::iterator it);

  boost::asio::any_io_executor executor_;
  Service& service_;
  std::string version_;
  std::list<Socket> connections_;
  bool stopping_ = false;
};

}  // namespace fj::service
