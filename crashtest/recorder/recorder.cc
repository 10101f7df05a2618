// The write recorder: an LD_PRELOAD library that records, in order, every
// operation that changes what a directory's files hold or which names it
// holds (trace_format.h), so that the power-loss explorer can rebuild the
// states a power loss may leave.
//
// Environment: FJ_RECORD_DIR, the directory to record (its files and the
// directory itself), and FJ_RECORD_TRACE, the trace file to write. Without
// both the library only passes calls through.
//
// What it sees: open/openat (and their 64 variants), creat, write, writev,
// pwrite, pwritev, pwritev2, fsync, fdatasync, msync, ftruncate,
// posix_fallocate (recorded as the size it leaves, like a truncate), rename,
// renameat, renameat2, unlink, unlinkat, dup, dup2, dup3, close, mmap, sync,
// syncfs: every call LMDB and the journal make (LMDB 0.9 flushes with
// lseek+writev and pwrite, syncs with fdatasync, and opens its meta-page
// descriptor O_DSYNC). A writable shared mapping is recorded as such, because
// stores through it bypass every call here.
//
// It does not change what the program does: each call goes to libc with the
// same arguments and returns its result and errno. Operations on recorded
// files are serialised under one mutex, call and record together, so the
// trace order is the order the kernel saw them in.
#include "crashtest/recorder/trace_format.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using fj::record::OpKind;
using fj::record::TraceOp;

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

// libc's own functions, looked up once.
struct Libc {
  int (*open)(const char*, int, ...) = next<decltype(open)>("open");
  int (*openat)(int, const char*, int, ...) = next<decltype(openat)>("openat");
  ssize_t (*write)(int, const void*, size_t) = next<decltype(write)>("write");
  ssize_t (*writev)(int, const iovec*, int) = next<decltype(writev)>("writev");
  ssize_t (*pwrite)(int, const void*, size_t, off_t) = next<decltype(pwrite)>("pwrite");
  ssize_t (*pwritev)(int, const iovec*, int, off_t) = next<decltype(pwritev)>("pwritev");
  ssize_t (*pwritev2)(int, const iovec*, int, off_t, int) = next<decltype(pwritev2)>("pwritev2");
  int (*fsync)(int) = next<decltype(fsync)>("fsync");
  int (*fdatasync)(int) = next<decltype(fdatasync)>("fdatasync");
  int (*msync)(void*, size_t, int) = next<decltype(msync)>("msync");
  int (*ftruncate)(int, off_t) = next<decltype(ftruncate)>("ftruncate");
  int (*posix_fallocate)(int, off_t, off_t) = next<decltype(posix_fallocate)>("posix_fallocate");
  int (*renameat2)(int, const char*, int, const char*,
                   unsigned) = next<decltype(renameat2)>("renameat2");
  int (*unlinkat)(int, const char*, int) = next<decltype(unlinkat)>("unlinkat");
  int (*dup)(int) = next<decltype(dup)>("dup");
  int (*dup3)(int, int, int) = next<decltype(dup3)>("dup3");
  int (*dup2)(int, int) = next<decltype(dup2)>("dup2");
  int (*close)(int) = next<decltype(close)>("close");
  void* (*mmap)(void*, size_t, int, int, int, off_t) = next<decltype(mmap)>("mmap");
  void (*sync)() = next<decltype(sync)>("sync");
  int (*syncfs)(int) = next<decltype(syncfs)>("syncfs");
};

const Libc& libc() {
  static const Libc functions;
  return functions;
}

struct TrackedFd {
  std::uint32_t file = 0;
  bool dsync = false;
  bool directory = false;
};

struct Mapping {
  std::uintptr_t begin = 0, end = 0;
  std::uint32_t file = 0;
};

class Recorder {
 public:
  Recorder() {
    const char* dir = std::getenv("FJ_RECORD_DIR");
    const char* trace = std::getenv("FJ_RECORD_TRACE");
    if (dir == nullptr || trace == nullptr) return;
    char resolved[PATH_MAX];
    if (::realpath(dir, resolved) == nullptr) return;
    dir_ = resolved;
    trace_ = libc().open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (trace_ < 0) return;
    emit_bytes(fj::record::kTraceMagic.data(), fj::record::kTraceMagic.size());
  }

  bool active() const { return trace_ >= 0; }
  std::mutex& mutex() { return mutex_; }

