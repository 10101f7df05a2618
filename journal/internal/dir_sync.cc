#include "journal/internal/dir_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace fj {

Result<void> sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open the directory " + dir + " to sync it", errno);
  int rc = 0;
  while ((rc = ::fsync(fd)) != 0 && errno == EINTR) {
  }
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_error("cannot sync the directory " + dir, err);
  return {};
}

}  // namespace fj
