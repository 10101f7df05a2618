#include "journal/internal/pages.h"

#include "journal/hex.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

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
// (bits 0-15, 16-31, 32-47), then ksize u16 and the key. On a leaf page: the
// value's size in lo and hi, flags, ksize, the key, then the value, or with
// F_BIGDATA the pgno of the overflow pages that hold it.
constexpr std::size_t kNodeHeader = 8;
constexpr std::uint16_t kBigData = 0x01;
constexpr std::uint16_t kSubData = 0x02;
// LMDB's default (and Debian's) largest key.
constexpr std::size_t kMaxKeySize = 511;
// An overflow page's page count (u32) where other pages keep lower and upper.
constexpr std::size_t kOverflowPagesAt = 12;
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
constexpr std::size_t kMetaMainDbAt = kMetaFreeDbAt + 48;
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

// What a database's leaf nodes hold.
enum class Keys {
  integer,  // 64-bit integer keys, values inline or on overflow pages
  text,     // keys of 1-511 bytes, values inline or on overflow pages
  names,    // LMDB's main database: names of databases, each with its record
            // (F_SUBDATA), beside any plain values
};

// Called with each leaf node's key, value (inline unless flags has
// F_BIGDATA), its size and the node's flags, once the leaf is sound.
using LeafVisit = std::function<void(std::string_view key, const unsigned char* value,
                                     std::size_t size, std::uint16_t flags)>;

