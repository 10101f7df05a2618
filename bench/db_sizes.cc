#include "bench/db_sizes.h"

#include <lmdb.h>

#include <memory>

namespace fj::bench {
namespace {

Error lmdb_failed(const std::string& what, int rc) {
  return make_error(Errc::lmdb_error, what + ": " + mdb_strerror(rc));
}

struct EnvClose {
  void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
};
struct TxnAbort {
  void operator()(MDB_txn* txn) const noexcept { mdb_txn_abort(txn); }
};
struct CursorClose {
  void operator()(MDB_cursor* cursor) const noexcept { mdb_cursor_close(cursor); }
};

constexpr MDB_dbi kMainDbi = 1;
constexpr std::uint64_t kNodeHeader = 8;

// LMDB's largest node on a leaf page (mdb.c, me_nodemax): a bigger one keeps
// its value on overflow pages and an 8-byte page number in the node.
std::uint64_t node_max(std::uint64_t page_size) {
  constexpr std::uint64_t kPageHeader = 16, kMinKeys = 2, kSlot = 2;
  return (((page_size - kPageHeader) / kMinKeys) & ~std::uint64_t{1}) - kSlot;
}

Result<DbSize> measure_db(MDB_txn* txn, MDB_dbi dbi, std::string name, std::uint64_t page_size) {
  MDB_stat stat{};
  if (int rc = mdb_stat(txn, dbi, &stat); rc != 0) return lmdb_failed("mdb_stat " + name, rc);
  DbSize db;
  db.name = std::move(name);
  db.entries = stat.ms_entries;
  db.depth = stat.ms_depth;
  db.branch_pages = stat.ms_branch_pages;
  db.leaf_pages = stat.ms_leaf_pages;
  db.overflow_pages = stat.ms_overflow_pages;
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn, dbi, &raw); rc != 0) return lmdb_failed("mdb_cursor_open", rc);
  std::unique_ptr<MDB_cursor, CursorClose> cursor(raw);
  const std::uint64_t nodemax = node_max(page_size);
  MDB_val key{}, value{};
  int rc = mdb_cursor_get(raw, &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(raw, &key, &value, MDB_NEXT)) {
    db.key_bytes += key.mv_size;
    db.value_bytes += value.mv_size;
    const std::uint64_t inline_node = kNodeHeader + key.mv_size + value.mv_size;
    db.node_bytes += inline_node > nodemax ? kNodeHeader + key.mv_size + 8 : inline_node;
  }
  if (rc != MDB_NOTFOUND) return lmdb_failed("walk of " + db.name, rc);
  return db;
}

}  // namespace

Result<FileSizes> measure_file(const std::string& dir) {
  MDB_env* raw_env = nullptr;
  if (int rc = mdb_env_create(&raw_env); rc != 0) return lmdb_failed("mdb_env_create", rc);
  std::unique_ptr<MDB_env, EnvClose> env(raw_env);
  if (int rc = mdb_env_set_maxdbs(raw_env, 16); rc != 0) {
    return lmdb_failed("mdb_env_set_maxdbs", rc);
  }
  if (int rc = mdb_env_open(raw_env, dir.c_str(), MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK, 0600);
      rc != 0) {
    return lmdb_failed("cannot open LMDB environment " + dir, rc);
  }
  MDB_txn* raw_txn = nullptr;
  if (int rc = mdb_txn_begin(raw_env, nullptr, MDB_RDONLY, &raw_txn); rc != 0) {
    return lmdb_failed("mdb_txn_begin", rc);
  }
  std::unique_ptr<MDB_txn, TxnAbort> txn(raw_txn);
  MDB_envinfo info{};
  MDB_stat env_stat{};
  mdb_env_info(raw_env, &info);
  mdb_env_stat(raw_env, &env_stat);
  FileSizes out;
  out.page_size = env_stat.ms_psize;
  out.pages_in_file = info.me_last_pgno + 1;

  auto main = measure_db(raw_txn, kMainDbi, "(main)", out.page_size);
  if (!main) return main.error();
  out.databases.push_back(*main);
  // The main database's keys are the names of the named databases.
  std::vector<std::string> names;
  {
    MDB_cursor* raw = nullptr;
    if (int rc = mdb_cursor_open(raw_txn, kMainDbi, &raw); rc != 0) {
      return lmdb_failed("mdb_cursor_open (main)", rc);
    }
    std::unique_ptr<MDB_cursor, CursorClose> cursor(raw);
    MDB_val key{}, value{};
    for (int rc = mdb_cursor_get(raw, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(raw, &key, &value, MDB_NEXT)) {
      names.emplace_back(static_cast<const char*>(key.mv_data), key.mv_size);
    }
  }
  for (const std::string& name : names) {
    MDB_dbi dbi = 0;
    if (int rc = mdb_dbi_open(raw_txn, name.c_str(), 0, &dbi); rc != 0) {
      return lmdb_failed("open database " + name, rc);
    }
    auto db = measure_db(raw_txn, dbi, name, out.page_size);
    if (!db) return db.error();
    out.databases.push_back(*db);
  }
  std::uint64_t held = 0;
  for (const DbSize& db : out.databases) held += db.pages();
  out.free_pages = out.pages_in_file > held ? out.pages_in_file - held : 0;
  return out;
}

}  // namespace fj::bench
