#include "gc/scanner.h"

#include "gc/internal/fd.h"
#include "gc/internal/memory_file.h"
#include "journal/ids.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

namespace fj::gc {
namespace {

namespace json = boost::json;

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
// Whether object key `key` names the field `name` (ASCII) as Go's
// encoding/json matches them: equal, or equal under case folding, in which
// k also matches the Kelvin sign (U+212A) and s the long s (U+017F). The VM
// manager decodes its files so: to it, a hand-edited "forkOfTemplate" names
// a fork's template, so it must to the reconciler too.
bool go_key_matches(std::string_view key, std::string_view name) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  std::size_t at = 0;
  for (const char c : name) {
    const char want = lower(c);
    if (at < key.size() && lower(key[at]) == want) {
      ++at;
    } else if (want == 'k' && key.substr(at, 3) == "\xE2\x84\xAA") {
      at += 3;
    } else if (want == 's' && key.substr(at, 2) == "\xC5\xBF") {
      at += 2;
    } else {
      return false;
    }
  }
  return at == key.size();
}

// What a file says for one field, as Go would decode it.
struct Field {
  const json::value* value = nullptr;  // none: no key names it, or only nulls do
  // Keys naming it with different values: Go takes the last in the file,
  // but the parsed object has lost their order (an exact duplicate key
  // keeps its first place and its last value), so the file is not read.
  bool ambiguous = false;
};

// A null leaves a Go field as it was, so only non-null values count.
Field field(const json::object& o, std::string_view name) {
  Field f;
  for (const auto& entry : o) {
    if (entry.value().is_null() || !go_key_matches(entry.key(), name)) continue;
    f.ambiguous = f.ambiguous || (f.value != nullptr && *f.value != entry.value());
    f.value = &entry.value();
  }
  return f;
}

enum class FieldRead { ok, wrong_type, ambiguous };

// Reads field `key` into `out` when a key names it; `typed` is one of the
// value's if_string, if_bool, ... (null: another type).
template <class T, class Typed>
FieldRead read_field(const json::object& o, std::string_view key, T& out, Typed typed) {
  const Field f = field(o, key);
  if (f.ambiguous) return FieldRead::ambiguous;
  if (f.value == nullptr) return FieldRead::ok;
  const auto* value = typed(*f.value);
  if (value == nullptr) return FieldRead::wrong_type;
  out = T(*value);
  return FieldRead::ok;
}

FieldRead string_field(const json::object& o, std::string_view key, std::string& out) {
  return read_field(o, key, out, [](const json::value& v) { return v.if_string(); });
}

// The detail of an unreadable file for a field string_field could not read.
std::string field_problem(FieldRead r, std::string_view key, std::string_view wanted) {
  return "\"" + std::string(key) + "\" " +
         (r == FieldRead::ambiguous ? "is named by several keys with different values"
                                    : "is not " + std::string(wanted));
}

// The names in dir but "." and "..": valid ids in `names`, the rest skipped.
// Returns 0, or the errno of a readdir that failed part-way: the listing is
// then incomplete and must not be used.
int list_dir(DIR* dir, std::vector<std::string>& names, std::vector<Skipped>& skipped) {
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) return errno;
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (is_valid_id(name)) {
      names.push_back(std::move(name));
    } else {
      // Any bytes but '/' and NUL: escaped for reports, logs and JSON.
      skipped.push_back(Skipped{printable(name, 255), "the name is not a valid id"});
    }
  }
}

// A listed entry's directory, opened without following a link; or why not:
// skipped (a symlink, or not a directory), or an errno.
struct OpenedEntry {
  Fd fd;
  std::optional<Skipped> skipped;
  int err = 0;
};

OpenedEntry open_entry(int dir_fd, const std::string& name) {
  NoFollowDir d = open_dir_nofollow(dir_fd, name.c_str());
  OpenedEntry e{std::move(d.fd), std::nullopt, d.err};
  if (d.kind != NoFollowDir::Kind::unknown) {
    const bool link = d.kind == NoFollowDir::Kind::symlink;
    e.skipped = Skipped{name, link ? "a symbolic link (not followed)" : "not a directory", link};
  }
  return e;
}

// What one guests/ entry is.
struct GuestEntry {
  std::variant<Instance, HalfMadeFork, UnreadableFile, Skipped> what;
  Memory memory;  // unset when skipped
};

