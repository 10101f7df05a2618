// Lines for stdout, written whole with write(2) so that a follower knows
// exactly what reached the reader: export --follow stops quietly when the
// reader goes away (EPIPE, with SIGPIPE ignored) and never counts a line as
// printed that was not written in full.
//
// Errors: flush() returns io_error (errno in the message) for a failed
// write other than EPIPE; after EPIPE it returns success and closed() is
// true, and later lines are dropped.
// Lifetime and threads: one per process, on one thread.
#pragma once

#include "journal/error.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace fj::cli {

class StdoutLines {
 public:
  // Buffers `line` and a newline.
  void add(std::string_view line);
  // Bytes buffered and not yet written.
  std::size_t pending() const noexcept { return buffer_.size(); }
  // Marks everything buffered so far as ready for flush_marked().
  void mark() noexcept { marked_ = buffer_.size(); }
  // Writes every buffered byte (retrying short writes and EINTR).
  Result<void> flush() { return write_out(buffer_.size()); }
  // Writes the bytes buffered up to the last mark(); drops the rest.
  Result<void> flush_marked();
  // The reader closed stdout (EPIPE).
  bool closed() const noexcept { return closed_; }

 private:
  Result<void> write_out(std::size_t bytes);

  std::string buffer_;
  std::size_t marked_ = 0;
  bool closed_ = false;
};

}  // namespace fj::cli
