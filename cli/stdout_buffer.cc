#include "cli/stdout_buffer.h"

#include <unistd.h>

#include <cerrno>
#include <iostream>

namespace fj::cli {

StdoutBuffer::StdoutBuffer() {
  setp(buffer_.data(), buffer_.data() + buffer_.size());
  std::cout.flush();
  previous_ = std::cout.rdbuf(this);
}

StdoutBuffer::~StdoutBuffer() {
  drain();
  std::cout.rdbuf(previous_);
}

int StdoutBuffer::flush() {
  std::cout.flush();
  drain();
  return error_;
}

StdoutBuffer::int_type StdoutBuffer::overflow(int_type ch) {
  if (!drain()) return traits_type::eof();
  if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
  *pptr() = traits_type::to_char_type(ch);
  pbump(1);
  return ch;
}

int StdoutBuffer::sync() {
  return drain() ? 0 : -1;
}

bool StdoutBuffer::drain() {
  const char* next = pbase();
  while (error_ == 0 && next < pptr()) {
    const ssize_t n = ::write(STDOUT_FILENO, next, static_cast<std::size_t>(pptr() - next));
    if (n >= 0) {
      next += n;
    } else if (errno != EINTR) {
      error_ = errno;
    }
  }
  // After a failure the rest is dropped: nobody can read it any more.
  setp(buffer_.data(), buffer_.data() + buffer_.size());
  return error_ == 0;
}

}  // namespace fj::cli
