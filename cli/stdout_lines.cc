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

Result<void> StdoutLines::flush() {
  std::size_t done = 0;
  while (!closed_ && done < buffer_.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, buffer_.data() + done, buffer_.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno == EPIPE) {
      closed_ = true;
    } else if (errno != EINTR) {
      const int saved = errno;
      buffer_.erase(0, done);
      return make_error(Errc::io_error, std::string("write to stdout: ") + std::strerror(saved));
    }
  }
  buffer_.clear();
  return {};
}

}  // namespace fj::cli