// A depth-first walk over the pages a scan from `from` visits; with text
// keys, over every page.
class Walk {
 public:
  Walk(const Map& map, std::uint64_t from, std::uint64_t through, Keys keys = Keys::integer,
       LeafVisit on_leaf = {}, bool leaf_after = true)
      : map_(map),
        from_(from),
        through_(through),
        keys_(keys),
        on_leaf_(std::move(on_leaf)),
        leaf_after_(leaf_after) {}

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
    const std::size_t nodes = (lower - kPageHeader) / 2;
    const auto node = [&](std::size_t i) -> const unsigned char* {
      const auto at = load<std::uint16_t>(page + kPageHeader + 2 * i);
      if (at < upper || at + kNodeHeader > map_.page_size) return nullptr;
      return page + at;
    };
    if (levels == 1) {
      // The first leaf past `through` is the last one a scan can step onto.
      if (low && *low > through_) done_ = true;
      for (std::size_t i = 0; i < nodes; ++i) {
        const unsigned char* n = node(i);
        if (n == nullptr)
          return damaged("has a record outside the page (entry " + std::to_string(i) + ")");
        if (auto what = leaf_node(n, page); !what.empty()) {
          return damaged("has a damaged record header (entry " + std::to_string(i) + ": " + what +
                         ")");
        }
      }
      if (on_leaf_) {
        for (std::size_t i = 0; i < nodes; ++i) {
          const unsigned char* n = node(i);
          const auto ksize = load<std::uint16_t>(n + 6);
          const std::size_t size = load<std::uint16_t>(n) | std::size_t{load<std::uint16_t>(n + 2)}
                                                                << 16;
          on_leaf_(std::string_view(reinterpret_cast<const char*>(n + kNodeHeader), ksize),
                   n + kNodeHeader + ksize, size, load<std::uint16_t>(n + 4));
        }
      }
      return true;
    }
    if (nodes == 0) return damaged("is a branch page without children");
    // Node i leads to the keys in [key(i), key(i + 1)); key(0) is the parent's.
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
    // All of the next leaf page, while this one is walked: the hardware
    // prefetchers stop at a 4 KiB page's edge, so the first touch of each
    // leaf waited for memory (docs/decisions.md, "The fork table's own
    // slots": 7 % off a first-pass replay).
    const auto prefetch_leaf = [&](const unsigned char* n) {
      if (n == nullptr) return;
      const std::uint64_t leaf = child_of(n);
      if (leaf >= map_.pages) return;  // visiting it reports the damage
      const unsigned char* p = map_.base + leaf * map_.page_size;
      for (std::size_t at = 0; at < map_.page_size; at += 64) __builtin_prefetch(p + at);
    };
    for (std::size_t i = 0; i < nodes; ++i) {
      const unsigned char* n = node(i);
      if (n == nullptr) return damaged("has a node outside the page");
      if (keys_ != Keys::integer) {
        // Text keys bound no seqs: every child is visited. LMDB compares a
        // search key with each branch key, so they must lie in the page.
        const auto ksize = load<std::uint16_t>(n + 6);
        if (ksize > kMaxKeySize || n + kNodeHeader + ksize > page + map_.page_size) {
          return damaged("has a branch key of " + std::to_string(ksize) + " bytes");
        }
        if (!visit(child_of(n), levels - 1, std::nullopt, std::nullopt)) return false;
        continue;
      }
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
      // Wholly after a scan that stops on `through` without stepping on.
      if (!leaf_after_ && first && *first > through_) {
        done_ = true;
        break;
      }
      if (levels == 2 && i + 1 < nodes) prefetch_leaf(node(i + 1));
      if (!visit(child_of(n), levels - 1, first, bound)) return false;
      if (done_) break;
    }
    return true;
  }

  const std::optional<PageDamage>& damage() const { return damage_; }

 private:
  // What is wrong with leaf node n of `page`, or empty: LMDB reads the key,
  // the value and an overflow page's header without checking them, and a
  // wild size or page number makes it read past the page, or past the end
  // of data.mdb (SIGBUS). The databases checked here have 64-bit integer
  // keys and plain values, inline or on overflow pages.
  std::string leaf_node(const unsigned char* n, const unsigned char* page) const {
    const std::uint64_t size =
        std::uint64_t{load<std::uint16_t>(n)} | std::uint64_t{load<std::uint16_t>(n + 2)} << 16;
    const auto flags = load<std::uint16_t>(n + 4);
    const auto ksize = load<std::uint16_t>(n + 6);
    const std::size_t room = map_.page_size - static_cast<std::size_t>(n - page) - kNodeHeader;
    if (keys_ == Keys::integer ? ksize != sizeof(std::uint64_t)
                               : ksize == 0 || ksize > kMaxKeySize || ksize > room) {
      return "a key of " + std::to_string(ksize) + " bytes";
    }
    if (keys_ == Keys::names && flags == kSubData) {
      // A database's record. (Other entries are plain values, as below: an
      // LMDB file that is not a journal, which the open names as such.)
      if (size != kDbRecordSize || ksize + size > room) {
        return "a database record of " + std::to_string(size) + " bytes";
      }
      return {};
    }
    if (flags != 0 && flags != kBigData) return "flags " + hex16(flags);
    if (flags == 0) {
      if (ksize + size > room) return "a value of " + std::to_string(size) + " bytes";
      return {};
    }
    if (ksize + sizeof(std::uint64_t) > room) return "an overflow pointer outside the page";
    const auto first = load<std::uint64_t>(n + kNodeHeader + ksize);
    if (first < 2 || first >= map_.pages) {
      return "an overflow page " + std::to_string(first) + " that is not a page of data.mdb";
    }
    const unsigned char* overflow = map_.base + first * map_.page_size;
    const auto count = load<std::uint32_t>(overflow + kOverflowPagesAt);
    if (load<std::uint64_t>(overflow) != first ||
        (load<std::uint16_t>(overflow + kFlagsAt) & (kBranch | kLeaf | kOverflow | kMeta)) !=
            kOverflow ||
        count == 0 || count > map_.pages - first ||
        size > std::uint64_t{count} * map_.page_size - kPageHeader) {
      return "overflow page " + std::to_string(first) + " does not hold its " +
             std::to_string(size) + "-byte value";
    }
    return {};
  }

  const Map& map_;
  std::uint64_t from_;
  std::uint64_t through_;
  Keys keys_;
  LeafVisit on_leaf_;
  bool leaf_after_;
  bool done_ = false;
  std::uint64_t visited_ = 0;
  std::optional<PageDamage> damage_;
};

// Walks the tree whose MDB_db record is `record`.
std::optional<PageDamage> walk_record(const Map& map, const unsigned char* record,
                                      std::uint64_t from, std::uint64_t through,
                                      const std::string& name, Keys keys = Keys::integer,
                                      LeafVisit on_leaf = {}, bool leaf_after = true) {
  const auto depth = load<std::uint16_t>(record + kDbDepthAt);
  const auto root = load<std::uint64_t>(record + kDbRootAt);
  if (root == kNoRoot) return std::nullopt;  // an empty database
  if (depth == 0 || depth > kMaxDepth) {
    return PageDamage{root, std::nullopt, std::nullopt,
                      name + " has an impossible depth " + std::to_string(depth)};
  }
  Walk w(map, from, through, keys, std::move(on_leaf), leaf_after);
  w.visit(root, depth, std::nullopt, std::nullopt);
  return w.damage();
}

