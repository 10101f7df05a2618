#include "journal/internal/pages.h"

#include "journal/hex.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace fj::lmdb {
namespace {

// LMDB 0.9's layout on a 64-bit build (mdb.c).
// MDB_page: pgno u64, pad u16, flags u16, lower u16, upper u16, ptrs u16[].
constexpr std::size_t kPageHeader = 16;
constexpr std::size_t kFlagsAt = 10;
constexpr std::size_t kLowerAt = 12;
constexpr std::size_t kUpperAt = 14;
constexpr std::uint16_t kBranch = 0x01;
constexpr std::uint16_t kLeaf = 0x02;
constexpr std::uint16_t kOverflow = 0x04;
constexpr std::uint16_t kMeta = 0x08;
// MDB_node on a branch page: the child's pgno in lo u16, hi u16, flags u16
// (bits 0-15, 16-31, 32-47), then ksize u16 and the key.
constexpr std::size_t kNodeHeader = 8;
// MDB_db: pad u32, flags u16, depth u16, branch, leaf and overflow page
// counts, entries, root (u64 each).
constexpr std::size_t kDbRecordSize = 48;
constexpr std::size_t kDbDepthAt = 6;
constexpr std::size_t kDbEntriesAt = 32;
constexpr std::size_t kDbRootAt = 40;
constexpr std::uint64_t kNoRoot = ~std::uint64_t{0};
// MDB_meta after the page header: magic u32, version u32, address, mapsize,
// the free list's MDB_db, the main database's MDB_db, last_pg, txnid.
constexpr std::size_t kMetaFreeDbAt = kPageHeader + 24;
constexpr std::size_t kMetaTxnidAt = kPageHeader + 128;
// Deeper than any tree LMDB builds (a depth of 10 holds > 10^15 keys).
constexpr unsigned kMaxDepth = 32;

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string hex16(std::uint16_t v) {
  const std::uint8_t bytes[] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  std::string out = "0x";
  append_hex(out, bytes);
  return out;
}

// LMDB's map of data.mdb in this process, as far as the file reaches.
struct Map {
  const unsigned char* base = nullptr;
  std::size_t page_size = 0;
  std::uint64_t pages = 0;  // pages in data.mdb
};

// LMDB hands out pointers into its map: the value of a main-database record
// lies in a page that starts at a multiple of the page size and begins with
// its own page number, which gives the map's base address.
Result<Map> locate_map(Txn& txn, MDB_dbi main_dbi, const char* name, std::size_t page_size) {
  MDB_val key{std::strlen(name), const_cast<char*>(name)};
  MDB_val value{};
  if (const int rc = mdb_get(txn.get(), main_dbi, &key, &value); rc != 0) {
    return error(std::string("look up database ") + name, rc);
  }
  if (value.mv_size != kDbRecordSize) {
    return make_error(Errc::lmdb_error, std::string("database record of ") + name + " has " +
                                            std::to_string(value.mv_size) + " bytes, not " +
                                            std::to_string(kDbRecordSize));
  }
  struct stat st {};
  int fd = -1;
  if (const int rc = mdb_env_get_fd(mdb_txn_env(txn.get()), &fd); rc != 0) {
    return error("mdb_env_get_fd", rc);
  }
  if (::fstat(fd, &st) != 0) return make_error(Errc::io_error, "cannot stat data.mdb");
  const auto address = reinterpret_cast<std::uintptr_t>(value.mv_data);
  const std::uintptr_t page = address & ~std::uintptr_t{page_size - 1};
  const auto pgno = load<std::uint64_t>(reinterpret_cast<const unsigned char*>(page));
  Map map;
  map.page_size = page_size;
  // Pages past the file's end or past this process's map would fault.
  MDB_envinfo info{};
  mdb_env_info(mdb_txn_env(txn.get()), &info);
  map.pages =
      std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size), info.me_mapsize) / page_size;
  if (pgno >= map.pages || pgno * page_size > page) {
    return make_error(Errc::lmdb_error, "cannot locate LMDB's map of data.mdb");
  }
  map.base = reinterpret_cast<const unsigned char*>(page - pgno * page_size);
  return map;
}

// A depth-first walk over the pages a scan from `from` visits.
class Walk {
 public:
  Walk(const Map& map, std::uint64_t from, std::uint64_t through)
      : map_(map), from_(from), through_(through) {}

