// A check of LMDB's B-tree pages before a cursor walks them.
//
// LMDB checksums no pages. A lookup from the root (mdb_get, MDB_SET_RANGE,
// MDB_LAST) notices a page that is not a branch or leaf page and returns
// MDB_CORRUPTED, but a cursor stepping from one leaf to its sibling (MDB_NEXT,
// MDB_PREV) asserts in mdb.c and aborts the process, and so does a writer
// walking a damaged free list. check_tree walks one database's tree from its
// root the way such a scan would and checks the header of every page the scan
// would step onto, so the scan that follows meets no page LMDB cannot parse
// and a zeroed page becomes a typed error instead of a crash.
//
// It reads LMDB 0.9's on-disk layout (MDB_page, MDB_node and MDB_db in
// mdb.c; stable since 0.9.0, the format of every Debian release) through
// LMDB's own read-only map, and cross-checks what it reads with mdb_stat.
// Read transactions only: a write transaction's own pages are not in the map.
#pragma once

#include "journal/internal/lmdb.h"
#include "journal/seq.h"

#include <cstdint>
#include <optional>
#include <string>

namespace fj::lmdb {

// The LMDB release whose page layout this walker reads: 0.9. The on-disk
// layout has not changed between 0.9 patch releases (Debian 12 ships 0.9.24),
// so the patch level is not checked; another major or minor release may lay
// its pages out differently, and the walker would then misjudge sound pages.
inline constexpr int kLmdbMajor = 0;
inline constexpr int kLmdbMinor = 9;

// Refuses (lmdb_error, one line naming both versions) an LMDB whose
// major.minor is not kLmdbMajor.kLmdbMinor. Pure; the journal calls it with
// mdb_version() before it creates or opens anything.
Result<void> check_lmdb_version(int major, int minor, int patch);

struct PageDamage {
  std::uint64_t pgno = 0;
  // The keys the damaged page can hold, [first_key, end_key), when known.
  std::optional<std::uint64_t> first_key;
  std::optional<std::uint64_t> end_key;
  std::string what;  // "page 37 holds page number 0 (zeroed or misplaced)"
};

// Checks the pages of database `dbi` (named `name`; integer keys) that a
// cursor scan over the keys [from, through] steps onto: the pages holding
// those keys and the first leaf after them (where a cursor lands when it
// steps past `through`; kHead: the last key). nullopt when they are sound. A long scan checks a
// chunk at a time, just before it reads it. Without `leaf_after`, not that
// leaf: for a scan that stops on key `through`, which must be there.
Result<std::optional<PageDamage>> check_tree(Txn& txn, const char* name, MDB_dbi dbi,
                                             std::uint64_t from = 0, std::uint64_t through = kHead,
                                             bool leaf_after = true);

// Checks every page of database `dbi` (named `name`), whose keys are text
// (the requests database), node headers included, as check_tree does for a
// scan. Read transactions only.
Result<std::optional<PageDamage>> check_text_tree(Txn& txn, const char* name, MDB_dbi dbi);

// Checks every page of LMDB's free-page list, which a writer walks with a
// cursor when it allocates pages. `any_database`: the name of any named
// database (its record locates LMDB's map). Skipped (nullopt) when writers
// in other processes commit twice during the check: the free list's root is
// in a meta page that LMDB does not keep for readers.
Result<std::optional<PageDamage>> check_free_list(Txn& txn, const char* any_database);

// Checks, through a mapping of its own of data.mdb (`fd`), the pages LMDB
// reads when a journal is opened: LMDB's main database (the directory of
// named databases) and the named database `small_database`, whose keys are
// text; each whole, every node header included, as of read transaction
// `txn`. For the open, before LMDB looks anything up: a damaged node there
// would make it read past its page. nullopt when sound (or when writers in
// other processes committed twice during the check, as for the free list);
// io_error when the file cannot be mapped.
Result<std::optional<PageDamage>> check_directory(Txn& txn, int fd, std::size_t page_size,
                                                  const char* small_database);

// Reads the transaction ids in data.mdb's two meta pages (through `fd`).
// LMDB writes meta page `id % 2` at the commit with id `id`, so in a sound
// file page 0 holds an even id and page 1 the next or previous odd one
// (both are 0 before the first commit). A power loss under MDB_NOSYNC can
// leave them further apart, which is refused too.
// LMDB checksums neither and uses the one with the larger id: a damaged id
// can make it pick the older one, the state before the last commit, which
// the next commit then makes permanent. Returns what is wrong ("meta pages
// hold transaction ids 5 and 4294967301"), or nullopt when they agree; reads
// again a few times before it says so, since a writer in another process
// may commit between the two reads. io_error if the file cannot be read.
Result<std::optional<std::string>> check_meta_pages(int fd, std::size_t page_size);

}  // namespace fj::lmdb