Result<std::optional<PageDamage>> walk(const Map& map, const unsigned char* record,
                                       const MDB_stat& stat, std::uint64_t from,
                                       std::uint64_t through, const std::string& name,
                                       Keys keys = Keys::integer, bool leaf_after = true) {
  if (load<std::uint16_t>(record + kDbDepthAt) != stat.ms_depth ||
      load<std::uint64_t>(record + kDbEntriesAt) != stat.ms_entries) {
    return make_error(Errc::lmdb_error, "the database record of " + name +
                                            " does not match mdb_stat: not LMDB 0.9's layout");
  }
  return walk_record(map, record, from, through, name, keys, {}, leaf_after);
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

namespace {
Result<std::optional<PageDamage>> check_tree_as(Txn& txn, const char* name, MDB_dbi dbi,
                                                std::uint64_t from, std::uint64_t through,
                                                Keys keys, bool leaf_after = true);
}  // namespace

Result<std::optional<PageDamage>> check_tree(Txn& txn, const char* name, MDB_dbi dbi,
                                             std::uint64_t from, std::uint64_t through,
                                             bool leaf_after) {
  return check_tree_as(txn, name, dbi, from, through, Keys::integer, leaf_after);
}

Result<std::optional<PageDamage>> check_text_tree(Txn& txn, const char* name, MDB_dbi dbi) {
  return check_tree_as(txn, name, dbi, 0, kHead, Keys::text);
}

namespace {

Result<std::optional<PageDamage>> check_tree_as(Txn& txn, const char* name, MDB_dbi dbi,
                                                std::uint64_t from, std::uint64_t through,
                                                Keys keys, bool leaf_after) {
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
              std::string(name), keys, leaf_after);
}

}  // namespace

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

Result<std::optional<PageDamage>> check_directory(Txn& txn, int fd, std::size_t page_size,
                                                  const char* small_database) {
  if (auto ok = txn.usable(); !ok) return ok.error();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(Errc::io_error, "cannot stat data.mdb");
  const auto bytes = static_cast<std::size_t>(st.st_size);
  if (bytes < 2 * page_size) return std::optional<PageDamage>();  // LMDB refuses it itself
  void* mapped = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) return make_error(Errc::io_error, "cannot map data.mdb");
  const struct Unmap {
    void* p;
    std::size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{mapped, bytes};
  Map map;
  map.base = static_cast<const unsigned char*>(mapped);
  map.page_size = page_size;
  map.pages = bytes / page_size;
  // The main database's record is in the meta page of this transaction's
  // txnid, which a writer in another process may overwrite once it has
  // committed twice more: copied, then the page must still hold the txnid
  // (else the check is skipped). The transaction keeps the pages the record
  // leads to from being reused.
  const auto txnid = static_cast<std::uint64_t>(mdb_txn_id(txn.get()));
  unsigned char main[kDbRecordSize];
  bool copied = false;
  for (std::uint64_t m = 0; m < 2 && !copied; ++m) {
    const unsigned char* page = map.base + m * page_size;
    const auto* stamp = reinterpret_cast<const volatile std::uint64_t*>(page + kMetaTxnidAt);
    if (*stamp != txnid) continue;
    std::memcpy(main, page + kMetaMainDbAt, sizeof main);
    std::atomic_thread_fence(std::memory_order_acquire);
    copied = *stamp == txnid;
  }
  if (!copied) return std::optional<PageDamage>();
  std::optional<std::vector<unsigned char>> small;
  const auto found = [&](std::string_view key, const unsigned char* value, std::size_t size,
                         std::uint16_t flags) {
    if (key == small_database && flags == kSubData) small.emplace(value, value + size);
  };
  if (auto damage = walk_record(map, main, 0, kHead, "LMDB's main database", Keys::names, found)) {
    return damage;
  }
  if (!small) return std::optional<PageDamage>();  // not a journal: the open says so
  return walk_record(map, small->data(), 0, kHead,
                     std::string("the ") + small_database + " database", Keys::text);
}

Result<std::optional<std::string>> check_meta_pages(int fd, std::size_t page_size) {
  std::uint64_t ids[2] = {};
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt != 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    for (int m = 0; m < 2; ++m) {
      const auto at = static_cast<off_t>(m * page_size + kMetaTxnidAt);
      if (::pread(fd, &ids[m], sizeof ids[m], at) != static_cast<ssize_t>(sizeof ids[m])) {
        return make_error(Errc::io_error, "cannot read the meta pages of data.mdb");
      }
    }
    // Meta page m is written by the commits whose id has parity m; a new
    // file holds 0 in both.
    const bool fresh = ids[0] == 0 && ids[1] == 0;
    const bool parity = ids[0] % 2 == 0 && ids[1] % 2 == 1;
    if (fresh || (parity && std::max(ids[0], ids[1]) - std::min(ids[0], ids[1]) == 1)) {
      return std::optional<std::string>();
    }
  }
  return std::optional<std::string>("its meta pages 0 and 1 hold transaction ids " +
                                    std::to_string(ids[0]) + " and " + std::to_string(ids[1]));
}

}  // namespace fj::lmdb