  // False when a page is damaged (damage() says which).
  // low and high bound the keys the page holds: [low, high).
  bool visit(std::uint64_t pgno, unsigned levels, std::optional<std::uint64_t> low,
             std::optional<std::uint64_t> high) {
    const auto damaged = [&](const std::string& what) {
      damage_ = PageDamage{pgno, low, high, "page " + std::to_string(pgno) + " " + what};
      return false;
    };
    if (pgno < 2 || pgno >= map_.pages) return damaged("is not a page of data.mdb");
    // A sound tree reaches each page once: more visits than pages is a cycle.
    if (++visited_ > map_.pages) return damaged("is reached twice (the tree has a cycle)");
    const unsigned char* page = map_.base + pgno * map_.page_size;
    if (const auto stored = load<std::uint64_t>(page); stored != pgno) {
      return damaged("holds page number " + std::to_string(stored) + " (zeroed or misplaced)");
    }
    const auto flags = load<std::uint16_t>(page + kFlagsAt);
    const std::uint16_t expected = levels > 1 ? kBranch : kLeaf;
    if ((flags & (kBranch | kLeaf | kOverflow | kMeta)) != expected) {
      return damaged(std::string("is not the ") + (levels > 1 ? "branch" : "leaf") +
                     " page its parent needs (flags " + hex16(flags) + ")");
    }
    const auto lower = load<std::uint16_t>(page + kLowerAt);
    const auto upper = load<std::uint16_t>(page + kUpperAt);
    if (lower < kPageHeader || lower > upper || upper > map_.page_size ||
        (lower - kPageHeader) % 2 != 0) {
      return damaged("has impossible bounds (lower " + std::to_string(lower) + ", upper " +
                     std::to_string(upper) + ")");
    }
    if (levels == 1) {
      // The first leaf past `through` is the last one a scan can step onto.
      if (low && *low > through_) done_ = true;
      return true;
    }
    const std::size_t nodes = (lower - kPageHeader) / 2;
    if (nodes == 0) return damaged("is a branch page without children");
    // Node i leads to the keys in [key(i), key(i + 1)); key(0) is the parent's.
    const auto node = [&](std::size_t i) -> const unsigned char* {
      const auto at = load<std::uint16_t>(page + kPageHeader + 2 * i);
      if (at < upper || at + kNodeHeader > map_.page_size) return nullptr;
      return page + at;
    };
    const auto key = [&](const unsigned char* n) -> std::optional<std::uint64_t> {
      if (load<std::uint16_t>(n + 6) != sizeof(std::uint64_t) ||
          n + kNodeHeader + sizeof(std::uint64_t) > page + map_.page_size) {
        return std::nullopt;
      }
      return load<std::uint64_t>(n + kNodeHeader);
    };
    const auto child_of = [](const unsigned char* n) {
      return std::uint64_t{load<std::uint16_t>(n)} |
             std::uint64_t{load<std::uint16_t>(n + 2)} << 16 |
             std::uint64_t{load<std::uint16_t>(n + 4)} << 32;
    };
    for (std::size_t i = 0; i < nodes; ++i) {
      const unsigned char* n = node(i);
      if (n == nullptr) return damaged("has a node outside the page");
      std::optional<std::uint64_t> first = low;
      if (i != 0) {
        first = key(n);
        if (!first) return damaged("has a branch key that is not a 64-bit integer");
      }
      std::optional<std::uint64_t> bound = high;
      if (i + 1 < nodes) {
        const unsigned char* next = node(i + 1);
        if (next == nullptr) return damaged("has a node outside the page");
        bound = key(next);
        if (!bound) return damaged("has a branch key that is not a 64-bit integer");
        if (*bound <= from_) continue;  // wholly before the scan
      }
      if (!visit(child_of(n), levels - 1, first, bound)) return false;
      if (done_) break;
    }
    return true;
  }

  const std::optional<PageDamage>& damage() const { return damage_; }

 private:
  const Map& map_;
  std::uint64_t from_;
  std::uint64_t through_;
  bool done_ = false;
  std::uint64_t visited_ = 0;
  std::optional<PageDamage> damage_;
};

