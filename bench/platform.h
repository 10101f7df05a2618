// The operating-system side of the harness: temporary directories, the page
// cache, process memory, and running helper programs. Linux only.
#pragma once

#include "journal/error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fj::bench {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when the TempDir is destroyed, or on SIGINT or SIGTERM (stop_cleanup.h).
// Move-only.
class TempDir {
 public:
  static Result<TempDir> create(const std::string& label);
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const noexcept { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Flushes `file` to disk (dirty pages cannot be dropped), then asks the kernel
// to drop its pages from the page cache (posix_fadvise POSIX_FADV_DONTNEED).
// No process may have the file mapped for the drop to take effect. Returns
// the fraction of the file's pages still resident afterwards (mincore).
Result<double> drop_from_page_cache(const std::string& file);

// Drops the whole system's clean page cache, dentries and inodes: sync(2),
// then "3" into /proc/sys/vm/drop_caches. Needs root (CAP_SYS_ADMIN) and a
// writable /proc/sys; io_error naming the errno otherwise.
Result<void> drop_system_caches();

// The file system holding `path` is tmpfs (or ramfs), whose files, dentries
// and inodes drop_system_caches() cannot evict.
bool on_memory_file_system(const std::string& path);

// Size of a file in bytes.
Result<std::uint64_t> file_size(const std::string& file);

// The process's anonymous resident memory (RssAnon in /proc/self/status), in
// kB; 0 if it cannot be read.
std::uint64_t rss_anon_kb();

// Where a program run_program() runs writes its stderr: to ours, or kept
// and its first error line quoted in the error should it fail: the first
// non-blank line other than a quoted input line and the caret line under it
// (gnuplot first echoes the script line it refuses, a caret under it).
enum class ChildStderr { ours, quoted };

// Runs `argv` (argv[0] a path) and returns its stdout, with SIGINT and
// SIGTERM unblocked in it and stopped with this process on either
// (stop_cleanup.h). A non-zero exit status or a signal is an io_error naming
// the exit status or the signal.
Result<std::string> run_program(const std::vector<std::string>& argv,
                                ChildStderr err = ChildStderr::ours);

// A path that executes the running program (/proc/self/exe).
std::string self_path();

// Searches $PATH for `program`; empty when absent.
std::string find_in_path(const std::string& program);

struct MachineInfo {
  std::string cpu;
  unsigned cores = 0;
  std::string os;
  std::string kernel;
};
MachineInfo machine_info();

}  // namespace fj::bench