  // The recorded name of `path` (relative to dirfd), or nothing when it lies
  // outside the directory. "." is the directory itself. Resolves the parent,
  // so it also names a path that does not exist (yet or any more).
  std::optional<std::string> name_of(int dirfd, const char* path) const {
    std::string full = path;
    if (full.empty()) return std::nullopt;
    if (full[0] != '/') {
      std::string base;
      if (dirfd == AT_FDCWD) {
        char cwd[PATH_MAX];
        if (::getcwd(cwd, sizeof cwd) == nullptr) return std::nullopt;
        base = cwd;
      } else {
        auto p = fd_path(dirfd);
        if (!p) return std::nullopt;
        base = *p;
      }
      full = base + "/" + full;
    }
    char resolved[PATH_MAX];
    if (::realpath(full.c_str(), resolved) != nullptr) return relative(resolved);
    const auto slash = full.find_last_of('/');
    const std::string parent = slash == 0 ? "/" : full.substr(0, slash);
    if (::realpath(parent.c_str(), resolved) == nullptr) return std::nullopt;
    const std::string leaf = full.substr(slash + 1);
    return relative(std::string(resolved) + "/" + leaf);
  }

  std::optional<std::string> fd_name(int fd) const {
    auto p = fd_path(fd);
    if (!p) return std::nullopt;
    return relative(*p);
  }

  // Called with the mutex held.
  std::uint32_t file_id(const std::string& name) {
    for (std::uint32_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return i;
    }
    names_.push_back(name);
    return static_cast<std::uint32_t>(names_.size() - 1);
  }
  const TrackedFd* tracked(int fd) const {
    auto it = fds_.find(fd);
    return it == fds_.end() ? nullptr : &it->second;
  }
  void track(int fd, TrackedFd t) { fds_[fd] = t; }
  void untrack(int fd) { fds_.erase(fd); }
  bool any_tracked() const { return !fds_.empty(); }
  void add_mapping(Mapping m) { maps_.push_back(m); }
  std::optional<std::uint32_t> mapped_file(const void* addr) const {
    const auto a = reinterpret_cast<std::uintptr_t>(addr);
    for (const Mapping& m : maps_) {
      if (a >= m.begin && a < m.end) return m.file;
    }
    return std::nullopt;
  }

  void emit(OpKind kind, std::uint32_t file, std::uint64_t offset, std::uint32_t flags,
            const void* payload = nullptr, std::size_t length = 0) {
    TraceOp op{kind, file, offset, flags, static_cast<std::uint32_t>(length)};
    emit_bytes(&op, sizeof op);
    if (length > 0) emit_bytes(payload, length);
  }

 private:
  static std::optional<std::string> fd_path(int fd) {
    char link[64], target[PATH_MAX];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = ::readlink(link, target, sizeof target - 1);
    if (n <= 0) return std::nullopt;
    return std::string(target, static_cast<std::size_t>(n));
  }

  std::optional<std::string> relative(const std::string& path) const {
    if (path == dir_) return std::string(".");
    if (path.size() > dir_.size() + 1 && path.compare(0, dir_.size(), dir_) == 0 &&
        path[dir_.size()] == '/') {
      return path.substr(dir_.size() + 1);
    }
    return std::nullopt;
  }

  // A trace that cannot be written would silently miss writes: stop.
  void emit_bytes(const void* data, std::size_t length) {
    const char* p = static_cast<const char*>(data);
    while (length > 0) {
      const ssize_t n = libc().write(trace_, p, length);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        static const char msg[] = "fj recorder: cannot write the trace\n";
        (void)!libc().write(2, msg, sizeof msg - 1);
        std::_Exit(70);
      }
      p += n;
      length -= static_cast<std::size_t>(n);
    }
  }

  std::mutex mutex_;
  std::string dir_;
  int trace_ = -1;
  std::vector<std::string> names_;
  std::unordered_map<int, TrackedFd> fds_;
  std::vector<Mapping> maps_;
};

// Set once, before main, by start(): calls made earlier (a sanitizer runtime
// initialising, other libraries' constructors) pass straight through, and
// none of them can leave the recorder half set up.
std::atomic<Recorder*> the_recorder{nullptr};

__attribute__((constructor)) void start() {
  static Recorder r;
  if (r.active()) the_recorder.store(&r, std::memory_order_release);
}

Recorder* recorder() {
  return the_recorder.load(std::memory_order_acquire);
}

