// Makes a directory's entries durable: fsync on the directory itself. A
// file's own fsync does not make its name durable (POSIX leaves that to the
// directory), so a new journal's data.mdb, and a new journal directory, need
// this once, before the journal is used.
//
// Errors: io_error naming the directory (it cannot be opened or synced).
// Threads: any.
#pragma once

#include "journal/error.h"

#include <string>

namespace fj {

Result<void> sync_directory(const std::string& dir);

}  // namespace fj
