// The approach forkjournal replaces, as a VM manager's file registry does it:
// one JSON file per template, templates/<id>/template.json, holding a mutable
// fork_count that is rewritten on every fork and unfork through write-temp,
// fsync, rename. Used only to measure what that costs per event.
#pragma once

#include "journal/error.h"
#include "journal/event.h"

#include <cstdint>
#include <string>
#include <unordered_map>

namespace fj::bench {

class FileRegistry {
 public:
  // `root` must exist; templates/ is created under it.
  static Result<FileRegistry> open(const std::string& root);

  // Applies one journal event the way a file registry would record it: a
  // registration writes a new file, a fork/unfork (or a correction) rewrites
  // the count, a retirement removes the template's directory, and a
  // reconcile_run writes nothing. Every write is durable before it returns.
  Result<void> apply(const EventView& e);

 private:
  struct Entry {
    std::string name;
    std::string source;
    std::uint64_t created_ns = 0;
    std::int64_t fork_count = 0;
  };

  explicit FileRegistry(std::string templates) : templates_(std::move(templates)) {}
  Result<void> write(const std::string& id, const Entry& entry) const;

  std::string templates_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace fj::bench
