#include "bench/platform.h"

#include "bench/stop_cleanup.h"
#include "gc/internal/fd.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace fj::bench {
namespace {

namespace fs = std::filesystem;

using gc::Fd;

std::string first_line_with(const std::string& file, std::string_view prefix) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return {};
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t:=\"");
  const auto last = s.find_last_not_of(" \t\"");
  return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
}

}  // namespace

Result<TempDir> TempDir::create(const std::string& label) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/forkjournal-bench-" + label + ".XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return errno_error("cannot create a temporary directory " + pattern, errno);
  }
  track_dir(pattern);
  return TempDir(pattern);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  remove_tracked_dir(path_);
}

Result<double> drop_from_page_cache(const std::string& file) {
  Fd f{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!f) return errno_error("cannot open " + file, errno);
  if (::fsync(f.get()) != 0) return errno_error("fsync " + file, errno);
  if (int rc = ::posix_fadvise(f.get(), 0, 0, POSIX_FADV_DONTNEED); rc != 0) {
    return errno_error("posix_fadvise " + file, rc);
  }
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return errno_error("stat " + file, errno);
  if (st.st_size == 0) return 0.0;
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, f.get(), 0);
  if (map == MAP_FAILED) return errno_error("mmap " + file, errno);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  const int rc = ::mincore(map, size, resident.data());
  const int err = errno;
  ::munmap(map, size);
  if (rc != 0) return errno_error("mincore " + file, err);
  std::size_t in_core = 0;
  for (unsigned char r : resident) in_core += r & 1;
  return static_cast<double>(in_core) / static_cast<double>(resident.size());
}

Result<void> drop_system_caches() {
  ::sync();
  const char* const file = "/proc/sys/vm/drop_caches";
  Fd f{::open(file, O_WRONLY | O_CLOEXEC)};
  if (!f) return errno_error(std::string("cannot open ") + file + " for writing", errno);
  if (::write(f.get(), "3", 1) != 1) return errno_error(std::string("cannot write ") + file, errno);
  return {};
}

bool on_memory_file_system(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return false;
  return st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC;
}

Result<std::uint64_t> file_size(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return errno_error("stat " + file, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

// Reads /proc/self/status into a stack buffer: no allocation, so a sampling
// thread does not disturb the memory it samples.
std::uint64_t rss_anon_kb() {
  Fd f{::open("/proc/self/status", O_RDONLY | O_CLOEXEC)};
  if (!f) return 0;
  char buffer[8192];
  std::size_t size = 0;
  for (ssize_t n; size < sizeof buffer - 1 &&
                  (n = ::read(f.get(), buffer + size, sizeof buffer - 1 - size)) > 0;) {
    size += static_cast<std::size_t>(n);
  }
  buffer[size] = '\0';
  const char* line = std::strstr(buffer, "RssAnon:");
  if (line == nullptr) return 0;
  return std::strtoull(line + std::strlen("RssAnon:"), nullptr, 10);
}

Result<std::string> run_program(const std::vector<std::string>& argv, ChildStderr err) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  Fd read_end{out[0]};
  Fd write_end{out[1]};
  // A file, not a pipe: read once the program ended, with no second pipe to
  // drain beside stdout.
  Fd err_file;
  if (err == ChildStderr::quoted) {
    err_file = Fd{::memfd_create("stderr", MFD_CLOEXEC)};
    if (!err_file) return errno_error("memfd_create", errno);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  if (err_file) posix_spawn_file_actions_adddup2(&actions, err_file.get(), STDERR_FILENO);
  // The stop signals are blocked in this process (stop_cleanup.h); the
  // program gets them as usual.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_error("cannot run " + argv[0], rc);
  track_child(pid);
  write_end.reset();
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
    if (n > 0) {
      output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  forget_child(pid);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return output;
  const std::string program =
      argv[0] == self_path() ? "forkjournal-bench" : fs::path(argv[0]).filename().string();
  std::string what = program + " " +
                     (argv.size() > 1 ? fs::path(argv[1]).filename().string() + " " : "") +
                     "failed (" +
                     (WIFEXITED(status)     ? "exit status " + std::to_string(WEXITSTATUS(status))
                      : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                            : "status " + std::to_string(status)) +
                     ")";
  if (err_file) {
    std::string text;
    for (ssize_t n; (n = ::pread(err_file.get(), buffer, sizeof buffer,
                                 static_cast<off_t>(text.size()))) > 0;) {
      text.append(buffer, static_cast<std::size_t>(n));
    }
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t end = std::min(text.find('\n', at), text.size());
      lines.push_back(text.substr(at, end - at));
      at = end + 1;
    }
    const auto caret = [](const std::string& line) {
      return line.find('^') != std::string::npos &&
             line.find_first_not_of(" \t^") == std::string::npos;
    };
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string& line = lines[i];
      const bool quoted = i + 1 < lines.size() && caret(lines[i + 1]);
      if (line.find_first_not_of(" \t") == std::string::npos || caret(line) || quoted) continue;
      what += ": " + line;
      break;
    }
  }
  return make_error(Errc::io_error, what);
}

std::string self_path() {
  // Not the resolved path: a rebuild may have replaced that file meanwhile,
  // while /proc/self/exe always executes the image that is running.
  return "/proc/self/exe";
}

std::string find_in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  std::string_view rest(path);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

MachineInfo machine_info() {
  MachineInfo m;
  m.cpu = trim(first_line_with("/proc/cpuinfo", "model name"));
  m.cores = std::thread::hardware_concurrency();
  m.os = trim(first_line_with("/etc/os-release", "PRETTY_NAME"));
  struct utsname u {};
  if (::uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  return m;
}

}  // namespace fj::bench
