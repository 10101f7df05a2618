#include "gc/internal/memory_file.h"

#include "gc/internal/fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

namespace fj::gc {
namespace {

namespace fs = std::filesystem;

fs::path without_trailing_slash(fs::path p) {
  p = p.lexically_normal();
  return p.has_filename() || p == p.root_path() ? p : p.parent_path();
}

// `p` relative to `base` when p lies inside it (both normal, absolute).
std::optional<fs::path> inside(const fs::path& p, const fs::path& base) {
  if (base.empty()) return std::nullopt;
  const auto [b, q] = std::mismatch(base.begin(), base.end(), p.begin(), p.end());
  if (b != base.end()) return std::nullopt;
  return p.lexically_relative(base);
}

// Opens parent/name as a directory without following a link; on failure
// `memory` says what that means for the memory file.
Fd open_snapshot_dir(int parent, const char* name, Memory& memory) {
  NoFollowDir d = open_dir_nofollow(parent, name);
  if (d.fd) return std::move(d.fd);
  if (d.err == ENOENT) {
    memory = Memory{};  // absent
  } else if (d.kind == NoFollowDir::Kind::symlink) {
    memory = unknown_memory(std::string(name) + " is a symbolic link (not followed)");
  } else {
    memory = unknown_memory(std::string(name) + ": " + std::strerror(d.err));
  }
  return std::move(d.fd);
}

}  // namespace

RootPaths root_paths(const std::string& data_root) {
  RootPaths paths;
  std::error_code ec;
  paths.lexical = without_trailing_slash(fs::absolute(data_root, ec));
  if (ec) paths.lexical.clear();
  if (const std::unique_ptr<char, decltype(&std::free)> real(::realpath(data_root.c_str(), nullptr),
                                                             &std::free);
      real) {
    paths.real = fs::path(real.get());
  }
  return paths;
}

// A symlink target resolved lexically (no component is looked up), relative
// to the root; empty when it leaves the root.
std::string resolve_target(const std::string& target, std::string_view id, const RootPaths& root) {
  const fs::path t(target);
  if (t.is_absolute()) {
    const fs::path p = without_trailing_slash(t);
    for (const fs::path* base : {&root.lexical, &root.real}) {
      if (auto rel = inside(p, *base)) return rel->string();
    }
    return {};
  }
  const fs::path p = without_trailing_slash(fs::path("guests") / std::string(id) /
                                            "snapshots/snapshot-latest" / t);
  if (p.empty() || *p.begin() == "..") return {};
  return p.string();
}

Memory unknown_memory(std::string detail) {
  Memory m;
  m.kind = MemoryKind::unknown;
  m.detail = std::move(detail);
  return m;
}

// What guests/<id>/snapshots/snapshot-latest/memory is, from the entry's
// directory descriptor.
Memory read_memory(int entry_fd, std::string_view id, const RootPaths& root) {
  Memory m;
  const Fd snapshots = open_snapshot_dir(entry_fd, "snapshots", m);
  if (!snapshots) return m;
  const Fd latest = open_snapshot_dir(snapshots.get(), "snapshot-latest", m);
  if (!latest) return m;
  struct stat st {};
  if (::fstatat(latest.get(), "memory", &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    return err == ENOENT ? Memory{} : unknown_memory(std::string("memory: ") + std::strerror(err));
  }
  if (S_ISREG(st.st_mode)) {
    m.kind = st.st_nlink > 1 ? MemoryKind::shared_file : MemoryKind::private_file;
    m.device = st.st_dev;
    m.inode = st.st_ino;
    m.links = st.st_nlink;
    return m;
  }
  if (!S_ISLNK(st.st_mode)) return unknown_memory("memory is not a regular file or a symlink");
  std::string target(PATH_MAX, '\0');
  const ssize_t n = ::readlinkat(latest.get(), "memory", target.data(), target.size());
  if (n < 0) {
    const int err = errno;
    return unknown_memory(std::string("memory: ") + std::strerror(err));
  }
  if (static_cast<std::size_t>(n) == target.size()) {
    return unknown_memory("memory is a symlink longer than PATH_MAX");
  }
  target.resize(static_cast<std::size_t>(n));
  m.kind = MemoryKind::symlink;
  m.resolved = resolve_target(target, id, root);
  m.target = std::move(target);
  return m;
}

}  // namespace fj::gc