Result<std::optional<PageDamage>> walk(const Map& map, const unsigned char* record,
                                       const MDB_stat& stat, std::uint64_t from,
                                       std::uint64_t through, const std::string& name) {
  const auto depth = load<std::uint16_t>(record + kDbDepthAt);
  const auto root = load<std::uint64_t>(record + kDbRootAt);
  if (depth != stat.ms_depth || load<std::uint64_t>(record + kDbEntriesAt) != stat.ms_entries) {
    return make_error(Errc::lmdb_error, "the database record of " + name +
                                            " does not match mdb_stat: not LMDB 0.9's layout");
  }
  if (root == kNoRoot) return std::optional<PageDamage>();  // an empty database
  if (depth == 0 || depth > kMaxDepth) {
    return std::optional<PageDamage>(
        PageDamage{root, std::nullopt, std::nullopt,
                   name + " has an impossible depth " + std::to_string(depth)});
  }
  Walk w(map, from, through);
  w.visit(root, depth, std::nullopt, std::nullopt);
  return w.damage();
}

Result<MDB_dbi> main_dbi(Txn& txn) {
  MDB_dbi dbi = 0;
  if (const int rc = mdb_dbi_open(txn.get(), nullptr, 0, &dbi); rc != 0) {
    return error("open the main database", rc);
  }
  return dbi;
}

}  // namespace

Result<void> check_lmdb_version(int major, int minor, int patch) {
  if (major == kLmdbMajor && minor == kLmdbMinor) return {};
  const std::string supported = std::to_string(kLmdbMajor) + "." + std::to_string(kLmdbMinor);
  return make_error(Errc::lmdb_error, "LMDB " + std::to_string(major) + "." +
                                          std::to_string(minor) + "." + std::to_string(patch) +
                                          " is linked, but the page check reads LMDB " + supported +
                                          "'s page layout: build against LMDB " + supported);
}

Result<std::optional<PageDamage>> check_tree(Txn& txn, const char* name, MDB_dbi dbi,
                                             std::uint64_t from, std::uint64_t through) {
  if (auto ok = txn.usable(); !ok) return ok.error();
  MDB_stat stat{};
  if (const int rc = mdb_stat(txn.get(), dbi, &stat); rc != 0) return error("mdb_stat", rc);
  if (stat.ms_depth == 0) return std::optional<PageDamage>();
  auto main = main_dbi(txn);
  if (!main) return main.error();
  auto map = locate_map(txn, *main, name, stat.ms_psize);
  if (!map) return map.error();
  MDB_val key{std::strlen(name), const_cast<char*>(name)};
  MDB_val record{};
  if (const int rc = mdb_get(txn.get(), *main, &key, &record); rc != 0) {
    return error(std::string("look up database ") + name, rc);
  }
  return walk(*map, static_cast<const unsigned char*>(record.mv_data), stat, from, through,
              std::string(name));
}

Result<std::optional<PageDamage>> check_free_list(Txn& txn, const char* any_database) {
  if (auto ok = txn.usable(); !ok) return ok.error();
  MDB_stat stat{};
  if (const int rc = mdb_stat(txn.get(), 0, &stat); rc != 0) return error("mdb_stat", rc);
  if (stat.ms_depth == 0) return std::optional<PageDamage>();
  auto main = main_dbi(txn);
  if (!main) return main.error();
  auto map = locate_map(txn, *main, any_database, stat.ms_psize);
  if (!map) return map.error();
  // The free list's root is in the meta page of this transaction's txnid, a
  // page LMDB does not keep for readers: writers in other processes may
  // overwrite it at any time. Copy the record, then make sure the page still
  // holds this txnid; if not, skip the check rather than walk another
  // snapshot's pages.
  const auto txnid = static_cast<std::uint64_t>(mdb_txn_id(txn.get()));
  for (std::uint64_t meta = 0; meta < 2; ++meta) {
    const unsigned char* page = map->base + meta * map->page_size;
    const auto* stamp = reinterpret_cast<const volatile std::uint64_t*>(page + kMetaTxnidAt);
    if (*stamp != txnid) continue;
    unsigned char record[kDbRecordSize];
    std::memcpy(record, page + kMetaFreeDbAt, sizeof record);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (*stamp != txnid) break;
    return walk(*map, record, stat, 0, kHead, "the free list");
  }
  return std::optional<PageDamage>();
}

}  // namespace fj::lmdb