GuestEntry read_guest(int guests_fd, const std::string& name, const ScanOptions& options,
                      const RootPaths& root) {
  OpenedEntry e = open_entry(guests_fd, name);
  if (e.skipped) return {std::move(*e.skipped), {}};
  if (!e.fd) {
    return {unreadable(name, errno_reason(e.err), std::strerror(e.err)),
            unknown_memory(std::string("the directory: ") + std::strerror(e.err))};
  }
  GuestEntry out{Instance{}, read_memory(e.fd.get(), name, root)};
  auto bytes = read_file(e.fd.get(), "metadata.json", name, options.max_file_size);
  if (auto* bad = std::get_if<UnreadableFile>(&bytes)) {
    out.what = std::move(*bad);
    return out;
  }
  std::visit([&](auto&& v) { out.what = std::move(v); },
             parse_metadata(name, std::get<std::string>(bytes), options));
  return out;
}

// What one templates/ entry is.
std::variant<TemplateRecord, UnreadableFile, Skipped> read_template(int templates_fd,
                                                                    const std::string& name,
                                                                    const ScanOptions& options) {
  OpenedEntry e = open_entry(templates_fd, name);
  if (e.skipped) return std::move(*e.skipped);
  if (!e.fd) return unreadable(name, errno_reason(e.err), std::strerror(e.err));
  auto bytes = read_file(e.fd.get(), "template.json", name, options.max_file_size);
  if (auto* bad = std::get_if<UnreadableFile>(&bytes)) return std::move(*bad);
  auto parsed = parse_template(name, std::get<std::string>(bytes), options);
  if (auto* bad = std::get_if<UnreadableFile>(&parsed)) return std::move(*bad);
  return std::move(std::get<TemplateRecord>(parsed));
}

// Runs work(i) once for every i in [0, n) on up to `threads` threads, the
// caller's included. Entries are independent; a cold cache is bound by the
// disk's latency, which concurrent lookups overlap.
template <class Work>
void parallel_for(std::size_t n, unsigned threads, const Work& work) {
  std::atomic<std::size_t> next{0};
  const auto drain = [&] {
    for (std::size_t i = next++; i < n; i = next++) work(i);
  };
  std::vector<std::jthread> pool;  // joined on destruction
  const std::size_t helpers = std::min<std::size_t>(std::max(threads, 1u), n);
  for (std::size_t t = 1; t < helpers; ++t) pool.emplace_back(drain);
  drain();
}

