// Physical evidence: which templates a guests/ entry's memory file links.
// A fork's snapshots/snapshot-latest/memory is a symlink to its template
// source's memory, or a hardlink of it; that link is the dependency a fork
// count protects, and it survives a torn or missing metadata.json.
//
// An entry physically references template T when its memory is
//   - a symlink whose target (resolved lexically) is the memory path of T's
//     source instance or of a fork the projection holds live under T; a
//     symlink to another entry's memory is followed through the scan result
//     (a few hops, never on disk);
//   - a regular file with the same device and inode as T's source memory or
//     as the memory of a fork live under T (this still names T once its
//     source directory is gone). An entry never proves itself: its own
//     contribution to the index is ignored when it is attributed.
// A lookup costs O(templates sharing the key), not O(forks sharing it).
//
// Pure: built from values (a projection and a scan result), no filesystem.
// Lifetime: borrows both; they must outlive the index. Not thread-safe to
// build; const use is.
#pragma once

#include "gc/scanner.h"
#include "projector/projection.h"

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fj::gc {

struct Attribution {
  enum class Kind : std::uint8_t {
    absent,        // no memory file
    private_file,  // a regular file nobody else links: no template's
    linked,        // references `templates`
    unattributed,  // shared, a symlink, or unknown, and no known template's:
                   // it may be any template's
  };
  Kind kind = Kind::absent;
  std::vector<std::string> templates;  // sorted and unique when linked
  std::string evidence;                // one line, printable ASCII: the path and what it is

  bool references(std::string_view template_id) const;
};

class MemoryIndex {
 public:
  // Indexes the memory of every template's source (active or retired) and of
  // every live fork.
  MemoryIndex(const Projection& state, const ScanResult& scan);

  // What guests/<id>'s memory references.
  Attribution attribute(std::string_view id) const;

  // The templates (active or retired) whose source instance is `id`.
  const std::vector<const Template*>& templates_of_source(std::string_view id) const;
  bool is_source(std::string_view id) const { return !templates_of_source(id).empty(); }
  // Whether `id` is the source of template `template_id`: its memory is that
  // template's own, not a link to it.
  bool is_source_of(std::string_view id, std::string_view template_id) const;

 private:
  // One template whose memory a key (an inode, or an instance's memory path)
  // is, with the first two instances that make it so: enough to name another
  // one than the entry being attributed, in O(templates) per lookup.
  struct Owner {
    std::string template_id;
    std::string first;   // the source or live fork whose memory this is
    std::string second;  // another one, or empty
    const char* role;    // of `first`: "source" | "live fork"
    const char* second_role = nullptr;
  };
  void add(std::string_view instance, const Template& t, const char* role);
  static void add_owner(std::vector<Owner>& owners, const std::string& template_id,
                        std::string_view instance, const char* role);
  static void describe(Attribution& a, const std::vector<Owner>& owners, std::string_view self);

  const ScanResult& scan_;
  // Keyed by instance id, looked up by string_view without a copy.
  template <class V>
  using ById = boost::unordered_flat_map<std::string, V, IdHash, std::equal_to<>>;
  ById<std::vector<Owner>> by_instance_;
  using Inode = std::pair<std::uint64_t, std::uint64_t>;  // device, inode
  boost::unordered_flat_map<Inode, std::vector<Owner>, boost::hash<Inode>> by_inode_;
  ById<std::vector<const Template*>> sources_;
};

}  // namespace fj::gc
