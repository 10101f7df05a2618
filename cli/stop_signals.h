// SIGINT and SIGTERM as a descriptor (signalfd) instead of handlers, so that
// a long-running command (export --follow) sees them in its own wait and
// stops between lines, never inside one. open() blocks both signals for the
// process; the descriptor is readable while one is pending.
//
// Errors: open() returns io_error (errno in the message) when the signals
// cannot be blocked or the descriptor made.
// Lifetime and threads: one per process, created before any other thread;
// the descriptor closes on destruction (the signals stay blocked).
#pragma once

#include "journal/error.h"

namespace fj::cli {

class StopSignals {
 public:
  static Result<StopSignals> open();
  StopSignals(StopSignals&& other) noexcept;
  StopSignals& operator=(StopSignals&&) = delete;
  StopSignals(const StopSignals&) = delete;
  ~StopSignals();

  // For poll(): readable once SIGINT or SIGTERM is pending.
  int fd() const noexcept { return fd_; }
  // Whether one is pending, without waiting.
  bool received() const;

 private:
  explicit StopSignals(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace fj::cli
