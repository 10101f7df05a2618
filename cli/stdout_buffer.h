// std::cout's buffer in forkjournal: output goes to fd 1 with write(2), and
// the first failed write is remembered with its errno, so that main() can
// turn a lost report (a full disk, a closed file) into an error exit instead
// of the exit code of a command whose output nobody got.
//
// Errors: a write failing other than with EINTR (short writes are retried)
// sets error() and fails the stream (badbit); later output is dropped.
// EPIPE kills the process with SIGPIPE as before, unless it is ignored.
// Lifetime: installs itself as std::cout's buffer for its lifetime and puts
// the previous one back, flushed, when it is destroyed.
// Threads: std::cout's; the commands write from the main thread only.
#pragma once

#include <array>
#include <streambuf>

namespace fj::cli {

class StdoutBuffer : public std::streambuf {
 public:
  StdoutBuffer();
  ~StdoutBuffer() override;
  StdoutBuffer(const StdoutBuffer&) = delete;
  StdoutBuffer& operator=(const StdoutBuffer&) = delete;

  // Writes out what is buffered; the errno of the first write that failed so
  // far, or 0.
  int flush();

 protected:
  int_type overflow(int_type ch) override;
  int sync() override;

 private:
  bool drain();

  std::array<char, 64 * 1024> buffer_;
  std::streambuf* previous_ = nullptr;
  int error_ = 0;
};

}  // namespace fj::cli
