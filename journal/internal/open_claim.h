// One open of a journal directory per process. LMDB keeps its lock-file
// locks as POSIX record locks, and a process loses every such lock on a file
// when it closes any descriptor of that file: a second Journal on the same
// directory, once closed, would leave this process holding a writer and
// readers without the lock that tells the next process to open the journal
// that it is in use, and that process would reset the lock file under them
// (its reader table and its writer mutex). So Journal::open and
// Journal::create claim the directory, by device and inode, for as long as
// the Journal lives, and a second claim is refused.
//
// Errors: invalid_argument naming the directory (already open in this
// process). A directory that cannot be looked at is not claimed and not
// refused: the open that follows says why it cannot be opened.
// Threads: any; the table of claims is shared by the process.
// Lifetime: the claim is released when the OpenClaim is destroyed.
#pragma once

#include "journal/error.h"

#include <sys/types.h>
#include <cstdint>
#include <string>

namespace fj {

class OpenClaim {
 public:
  OpenClaim() = default;
  OpenClaim(OpenClaim&& other) noexcept { *this = std::move(other); }
  OpenClaim& operator=(OpenClaim&& other) noexcept;
  OpenClaim(const OpenClaim&) = delete;
  OpenClaim& operator=(const OpenClaim&) = delete;
  ~OpenClaim() { release(); }

  // Claims `dir`; an empty claim when `dir` does not exist (yet).
  static Result<OpenClaim> take(const std::string& dir);

  bool empty() const noexcept { return !held_; }

 private:
  void release() noexcept;

  bool held_ = false;
  std::uint64_t generation_ = 0;  // of the process's fork()s (open_claim.cc)
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace fj
