// Internal to gc/: what a guests/<id>/snapshots/snapshot-latest/memory path
// is, examined with openat(O_NOFOLLOW)/fstatat(AT_SYMLINK_NOFOLLOW)/readlinkat
// only: nothing is followed, the file is never opened. Thread-safe.
#pragma once

#include "gc/scanner.h"

#include <filesystem>
#include <string>
#include <string_view>

namespace fj::gc {

// The spellings of the data root a symlink target may use: its absolute path
// as given, and its real path (empty when it cannot be had).
struct RootPaths {
  std::filesystem::path lexical;
  std::filesystem::path real;
};
RootPaths root_paths(const std::string& data_root);

// The memory file of the entry whose directory is `entry_fd`. Errors are part
// of the result (MemoryKind::unknown with a detail).
Memory read_memory(int entry_fd, std::string_view id, const RootPaths& root);

Memory unknown_memory(std::string detail);

// A symlink target resolved lexically (no component is looked up) against
// guests/<id>/snapshots/snapshot-latest/, relative to the root; empty when it
// leaves the root.
std::string resolve_target(const std::string& target, std::string_view id, const RootPaths& root);

}  // namespace fj::gc
