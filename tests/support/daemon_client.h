// A client of forkjournald's socket: one AF_UNIX stream connection speaking
// newline-delimited JSON (docs/protocol.md). Every wait is bounded: connects
// and sends time out after 10 s, reads after the deadline given. Operations
// report failure by their return value and say why in error(); nothing
// throws. Not thread-safe: one Client per thread. The connection closes with
// the Client.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace fj::testing {

using namespace std::chrono_literals;

// How long a client waits for one response.
inline constexpr std::chrono::steady_clock::duration kIoTimeout = 10s;

// A connected AF_UNIX stream socket, or -1 (errno set). The caller closes it.
int connect_unix(const std::string& path);

class Client {
 public:
  explicit Client(const std::string& path);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Why the last operation failed ("end of file" after an orderly close).
  const std::string& error() const { return error_; }
  bool at_eof() const { return eof_; }
  // Whether the peer closed the connection (end of file, or a reset when it
  // closed with requests of ours unread).
  bool closed_by_peer() const { return eof_ || reset_; }

  bool send(std::string_view bytes);
  // As send(), but also true when the peer closed the connection before
  // taking every byte (EPIPE, or ECONNRESET for bytes it left unread): the
  // daemon does so past a limit, after queueing its one answer, which is
  // then still there to read.
  bool send_until_closed(std::string_view bytes);

  // The next line without its newline; nullopt on end of file, an error or
  // the deadline.
  std::optional<std::string> read_line(std::chrono::steady_clock::duration timeout = kIoTimeout);

  // Sends one request and parses the response line as a JSON object; nullopt
  // if there is none or it is not a JSON object.
  std::optional<boost::json::object> roundtrip(const boost::json::object& request);

  std::optional<boost::json::object> read_response(
      std::chrono::steady_clock::duration timeout = kIoTimeout);

  void close();

 private:
  int fd_ = -1;
  bool eof_ = false;
  bool reset_ = false;
  int send_errno_ = 0;  // of the last send() that failed
  std::string buffer_;
  std::string error_;
};

}  // namespace fj::testing
