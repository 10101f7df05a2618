// Internal to gc/: an owned file descriptor, and opening a directory
// without following a link.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace fj::gc {

// Closes its descriptor on destruction. Move-only; not thread-safe.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_;
};

// parent/name opened as a directory, never through a symlink. On failure,
// `err` is the errno and `kind` says what is there when that is known.
struct NoFollowDir {
  enum class Kind : unsigned char { unknown, symlink, not_a_directory };
  Fd fd;
  int err = 0;
  Kind kind = Kind::unknown;
};

inline NoFollowDir open_dir_nofollow(int parent, const char* name) {
  NoFollowDir d{Fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))};
  if (d.fd) return d;
  d.err = errno;
  // Linux reports a symlink opened with O_DIRECTORY | O_NOFOLLOW as ENOTDIR.
  struct stat st {};
  if ((d.err == ELOOP || d.err == ENOTDIR) &&
      ::fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    d.kind = S_ISLNK(st.st_mode) ? NoFollowDir::Kind::symlink : NoFollowDir::Kind::not_a_directory;
  }
  return d;
}

}  // namespace fj::gc