// Keeps errno as the wrapped call left it across the recording.
class SaveErrno {
 public:
  SaveErrno() : saved_(errno) {}
  ~SaveErrno() { errno = saved_; }

 private:
  int saved_;
};

int after_open(int fd, int flags, bool existed) {
  if (fd < 0) return fd;
  Recorder* rec = recorder();
  if (rec == nullptr) return fd;
  SaveErrno keep;
  auto name = rec->fd_name(fd);
  if (!name) return fd;
  std::lock_guard lock(rec->mutex());
  const std::uint32_t file = rec->file_id(*name);
  const bool dsync = (flags & O_DSYNC) != 0;  // O_SYNC includes O_DSYNC's bit
  rec->track(fd, TrackedFd{file, dsync, *name == "."});
  rec->emit(OpKind::open, file, existed ? 0 : fj::record::kOpenCreated,
            static_cast<std::uint32_t>(flags), name->data(), name->size());
  if ((flags & O_TRUNC) != 0 && existed) rec->emit(OpKind::truncate, file, 0, 0);
  return fd;
}

bool exists_at(int dirfd, const char* path) {
  struct stat st;
  return ::fstatat(dirfd, path, &st, 0) == 0;
}

int open_common(int dirfd, const char* path, int flags, mode_t mode) {
  Recorder* rec = recorder();
  const bool creating = (flags & O_CREAT) != 0;
  bool existed = true;
  if (rec != nullptr && creating) {
    SaveErrno keep;
    existed = exists_at(dirfd, path);
  }
  const int fd = libc().openat(dirfd, path, flags, mode);
  return after_open(fd, flags, existed);
}

mode_t mode_arg(int flags, va_list& args) {
  const bool needs_mode = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
  return needs_mode ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

void record_iov(Recorder& r, const TrackedFd& t, std::uint64_t offset, const iovec* iov, int n,
                ssize_t written, bool dsync) {
  std::size_t left = static_cast<std::size_t>(written);
  for (int i = 0; i < n && left > 0; ++i) {
    const std::size_t len = std::min(left, iov[i].iov_len);
    r.emit(OpKind::write, t.file, offset, dsync ? fj::record::kDsync : 0, iov[i].iov_base, len);
    offset += len;
    left -= len;
  }
}

// The file offset a write(2) on fd starts at.
std::uint64_t current_offset(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_APPEND) != 0) {
    struct stat st;
    return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  }
  const off_t at = ::lseek(fd, 0, SEEK_CUR);
  return at < 0 ? 0 : static_cast<std::uint64_t>(at);
}

template <class Call>
ssize_t positioned_write(int fd, std::optional<std::uint64_t> at, const iovec* iov, int n,
                         bool extra_dsync, Call call) {
  Recorder* rec = recorder();
  if (rec == nullptr) return call();
  std::unique_lock lock(rec->mutex());
  const TrackedFd* t = rec->tracked(fd);
  if (t == nullptr) {
    lock.unlock();
    return call();
  }
  const TrackedFd fd_info = *t;
  const std::uint64_t offset = at ? *at : current_offset(fd);
  const ssize_t written = call();
  if (written > 0) {
    SaveErrno keep;
    record_iov(*rec, fd_info, offset, iov, n, written, fd_info.dsync || extra_dsync);
  }
  return written;
}

int sync_call(int fd, int (*fn)(int)) {
  Recorder* rec = recorder();
  if (rec == nullptr) return fn(fd);
  std::unique_lock lock(rec->mutex());
  const TrackedFd* t = rec->tracked(fd);
  if (t == nullptr) {
    lock.unlock();
    return fn(fd);
  }
  const TrackedFd fd_info = *t;
  const int rc = fn(fd);
  SaveErrno keep;
  rec->emit(fd_info.directory ? OpKind::dir_sync : OpKind::sync, fd_info.file, 0,
            rc == 0 ? 0 : fj::record::kFailed);
  return rc;
}

}  // namespace

