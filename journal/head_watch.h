// Waiting for a journal's head to move, at near-zero CPU while nothing is
// committed: the loop behind `forkjournal export --follow` and any other
// follower that is not inside forkjournald (which wakes its followers from
// the writer instead, ServiceObserver::on_head).
//
// Every LMDB commit, of any process, writes data.mdb with writev (the data
// pages) and pwrite (the meta page, last), and each such write raises
// IN_MODIFY on the file; fsync raises nothing. A wake means "the head may
// have moved": the caller then reads the head in a fresh read transaction.
// That read may still miss the commit whose write woke it: LMDB publishes
// the new transaction to readers in lock.mdb's shared memory just after the
// meta page's write, which raises nothing. So after a changed wake the next
// waits time out within kSettle (kSettleWaits of them, 50 ms in all), and a
// caller that reads the head after every wake sees the commit at once
// instead of at the fallback. Writes through a shared
// mapping (MDB_WRITEMAP, which the journal does not use) raise no event, and
// a data.mdb replaced under the watch is no longer the watched file, so wait()
// also returns after a bounded fallback period: a follower is never later
// than that, whatever the filesystem does.
//
// Errors: open() fails with io_error (errno in the message) when inotify is
// unavailable or data.mdb cannot be watched (not_a_journal when there is no
// data.mdb); wait() fails with io_error when poll or read fails.
//
// Lifetime and threads: a HeadWatch owns one inotify descriptor (closed on
// destruction, close-on-exec); it is movable, not copyable, and used from one
// thread at a time. It may be opened before or after the Journal it watches,
// and outlive it.
#pragma once

#include "journal/error.h"

#include <chrono>
#include <string>

namespace fj {

class HeadWatch {
 public:
  enum class Wake {
    changed,  // data.mdb was written since the last wait (or open)
    timeout,  // the fallback period passed without a write
    stop_fd,  // the descriptor given to wait() became readable
  };

  static constexpr std::chrono::milliseconds kSettle{2};
  static constexpr int kSettleWaits = 25;

  static Result<HeadWatch> open(const std::string& journal_dir);

  HeadWatch(HeadWatch&& other) noexcept;
  HeadWatch& operator=(HeadWatch&& other) noexcept;
  HeadWatch(const HeadWatch&) = delete;
  HeadWatch& operator=(const HeadWatch&) = delete;
  ~HeadWatch();

  // Blocks until data.mdb is written, `fallback` (kSettle while settling
  // after a write) passes, or `stop_fd` (when not -1) is readable, whichever
  // comes first; drains the pending write events before returning changed,
  // so that the next wait sleeps until a later write. stop_fd is polled,
  // never read.
  Result<Wake> wait(std::chrono::milliseconds fallback, int stop_fd = -1);

 private:
  explicit HeadWatch(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
  int settle_left_ = 0;  // short waits still due after the last write
};

}  // namespace fj
