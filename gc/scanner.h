// The hypeman metadata scanner: reads a VM manager's data root and
// classifies what it finds. Instance metadata is written non-atomically
// upstream, so torn, empty, truncated or garbage files are normal input: they
// are classified, never fatal, and never followed out of the data root.
//
//   <root>/guests/<instance-id>/metadata.json    Go field names: "Id",
//       "IsTemplate", "TemplateID", "ForkOfTemplate" (unknown fields ignored)
//   <root>/guests/<instance-id>/snapshots/snapshot-latest/memory   the memory
//       file: a fork's is a symlink to, or a hardlink of, its template
//       source's, and that link is the dependency a fork count protects
//   <root>/templates/<template-id>/template.json  snake_case: "id", "name",
//       "source_instance_id", "fork_count"
//
// A metadata.json whose "Id" names another instance is a half-made fork (the
// source's metadata copied with its directory); a directory without one is a
// leftover (a delete that died part-way): both are classified, not parsed as
// instances. The memory file is examined with lstat/readlinkat only.
//
// Bounded: each file is read through openat(O_NOFOLLOW | O_NONBLOCK) under
// the root with a size cap, and parsed with a nesting-depth cap; directory
// names must be valid ids. Thread-safe (no shared state); a scan reads its
// entries on ScanOptions::threads threads of its own and joins them.
#pragma once

#include "journal/error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fj::gc {

enum class Unreadable : std::uint8_t {
  empty,          // zero bytes or only white space
  truncated,      // JSON that stops mid-value (a torn write)
  invalid_json,   // a syntax error, invalid UTF-8 or trailing data
  not_an_object,  // valid JSON but not an object
  wrong_type,     // a known field of the wrong type, or an invalid id in it
  id_mismatch,    // "Id" / "id" differs from the directory name or is missing
                  // (scan() reports an "Id" naming another instance as a
                  // half-made fork instead)
  too_large,      // over ScanOptions::max_file_size
  too_deep,       // nested deeper than ScanOptions::max_depth
  permission,     // EACCES / EPERM
  io_error,       // any other error, or not a regular file
  missing,        // the directory exists but the file does not
  symlink,        // the file is a symbolic link (never followed)
};
std::string_view unreadable_name(Unreadable r) noexcept;

// JSON nesting beyond this is refused whatever ScanOptions says: the parser
// recurses per level, and the stack is finite.
inline constexpr unsigned kMaxDepthCap = 1000;

struct ScanOptions {
  std::size_t max_file_size = std::size_t{1} << 20;
  unsigned max_depth = 32;  // at most kMaxDepthCap
  // Entries read at once (0 counts as 1). A scan with a cold cache waits on
  // the disk for every directory and file; concurrent lookups overlap those
  // waits.
  unsigned threads = 32;
};

struct Instance {
  std::string id;
  bool is_template = false;
  std::string template_id;  // "TemplateID": on a template's source instance
  std::string fork_of;      // "ForkOfTemplate": on a fork, its template id
};

// What guests/<id>/snapshots/snapshot-latest/memory is. Only that exact name
// counts: memory.lz4, memory.zst or *.tmp beside it are not the memory file.
enum class MemoryKind : std::uint8_t {
  absent,        // no memory file (or no snapshots/snapshot-latest/ directory)
  private_file,  // a regular file with link count 1
  shared_file,   // a regular file with link count > 1 (a hardlink)
  symlink,       // a symbolic link (never followed)
  unknown,       // could not be examined, or something else: see detail
};

struct Memory {
  MemoryKind kind = MemoryKind::absent;
  std::uint64_t device = 0;  // regular files
  std::uint64_t inode = 0;
  std::uint64_t links = 0;
  std::string target;    // symlink: the target as stored
  std::string resolved;  // symlink: the target resolved lexically, relative to the
                         // data root; empty when it lies outside the root
  std::string detail;    // unknown: one line saying why
};

// The memory file of guests/<id>, relative to the data root.
std::string memory_path(std::string_view id);

struct MemoryRecord {
  std::string id;  // the guests/ entry
  Memory memory;
};

// A guests/<id>/metadata.json whose "Id" is another instance's: a fork
// directory copied from its source whose own metadata was never written.
struct HalfMadeFork {
  std::string id;     // the directory name
  std::string names;  // the "Id" the copied metadata names
  bool is_template = false;
  std::string template_id;  // the copied "TemplateID"
  std::string fork_of;      // the copied "ForkOfTemplate"
};

struct UnreadableFile {
  std::string id;  // the directory name
  Unreadable reason{};
  std::string detail;  // one line
};

struct TemplateRecord {
  std::string id;
  std::string name;
  std::string source;  // source_instance_id
  std::optional<std::int64_t> fork_count;
};

struct Skipped {
  std::string name;  // the entry under guests/ or templates/ (escaped, printable())
  std::string why;
  bool symlink = false;  // a symbolic link with a valid id: it may hide anything
};

struct ScanResult {
  std::string root;
  std::vector<Instance> instances;         // parsed, sorted by id
  std::vector<UnreadableFile> unreadable;  // guests/* that could not be read, sorted;
                                           // a leftover has reason `missing`
  std::vector<HalfMadeFork> half_made;     // sorted by id
  std::vector<MemoryRecord> memory;        // one per directory under guests/, sorted
  std::vector<Skipped> skipped;            // guests/* that are not instances
  std::vector<std::string> present;        // every valid-id entry under guests/, sorted
  std::vector<TemplateRecord> templates;   // parsed templates/*/template.json, sorted
  std::vector<UnreadableFile> unreadable_templates;
  std::vector<std::string> template_dirs;  // every valid-id entry under templates/, sorted

  // An entry named `id` exists under guests/ (whatever its state).
  bool has_entry(std::string_view id) const;
  const Instance* find(std::string_view id) const;
  const UnreadableFile* find_unreadable(std::string_view id) const;
  const HalfMadeFork* find_half_made(std::string_view id) const;
  const Skipped* find_skipped(std::string_view name) const;
  // Null for an entry that is not a directory.
  const Memory* memory_of(std::string_view id) const;
  bool has_template_dir(std::string_view id) const;
  std::size_t scanned() const { return present.size(); }
};

// Errors: io_error when the root or its guests/ directory cannot be opened
// (guests/ and templates/ must be directories, not symlinks), or when listing
// either fails part-way (a cut-short listing would read as missing forks). A
// missing templates/ directory is not an error.
Result<ScanResult> scan(const std::string& data_root, const ScanOptions& options = {});

// Classifies the bytes of one guests/<id>/metadata.json.
std::variant<Instance, HalfMadeFork, UnreadableFile> parse_metadata(
    std::string_view id, std::string_view bytes, const ScanOptions& options = {});
// As parse_metadata, with a half-made fork reported as id_mismatch.
std::variant<Instance, UnreadableFile> parse_instance(std::string_view id, std::string_view bytes,
                                                      const ScanOptions& options = {});
// Classifies the bytes of one templates/<id>/template.json.
std::variant<TemplateRecord, UnreadableFile> parse_template(std::string_view id,
                                                            std::string_view bytes,
                                                            const ScanOptions& options = {});

}  // namespace fj::gc
