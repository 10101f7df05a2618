// The project's one owner of file descriptors and directory streams, and
// opening a directory without following a link. For gc/ and everything above
// it (daemon/, cli/, bench/, crashtest/); journal/ and projector/ hold none.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

namespace fj::gc {

// Closes its descriptor on destruction, ignoring a close error. Move-only;
// not thread-safe.
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_;
};

struct CloseDir {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};
// A directory stream, closed (with its descriptor) on destruction.
using Dir = std::unique_ptr<DIR, CloseDir>;

// A directory stream for parent/name, never through a symlink; empty with
// errno set on failure.
inline Dir open_dir_stream(int parent, const char* name) {
  Fd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return nullptr;
  Dir dir(::fdopendir(fd.get()));
  if (dir) fd.release();  // now owned by `dir`
  return dir;
}

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
