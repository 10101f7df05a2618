// The directory a command fills with a journal (backup's DEST, restore's and
// init's --journal), looked at before anything is written there: whether it
// is missing, empty or holds something, and, when it cannot be listed, why.
//
// Errors: io_error "cannot inspect PATH: <reason>" when PATH cannot be
// stat'ed, "cannot list PATH: <reason>" (e.g. Permission denied) when it is
// a directory that cannot be read. A directory this process may not list is
// never reported as empty or as holding files.
// Threads: any; it changes nothing.
#pragma once

#include "journal/error.h"

#include <string>

namespace fj::cli {

// Where backup and restore stage their copy inside the target directory.
inline constexpr const char* kStaging = ".partial";

enum class Target {
  missing,          // no such name
  not_a_directory,  // a file, a dangling symlink, ...
  empty,            // a directory (or a symlink to one) with no entries
  only_staging,     // a directory whose only entry is kStaging
  holds_files,      // a directory with anything else in it
};

Result<Target> inspect_target(const std::string& path);

}  // namespace fj::cli
