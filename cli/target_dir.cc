#include "cli/target_dir.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace fj::cli {

Result<Target> inspect_target(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Target::missing;
    return errno_error("cannot inspect " + path, errno);
  }
  if (S_ISLNK(st.st_mode) && ::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Target::not_a_directory;  // a dangling symlink
    return errno_error("cannot inspect " + path, errno);
  }
  if (!S_ISDIR(st.st_mode)) return Target::not_a_directory;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return errno_error("cannot list " + path, errno);
  bool staging = false, other = false;
  int err = 0;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      err = errno;
      break;
    }
    const char* name = entry->d_name;
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
    if (std::strcmp(name, kStaging) == 0) {
      staging = true;
    } else {
      other = true;
      break;
    }
  }
  ::closedir(dir);
  if (err != 0) return errno_error("cannot list " + path, err);
  if (other) return Target::holds_files;
  return staging ? Target::only_staging : Target::empty;
}

}  // namespace fj::cli
