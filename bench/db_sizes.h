// Where the bytes of an LMDB file go: per named database, what mdb_stat
// reports (entries, branch, leaf and overflow pages) and what a walk over
// every entry adds (key and value sizes, and how full the leaf pages are);
// plus the pages no database holds. Opens the environment read-only with MDB_NOLOCK: call it only
// when no process writes to `dir` and this process has no other handle on it.
#pragma once

#include "journal/error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fj::bench {

struct DbSize {
  std::string name;  // "(main)" for LMDB's database of database names
  std::uint64_t entries = 0;
  std::uint64_t depth = 0;
  std::uint64_t branch_pages = 0, leaf_pages = 0, overflow_pages = 0;
  std::uint64_t key_bytes = 0;    // sum over the entries
  std::uint64_t value_bytes = 0;  // sum over the entries
  // Bytes the entries take on their leaf pages: the 8-byte node header, the
  // key, and the value (8 bytes for a value on overflow pages). The 2-byte
  // slot each entry also takes in its page's offset array and the 16-byte
  // page header are not counted.
  std::uint64_t node_bytes = 0;

  std::uint64_t pages() const { return branch_pages + leaf_pages + overflow_pages; }
};

struct FileSizes {
  std::uint64_t page_size = 0;
  std::uint64_t pages_in_file = 0;  // up to and including the last page used
  // In the file but in no database: free pages, the free list's own pages
  // and LMDB's two meta pages.
  std::uint64_t free_pages = 0;
  std::vector<DbSize> databases;  // (main), then the named ones in name order
};

// Errors: lmdb_error naming the step.
Result<FileSizes> measure_file(const std::string& dir);

}  // namespace fj::bench
