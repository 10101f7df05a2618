#include "cli/stdout_lines.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fj::cli {

void StdoutLines::add(std::string_view line) {
  if (closed_) return;
  buffer_.append(line);
  buffer_.push_back('\n');
}

Result<void> StdoutLines::flush_marked() {
  auto done = write_out(marked_);
  buffer_.clear();
  marked_ = 0;
  return done;
}

Result<void> StdoutLines::write_out(std::size_t bytes) {
  std::size_t done = 0;
  while (!closed_ && done < bytes) {
    const ssize_t n = ::write(STDOUT_FILENO, buffer_.data() + done, bytes - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno == EPIPE) {
      closed_ = true;
    } else if (errno != EINTR) {
      const int saved = errno;
      buffer_.erase(0, done);
      marked_ = marked_ > done ? marked_ - done : 0;
      return make_error(Errc::io_error, std::string("write to stdout: ") + std::strerror(saved));
    }
  }
  buffer_.erase(0, bytes);
  marked_ = marked_ > bytes ? marked_ - bytes : 0;
  if (closed_) buffer_.clear();
  return {};
}

}  // namespace fj::cli
