// The hypeman metadata scanner: reads a VM manager's data root and
// classifies what it finds. Instance metadata is written non-atomically
// upstream, so torn, empty, truncated or garbage files are normal input: they
// are classified, never fatal, and never followed out of the data root.
//
//   <root>/guests/<instance-id>/metadata.json    Go field names: "Id",
//       "IsTemplate", "TemplateID", "ForkOfTemplate" (unknown fields ignored)
//   <root>/templates/<template-id>/template.json  snake_case: "id", "name",
//       "source_instance_id", "fork_count"
//
// Bounded: each file is read through openat(O_NOFOLLOW | O_NONBLOCK) under
// the root with a size cap, and parsed with a nesting-depth cap; directory
// names must be valid ids. Thread-safe (no shared state).
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
  id_mismatch,    // "Id" / "id" differs from the directory name (or is missing)
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
};

struct Instance {
  std::string id;
  bool is_template = false;
  std::string template_id;  // "TemplateID": on a template's source instance
  std::string fork_of;      // "ForkOfTemplate": on a fork, its template id
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
  std::string name;  // the entry under guests/ or templates/
  std::string why;
};

struct ScanResult {
  std::string root;
  std::vector<Instance> instances;         // parsed, sorted by id
  std::vector<UnreadableFile> unreadable;  // guests/* that could not be read, sorted
  std::vector<Skipped> skipped;            // guests/* that are not instances
  std::vector<std::string> present;        // every valid-id entry under guests/, sorted
  std::vector<TemplateRecord> templates;   // parsed templates/*/template.json, sorted
  std::vector<UnreadableFile> unreadable_templates;
  std::vector<std::string> template_dirs;  // every valid-id entry under templates/, sorted

  // An entry named `id` exists under guests/ (whatever its state).
  bool has_entry(std::string_view id) const;
  const Instance* find(std::string_view id) const;
  const UnreadableFile* find_unreadable(std::string_view id) const;
  bool has_template_dir(std::string_view id) const;
  std::size_t scanned() const { return present.size(); }
};

// Errors: io_error when the root or its guests/ directory cannot be opened
// (guests/ and templates/ must be directories, not symlinks). A missing
// templates/ directory is not an error.
Result<ScanResult> scan(const std::string& data_root, const ScanOptions& options = {});

// Classifies the bytes of one guests/<id>/metadata.json.
std::variant<Instance, UnreadableFile> parse_instance(std::string_view id, std::string_view bytes,
                                                      const ScanOptions& options = {});
// Classifies the bytes of one templates/<id>/template.json.
std::variant<TemplateRecord, UnreadableFile> parse_template(std::string_view id,
                                                            std::string_view bytes,
                                                            const ScanOptions& options = {});

}  // namespace fj::gc