// The valid-id names in dir, sorted; `what` names it in an error.
Result<std::vector<std::string>> list(DIR* dir, const std::string& what,
                                      std::vector<Skipped>& skipped) {
  std::vector<std::string> names;
  if (const int err = list_dir(dir, names, skipped); err != 0) {
    return errno_error("listing " + what + " failed part-way", err);
  }
  std::sort(names.begin(), names.end());
  return names;
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
  if (const FieldRead r = string_field(o, "Id", in.id); r != FieldRead::ok)
    return unreadable(id, Unreadable::wrong_type, field_problem(r, "Id", "a string"));
  if (in.id != id && !is_valid_id(in.id)) {
    return unreadable(id, Unreadable::id_mismatch,
                      in.id.empty() ? "no \"Id\"" : "\"Id\" is \"" + printable(in.id) + "\"");
  }
  if (const FieldRead r = read_field(o, "IsTemplate", in.is_template,
                                     [](const json::value& v) { return v.if_bool(); });
      r != FieldRead::ok) {
    return unreadable(id, Unreadable::wrong_type, field_problem(r, "IsTemplate", "a bool"));
  }
  for (auto [key, field] :
       {std::pair{"TemplateID", &in.template_id}, std::pair{"ForkOfTemplate", &in.fork_of}}) {
    if (const FieldRead r = string_field(o, key, *field); r != FieldRead::ok) {
      return unreadable(id, Unreadable::wrong_type, field_problem(r, key, "a string"));
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
  if (const FieldRead r = string_field(o, "id", t.id); r != FieldRead::ok)
    return unreadable(id, Unreadable::wrong_type, field_problem(r, "id", "a string"));
  if (t.id != id) {
    return unreadable(id, Unreadable::id_mismatch,
                      t.id.empty() ? "no \"id\"" : "\"id\" is \"" + printable(t.id) + "\"");
  }
  if (string_field(o, "name", t.name) != FieldRead::ok || !is_valid_name(t.name)) {
    return unreadable(id, Unreadable::wrong_type, "\"name\" is not a valid name");
  }
  if (string_field(o, "source_instance_id", t.source) != FieldRead::ok || !is_valid_id(t.source)) {
    return unreadable(id, Unreadable::wrong_type, "\"source_instance_id\" is not a valid id");
  }
  if (const FieldRead r = read_field(o, "fork_count", t.fork_count,
                                     [](const json::value& v) { return v.if_int64(); });
      r != FieldRead::ok) {
    return unreadable(id, Unreadable::wrong_type, field_problem(r, "fork_count", "an integer"));
  }
  return t;
}

namespace {

// The element of `v` (sorted by key) whose key is `key`, or null.
template <class T, class Key>
const T* find_sorted(const std::vector<T>& v, std::string_view key, Key key_of) {
  const auto it = std::lower_bound(v.begin(), v.end(), key, [&](const T& e, std::string_view k) {
    return std::string_view(key_of(e)) < k;
  });
  return it != v.end() && key_of(*it) == key ? &*it : nullptr;
}

}  // namespace

bool ScanResult::has_entry(std::string_view id) const {
  return std::binary_search(present.begin(), present.end(), id);
}

bool ScanResult::has_template_dir(std::string_view id) const {
  return std::binary_search(template_dirs.begin(), template_dirs.end(), id);
}

const Instance* ScanResult::find(std::string_view id) const {
  return find_sorted(instances, id, [](const Instance& i) -> const std::string& { return i.id; });
}

const HalfMadeFork* ScanResult::find_half_made(std::string_view id) const {
  return find_sorted(half_made, id,
                     [](const HalfMadeFork& h) -> const std::string& { return h.id; });
}

const Skipped* ScanResult::find_skipped(std::string_view name) const {
  return find_sorted(skipped, name, [](const Skipped& s) -> const std::string& { return s.name; });
}

const Memory* ScanResult::memory_of(std::string_view id) const {
  const MemoryRecord* r =
      find_sorted(memory, id, [](const MemoryRecord& m) -> const std::string& { return m.id; });
  return r != nullptr ? &r->memory : nullptr;
}

const UnreadableFile* ScanResult::find_unreadable(std::string_view id) const {
  return find_sorted(unreadable, id,
                     [](const UnreadableFile& u) -> const std::string& { return u.id; });
}

Result<ScanResult> scan(const std::string& data_root, const ScanOptions& options) {
  ScanResult out;
  out.root = data_root;
  const Fd root(::open(data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) {
    const int err = errno;
    return errno_error("cannot open data root " + data_root, err);
  }
  const RootPaths paths = root_paths(data_root);

  const Dir guests_dir(open_dir_stream(root.get(), "guests"));
  if (!guests_dir) {
    const int err = errno;
    return errno_error("data root " + data_root + " has no readable guests/ directory", err);
  }
  auto guests = list(guests_dir.get(), data_root + "/guests", out.skipped);
  if (!guests) return guests.error();
  std::vector<GuestEntry> entries(guests->size());
  const int guests_fd = ::dirfd(guests_dir.get());
  parallel_for(entries.size(), options.threads, [&](std::size_t i) {
    entries[i] = read_guest(guests_fd, (*guests)[i], options, paths);
  });
  out.present = std::move(*guests);
  out.memory.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    GuestEntry& e = entries[i];
    if (auto* skipped = std::get_if<Skipped>(&e.what)) {
      out.skipped.push_back(std::move(*skipped));
      continue;
    }
    out.memory.push_back(MemoryRecord{out.present[i], std::move(e.memory)});
    if (auto* in = std::get_if<Instance>(&e.what)) {
      out.instances.push_back(std::move(*in));
    } else if (auto* half = std::get_if<HalfMadeFork>(&e.what)) {
      out.half_made.push_back(std::move(*half));
    } else {
      out.unreadable.push_back(std::move(std::get<UnreadableFile>(e.what)));
    }
  }

  const Dir templates_dir(open_dir_stream(root.get(), "templates"));
  if (!templates_dir) {
    const int err = errno;
    if (err != ENOENT) return errno_error("cannot read " + data_root + "/templates", err);
  } else {
    std::vector<Skipped> ignored;
    auto names = list(templates_dir.get(), data_root + "/templates", ignored);
    if (!names) return names.error();
    std::vector<std::variant<TemplateRecord, UnreadableFile, Skipped>> read(names->size());
    const int templates_fd = ::dirfd(templates_dir.get());
    parallel_for(read.size(), options.threads, [&](std::size_t i) {
      read[i] = read_template(templates_fd, (*names)[i], options);
    });
    out.template_dirs = std::move(*names);
    for (auto& r : read) {
      if (auto* t = std::get_if<TemplateRecord>(&r)) {
        out.templates.push_back(std::move(*t));
      } else if (auto* bad = std::get_if<UnreadableFile>(&r)) {
        out.unreadable_templates.push_back(std::move(*bad));
      }
    }
  }

  // present, memory, instances, half_made, unreadable, template_dirs and
  // templates follow the sorted listings; skipped mixes two sources.
  std::sort(out.skipped.begin(), out.skipped.end(),
            [](const Skipped& a, const Skipped& b) { return a.name < b.name; });
  return out;
}

}  // namespace fj::gc