extern "C" {

void fj_record_mark(const char* text, std::size_t length) {
  Recorder* rec = recorder();
  if (rec == nullptr) return;
  SaveErrno keep;
  std::lock_guard lock(rec->mutex());
  rec->emit(OpKind::mark, 0, 0, 0, text, length);
}

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(AT_FDCWD, path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return open_common(dirfd, path, flags, mode);
}

int creat(const char* path, mode_t mode) {
  return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char* path, mode_t mode) {
  return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

ssize_t write(int fd, const void* buf, size_t count) {
  const iovec iov{const_cast<void*>(buf), count};
  return positioned_write(fd, std::nullopt, &iov, 1, false,
                          [&] { return libc().write(fd, buf, count); });
}

ssize_t writev(int fd, const iovec* iov, int n) {
  return positioned_write(fd, std::nullopt, iov, n, false,
                          [&] { return libc().writev(fd, iov, n); });
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  const iovec iov{const_cast<void*>(buf), count};
  return positioned_write(fd, static_cast<std::uint64_t>(offset), &iov, 1, false,
                          [&] { return libc().pwrite(fd, buf, count, offset); });
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  return pwrite(fd, buf, count, offset);
}

ssize_t pwritev(int fd, const iovec* iov, int n, off_t offset) {
  return positioned_write(fd, static_cast<std::uint64_t>(offset), iov, n, false,
                          [&] { return libc().pwritev(fd, iov, n, offset); });
}

ssize_t pwritev64(int fd, const iovec* iov, int n, off_t offset) {
  return pwritev(fd, iov, n, offset);
}

ssize_t pwritev2(int fd, const iovec* iov, int n, off_t offset, int flags) {
  std::optional<std::uint64_t> at;
  if (offset != -1) at = static_cast<std::uint64_t>(offset);
  return positioned_write(fd, at, iov, n, (flags & (RWF_DSYNC | RWF_SYNC)) != 0,
                          [&] { return libc().pwritev2(fd, iov, n, offset, flags); });
}

ssize_t pwritev64v2(int fd, const iovec* iov, int n, off_t offset, int flags) {
  return pwritev2(fd, iov, n, offset, flags);
}

int fsync(int fd) {
  return sync_call(fd, libc().fsync);
}

int fdatasync(int fd) {
  return sync_call(fd, libc().fdatasync);
}

int msync(void* addr, size_t length, int flags) {
  Recorder* rec = recorder();
  if (rec == nullptr || (flags & MS_SYNC) == 0) return libc().msync(addr, length, flags);
  std::unique_lock lock(rec->mutex());
  const auto file = rec->mapped_file(addr);
  if (!file) {
    lock.unlock();
    return libc().msync(addr, length, flags);
  }
  const int rc = libc().msync(addr, length, flags);
  SaveErrno keep;
  rec->emit(OpKind::sync, *file, 0, rc == 0 ? 0 : fj::record::kFailed);
  return rc;
}

int ftruncate(int fd, off_t length) {
  Recorder* rec = recorder();
  if (rec == nullptr) return libc().ftruncate(fd, length);
  std::unique_lock lock(rec->mutex());
  const TrackedFd* t = rec->tracked(fd);
  if (t == nullptr) {
    lock.unlock();
    return libc().ftruncate(fd, length);
  }
  const std::uint32_t file = t->file;
  const int rc = libc().ftruncate(fd, length);
  if (rc == 0) {
    SaveErrno keep;
    rec->emit(OpKind::truncate, file, static_cast<std::uint64_t>(length), 0);
  }
  return rc;
}

int ftruncate64(int fd, off_t length) {
  return ftruncate(fd, length);
}

// The journal allocates LMDB's lock file with it before LMDB maps the file.
// It returns an error number rather than setting errno.
int posix_fallocate(int fd, off_t offset, off_t length) {
  Recorder* rec = recorder();
  if (rec == nullptr) return libc().posix_fallocate(fd, offset, length);
  std::unique_lock lock(rec->mutex());
  const TrackedFd* t = rec->tracked(fd);
  if (t == nullptr) {
    lock.unlock();
    return libc().posix_fallocate(fd, offset, length);
  }
  const std::uint32_t file = t->file;
  const int rc = libc().posix_fallocate(fd, offset, length);
  struct stat st {};
  if (rc == 0) {
    SaveErrno keep;
    if (::fstat(fd, &st) == 0)
      rec->emit(OpKind::truncate, file, static_cast<std::uint64_t>(st.st_size), 0);
  }
  return rc;
}

int posix_fallocate64(int fd, off_t offset, off_t length) {
  return posix_fallocate(fd, offset, length);
}

int renameat2(int olddirfd, const char* from, int newdirfd, const char* to, unsigned flags) {
  Recorder* rec = recorder();
  if (rec == nullptr) return libc().renameat2(olddirfd, from, newdirfd, to, flags);
  std::optional<std::string> a, b;
  {
    SaveErrno keep;
    a = rec->name_of(olddirfd, from);
    b = rec->name_of(newdirfd, to);
  }
  if (!a && !b) return libc().renameat2(olddirfd, from, newdirfd, to, flags);
  std::lock_guard lock(rec->mutex());
  const int rc = libc().renameat2(olddirfd, from, newdirfd, to, flags);
  if (rc == 0) {
    SaveErrno keep;
    std::string payload = a.value_or("");
    payload.push_back('\0');
    payload += b.value_or("");
    rec->emit(OpKind::rename, 0, 0, flags, payload.data(), payload.size());
  }
  return rc;
}

int renameat(int olddirfd, const char* from, int newdirfd, const char* to) {
  return renameat2(olddirfd, from, newdirfd, to, 0);
}

int rename(const char* from, const char* to) {
  return renameat2(AT_FDCWD, from, AT_FDCWD, to, 0);
}

int unlinkat(int dirfd, const char* path, int flags) {
  Recorder* rec = recorder();
  if (rec == nullptr) return libc().unlinkat(dirfd, path, flags);
  std::optional<std::string> name;
  {
    SaveErrno keep;
    name = rec->name_of(dirfd, path);
  }
  if (!name) return libc().unlinkat(dirfd, path, flags);
  std::lock_guard lock(rec->mutex());
  const int rc = libc().unlinkat(dirfd, path, flags);
  if (rc == 0) {
    SaveErrno keep;
    rec->emit(OpKind::unlink, 0, 0, 0, name->data(), name->size());
  }
  return rc;
}

int unlink(const char* path) {
  return unlinkat(AT_FDCWD, path, 0);
}

int dup(int fd) {
  const int copy = libc().dup(fd);
  Recorder* rec = recorder();
  if (copy < 0 || rec == nullptr) return copy;
  std::lock_guard lock(rec->mutex());
  if (const TrackedFd* t = rec->tracked(fd)) rec->track(copy, *t);
  return copy;
}

int dup3(int fd, int to, int flags) {
  const int copy = libc().dup3(fd, to, flags);
  Recorder* rec = recorder();
  if (copy < 0 || rec == nullptr) return copy;
  std::lock_guard lock(rec->mutex());
  rec->untrack(copy);
  if (const TrackedFd* t = rec->tracked(fd)) rec->track(copy, *t);
  return copy;
}

int dup2(int fd, int to) {
  const int copy = libc().dup2(fd, to);
  Recorder* rec = recorder();
  if (copy < 0 || rec == nullptr || copy == fd) return copy;
  std::lock_guard lock(rec->mutex());
  rec->untrack(copy);
  if (const TrackedFd* t = rec->tracked(fd)) rec->track(copy, *t);
  return copy;
}

int close(int fd) {
  Recorder* rec = recorder();
  if (rec != nullptr) {
    std::lock_guard lock(rec->mutex());
    rec->untrack(fd);
  }
  return libc().close(fd);
}

void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  void* p = libc().mmap(addr, length, prot, flags, fd, offset);
  Recorder* rec = recorder();
  if (p == MAP_FAILED || fd < 0 || rec == nullptr) return p;
  SaveErrno keep;
  std::lock_guard lock(rec->mutex());
  const TrackedFd* t = rec->tracked(fd);
  if (t == nullptr) return p;
  rec->add_mapping(Mapping{reinterpret_cast<std::uintptr_t>(p),
                           reinterpret_cast<std::uintptr_t>(p) + length, t->file});
  if ((prot & PROT_WRITE) != 0 && (flags & MAP_SHARED) != 0) {
    rec->emit(OpKind::shared_map, t->file, static_cast<std::uint64_t>(offset), 0);
  }
  return p;
}

void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return mmap(addr, length, prot, flags, fd, offset);
}

void sync() {
  Recorder* rec = recorder();
  if (rec == nullptr) return libc().sync();
  std::lock_guard lock(rec->mutex());
  libc().sync();
  SaveErrno keep;
  rec->emit(OpKind::sync_all, 0, 0, 0);
}

int syncfs(int fd) {
  Recorder* rec = recorder();
  if (rec == nullptr) return libc().syncfs(fd);
  std::lock_guard lock(rec->mutex());
  const int rc = libc().syncfs(fd);
  SaveErrno keep;
  if (rc == 0) rec->emit(OpKind::sync_all, 0, 0, 0);
  return rc;
}

}  // extern "C"
