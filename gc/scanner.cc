#include "gc/scanner.h"

#include "journal/ids.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace fj::gc {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_;
};

UnreadableFile unreadable(std::string_view id, Unreadable reason, std::string detail) {
  return UnreadableFile{std::string(id), reason, std::move(detail)};
}

Unreadable errno_reason(int err) {
  if (err == EACCES || err == EPERM) return Unreadable::permission;
  if (err == ELOOP) return Unreadable::symlink;
  if (err == ENOENT) return Unreadable::missing;
  return Unreadable::io_error;
}

// `err` is taken by value before anything else can change errno.
UnreadableFile errno_unreadable(std::string_view id, const char* name, int err) {
  return unreadable(id, errno_reason(err), std::string(name) + ": " + std::strerror(err));
}

// Reads dir_fd/name (not following a link) up to max+1 bytes.
std::variant<std::string, UnreadableFile> read_file(int dir_fd, const char* name,
                                                    std::string_view id, std::size_t max) {
  Fd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return errno_unreadable(id, name, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return errno_unreadable(id, name, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return unreadable(id, Unreadable::io_error, std::string(name) + " is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max) {
    return unreadable(id, Unreadable::too_large,
                      std::string(name) + " is " + std::to_string(st.st_size) + " bytes (cap " +
                          std::to_string(max) + ")");
  }
  // Sized from fstat, but read to EOF: the file may be growing under us.
  std::string bytes(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t size = 0;
  for (;;) {
    if (size == bytes.size()) {
      if (size > max) break;
      bytes.resize(std::min(max + 1, bytes.size() * 2));
    }
    const ssize_t n = ::read(fd.get(), bytes.data() + size, bytes.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return errno_unreadable(id, name, errno);
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  if (size > max) {
    return unreadable(
        id, Unreadable::too_large,
        std::string(name) + " grew past the cap of " + std::to_string(max) + " bytes");
  }
  bytes.resize(size);
  return bytes;
}

// Parses bytes as a JSON object, or says why not.
std::variant<json::object, UnreadableFile> parse_object(std::string_view id, std::string_view bytes,
                                                        const ScanOptions& options) {
  if (bytes.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return unreadable(id, Unreadable::empty, "the file is empty");
  }
  json::parse_options parse_options;
  // Boost.JSON recurses per level: a cap keeps hostile nesting off the stack.
  parse_options.max_depth = std::min(options.max_depth, kMaxDepthCap);
  json::error_code ec;
  json::value v = json::parse(bytes, ec, {}, parse_options);
  if (ec == json::error::incomplete) {
    return unreadable(id, Unreadable::truncated,
                      "JSON ends mid-value after " + std::to_string(bytes.size()) + " bytes");
  }
  if (ec == json::error::too_deep) {
    return unreadable(id, Unreadable::too_deep,
                      "nested deeper than " + std::to_string(parse_options.max_depth) + " levels");
  }
  if (ec) return unreadable(id, Unreadable::invalid_json, ec.message());
  if (!v.is_object()) return unreadable(id, Unreadable::not_an_object, "the JSON is not an object");
  return std::move(v.as_object());
}

// Reads an optional string field ("" when absent or null). False: wrong type.
bool string_field(const json::object& o, std::string_view key, std::string& out) {
  const auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return true;
  if (!it->value().is_string()) return false;
  out = std::string(it->value().get_string());
  return true;
}

// A directory stream for parent/name, or nullptr with errno set.
DIR* open_dir(int parent, const char* name) {
  Fd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return nullptr;
  DIR* dir = ::fdopendir(fd.get());
  if (dir != nullptr) fd.release();  // now owned by `dir`
  return dir;
}

// Calls visit(name, fd of the entry's directory or -1 with a reason) for each
// entry of dir, skipping "." and "..". Returns 0, or the errno of a readdir
// that failed part-way: the listing is then incomplete and must not be used.
template <class Visit>
int each_entry(DIR* dir, std::vector<Skipped>& skipped, std::vector<std::string>& present,
               Visit&& visit) {
  const int dir_fd = ::dirfd(dir);
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) return errno;
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (!is_valid_id(name)) {
      skipped.push_back(Skipped{name, "the name is not a valid id"});
      continue;
    }
    present.push_back(name);
    Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      const int err = errno;
      // Linux reports a symlink opened with O_DIRECTORY | O_NOFOLLOW as ENOTDIR.
      struct stat st {};
      if ((err == ELOOP || err == ENOTDIR) &&
          ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        const bool link = S_ISLNK(st.st_mode);
        skipped.push_back(
            Skipped{name, link ? "a symbolic link (not followed)" : "not a directory", link});
      } else {
        visit(name, -1, err);
      }
      continue;
    }
    visit(name, fd.get(), 0);
  }
}

// The data root as a symlink target may name it: its absolute path as given,
// and its real path.
struct RootPaths {
  fs::path lexical;
  fs::path real;
};

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

// Opens parent/name as a directory without following a link; on failure
// `memory` says what that means for the memory file.
Fd open_snapshot_dir(int parent, const char* name, Memory& memory) {
  Fd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd) return fd;
  const int err = errno;
  struct stat st {};
  if (err == ENOENT) {
    memory = Memory{};  // absent
  } else if ((err == ELOOP || err == ENOTDIR) &&
             ::fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    memory = unknown_memory(std::string(name) + " is a symbolic link (not followed)");
  } else {
    memory = unknown_memory(std::string(name) + ": " + std::strerror(err));
  }
  return fd;
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

template <class T>
void sort_by_id(std::vector<T>& v) {
  std::sort(v.begin(), v.end(), [](const T& a, const T& b) { return a.id < b.id; });
}

}  // namespace

std::string_view unreadable_name(Unreadable r) noexcept {
  switch (r) {
    case Unreadable::empty:
      return "empty";
    case Unreadable::truncated:
      return "truncated";
    case Unreadable::invalid_json:
      return "invalid_json";
    case Unreadable::not_an_object:
      return "not_an_object";
    case Unreadable::wrong_type:
      return "wrong_type";
    case Unreadable::id_mismatch:
      return "id_mismatch";
    case Unreadable::too_large:
      return "too_large";
    case Unreadable::too_deep:
      return "too_deep";
    case Unreadable::permission:
      return "permission";
    case Unreadable::io_error:
      return "io_error";
    case Unreadable::missing:
      return "missing";
    case Unreadable::symlink:
      return "symlink";
  }
  return "unknown";
}

std::string_view memory_kind_name(MemoryKind k) noexcept {
  switch (k) {
    case MemoryKind::absent:
      return "absent";
    case MemoryKind::private_file:
      return "private";
    case MemoryKind::shared_file:
      return "shared";
    case MemoryKind::symlink:
      return "symlink";
    case MemoryKind::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string memory_path(std::string_view id) {
  return "guests/" + std::string(id) + "/snapshots/snapshot-latest/memory";
}

std::variant<Instance, HalfMadeFork, UnreadableFile> parse_metadata(std::string_view id,
                                                                    std::string_view bytes,
                                                                    const ScanOptions& options) {
  auto parsed = parse_object(id, bytes, options);
  if (auto* bad = std::get_if<UnreadableFile>(&parsed)) return std::move(*bad);
  const json::object& o = std::get<json::object>(parsed);
  Instance in;
  if (!string_field(o, "Id", in.id))
    return unreadable(id, Unreadable::wrong_type, "\"Id\" is not a string");
  if (in.id != id && !is_valid_id(in.id)) {
    return unreadable(id, Unreadable::id_mismatch,
                      in.id.empty() ? "no \"Id\"" : "\"Id\" is \"" + printable(in.id) + "\"");
  }
  if (const auto it = o.find("IsTemplate"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_bool())
      return unreadable(id, Unreadable::wrong_type, "\"IsTemplate\" is not a bool");
    in.is_template = it->value().get_bool();
  }
  for (auto [key, field] :
       {std::pair{"TemplateID", &in.template_id}, std::pair{"ForkOfTemplate", &in.fork_of}}) {
    if (!string_field(o, key, *field)) {
      return unreadable(id, Unreadable::wrong_type, std::string("\"") + key + "\" is not a string");
    }
    if (!field->empty() && !is_valid_id(*field)) {
      return unreadable(id, Unreadable::wrong_type,
                        std::string("\"") + key + "\" is not a valid id");
    }
  }
  if (in.id != id) {
    return HalfMadeFork{std::string(id), std::move(in.id), in.is_template,
                        std::move(in.template_id), std::move(in.fork_of)};
  }
  return in;
}

std::variant<Instance, UnreadableFile> parse_instance(std::string_view id, std::string_view bytes,
                                                      const ScanOptions& options) {
  auto parsed = parse_metadata(id, bytes, options);
  if (auto* in = std::get_if<Instance>(&parsed)) return std::move(*in);
  if (auto* bad = std::get_if<UnreadableFile>(&parsed)) return std::move(*bad);
  return unreadable(id, Unreadable::id_mismatch,
                    "\"Id\" is \"" + std::get<HalfMadeFork>(parsed).names + "\"");
}

std::variant<TemplateRecord, UnreadableFile> parse_template(std::string_view id,
                                                            std::string_view bytes,
                                                            const ScanOptions& options) {
  auto parsed = parse_object(id, bytes, options);
  if (auto* bad = std::get_if<UnreadableFile>(&parsed)) return std::move(*bad);
  const json::object& o = std::get<json::object>(parsed);
  TemplateRecord t;
  if (!string_field(o, "id", t.id))
    return unreadable(id, Unreadable::wrong_type, "\"id\" is not a string");
  if (t.id != id) {
    return unreadable(id, Unreadable::id_mismatch,
                      t.id.empty() ? "no \"id\"" : "\"id\" is \"" + printable(t.id) + "\"");
  }
  if (!string_field(o, "name", t.name) || !is_valid_name(t.name)) {
    return unreadable(id, Unreadable::wrong_type, "\"name\" is not a valid name");
  }
  if (!string_field(o, "source_instance_id", t.source) || !is_valid_id(t.source)) {
    return unreadable(id, Unreadable::wrong_type, "\"source_instance_id\" is not a valid id");
  }
  if (const auto it = o.find("fork_count"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_int64()) {
      return unreadable(id, Unreadable::wrong_type, "\"fork_count\" is not an integer");
    }
    t.fork_count = it->value().get_int64();
  }
  return t;
}

bool ScanResult::has_entry(std::string_view id) const {
  return std::binary_search(present.begin(), present.end(), id);
}

bool ScanResult::has_template_dir(std::string_view id) const {
  return std::binary_search(template_dirs.begin(), template_dirs.end(), id);
}

const Instance* ScanResult::find(std::string_view id) const {
  const auto it = std::lower_bound(instances.begin(), instances.end(), id,
                                   [](const Instance& i, std::string_view v) { return i.id < v; });
  return it != instances.end() && it->id == id ? &*it : nullptr;
}

const HalfMadeFork* ScanResult::find_half_made(std::string_view id) const {
  const auto it =
      std::lower_bound(half_made.begin(), half_made.end(), id,
                       [](const HalfMadeFork& h, std::string_view v) { return h.id < v; });
  return it != half_made.end() && it->id == id ? &*it : nullptr;
}

const Skipped* ScanResult::find_skipped(std::string_view name) const {
  const auto it = std::lower_bound(skipped.begin(), skipped.end(), name,
                                   [](const Skipped& s, std::string_view v) { return s.name < v; });
  return it != skipped.end() && it->name == name ? &*it : nullptr;
}

const Memory* ScanResult::memory_of(std::string_view id) const {
  const auto it =
      std::lower_bound(memory.begin(), memory.end(), id,
                       [](const MemoryRecord& m, std::string_view v) { return m.id < v; });
  return it != memory.end() && it->id == id ? &it->memory : nullptr;
}

const UnreadableFile* ScanResult::find_unreadable(std::string_view id) const {
  const auto it =
      std::lower_bound(unreadable.begin(), unreadable.end(), id,
                       [](const UnreadableFile& u, std::string_view v) { return u.id < v; });
  return it != unreadable.end() && it->id == id ? &*it : nullptr;
}

Result<ScanResult> scan(const std::string& data_root, const ScanOptions& options) {
  ScanResult out;
  out.root = data_root;
  Fd root(::open(data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) {
    const int err = errno;
    return errno_error("cannot open data root " + data_root, err);
  }
  RootPaths paths;
  std::error_code ec;
  paths.lexical = without_trailing_slash(fs::absolute(data_root, ec));
  if (const std::unique_ptr<char, decltype(&std::free)> real(::realpath(data_root.c_str(), nullptr),
                                                             &std::free);
      real) {
    paths.real = fs::path(real.get());
  }

  DIR* guests_dir = open_dir(root.get(), "guests");
  if (guests_dir == nullptr) {
    const int err = errno;
    return errno_error("data root " + data_root + " has no readable guests/ directory", err);
  }
  const int guests_err = each_entry(
      guests_dir, out.skipped, out.present, [&](const std::string& name, int fd, int err) {
        if (fd < 0) {
          out.unreadable.push_back(unreadable(name, errno_reason(err), std::strerror(err)));
          out.memory.push_back(MemoryRecord{
              name, unknown_memory(std::string("the directory: ") + std::strerror(err))});
          return;
        }
        out.memory.push_back(MemoryRecord{name, read_memory(fd, name, paths)});
        auto bytes = read_file(fd, "metadata.json", name, options.max_file_size);
        if (auto* bad = std::get_if<UnreadableFile>(&bytes)) {
          out.unreadable.push_back(std::move(*bad));
          return;
        }
        auto parsed = parse_metadata(name, std::get<std::string>(bytes), options);
        if (auto* bad = std::get_if<UnreadableFile>(&parsed)) {
          out.unreadable.push_back(std::move(*bad));
        } else if (auto* half = std::get_if<HalfMadeFork>(&parsed)) {
          out.half_made.push_back(std::move(*half));
        } else {
          out.instances.push_back(std::move(std::get<Instance>(parsed)));
        }
      });
  ::closedir(guests_dir);
  if (guests_err != 0) {
    return errno_error("listing " + data_root + "/guests failed part-way", guests_err);
  }

  DIR* templates_dir = open_dir(root.get(), "templates");
  if (const int err = errno; templates_dir == nullptr && err != ENOENT) {
    return errno_error("cannot read " + data_root + "/templates", err);
  }
  if (templates_dir != nullptr) {
    std::vector<Skipped> ignored;
    const int templates_err = each_entry(
        templates_dir, ignored, out.template_dirs, [&](const std::string& name, int fd, int err) {
          if (fd < 0) {
            out.unreadable_templates.push_back(
                unreadable(name, errno_reason(err), std::strerror(err)));
            return;
          }
          auto bytes = read_file(fd, "template.json", name, options.max_file_size);
          if (auto* bad = std::get_if<UnreadableFile>(&bytes)) {
            out.unreadable_templates.push_back(std::move(*bad));
            return;
          }
          auto parsed = parse_template(name, std::get<std::string>(bytes), options);
          if (auto* bad = std::get_if<UnreadableFile>(&parsed)) {
            out.unreadable_templates.push_back(std::move(*bad));
          } else {
            out.templates.push_back(std::move(std::get<TemplateRecord>(parsed)));
          }
        });
    ::closedir(templates_dir);
    if (templates_err != 0) {
      return errno_error("listing " + data_root + "/templates failed part-way", templates_err);
    }
  }

  sort_by_id(out.instances);
  sort_by_id(out.unreadable);
  sort_by_id(out.half_made);
  sort_by_id(out.templates);
  sort_by_id(out.unreadable_templates);
  std::sort(out.memory.begin(), out.memory.end(),
            [](const MemoryRecord& a, const MemoryRecord& b) { return a.id < b.id; });
  std::sort(out.present.begin(), out.present.end());
  std::sort(out.template_dirs.begin(), out.template_dirs.end());
  std::sort(out.skipped.begin(), out.skipped.end(),
            [](const Skipped& a, const Skipped& b) { return a.name < b.name; });
  return out;
}

}  // namespace fj::gc
