#include "bench/db_sizes.h"

#include "journal/internal/lmdb.h"

#include <utility>

namespace fj::bench {
namespace {

constexpr MDB_dbi kMainDbi = 1;
constexpr std::uint64_t kNodeHeader = 8;

// LMDB's largest node on a leaf page (mdb.c, me_nodemax): a bigger one keeps
// its value on overflow pages and an 8-byte page number in the node.
std::uint64_t node_max(std::uint64_t page_size) {
  constexpr std::uint64_t kPageHeader = 16, kMinKeys = 2, kSlot = 2;
  return (((page_size - kPageHeader) / kMinKeys) & ~std::uint64_t{1}) - kSlot;
}

Result<DbSize> measure_db(lmdb::Txn& txn, MDB_dbi dbi, std::string name, std::uint64_t page_size) {
  MDB_stat stat{};
  if (int rc = mdb_stat(txn.get(), dbi, &stat); rc != 0) {
    return make_error(Errc::lmdb_error, "mdb_stat " + name + ": " + mdb_strerror(rc));
  }
  DbSize db;
  db.name = std::move(name);
  db.entries = stat.ms_entries;
  db.depth = stat.ms_depth;
  db.branch_pages = stat.ms_branch_pages;
  db.leaf_pages = stat.ms_leaf_pages;
  db.overflow_pages = stat.ms_overflow_pages;
  auto cursor = lmdb::Cursor::open(txn, dbi);
  if (!cursor) return cursor.error();
  const std::uint64_t nodemax = node_max(page_size);
  auto walked = cursor->each([&](const MDB_val& key, const MDB_val& value) -> Result<void> {
    db.key_bytes += key.mv_size;
    db.value_bytes += value.mv_size;
    const std::uint64_t inline_node = kNodeHeader + key.mv_size + value.mv_size;
    db.node_bytes += inline_node > nodemax ? kNodeHeader + key.mv_size + 8 : inline_node;
    return {};
  });
  if (!walked) return walked.error();
  return db;
}

}  // namespace

Result<FileSizes> measure_file(const std::string& dir) {
  auto env = lmdb::Env::open(dir, {.flags = MDB_RDONLY | MDB_NOLOCK, .max_dbs = 16});
  if (!env) return env.error();
  auto txn = lmdb::Txn::begin(*env, MDB_RDONLY);
  if (!txn) return txn.error();
  MDB_envinfo info{};
  MDB_stat env_stat{};
  mdb_env_info(env->get(), &info);
  mdb_env_stat(env->get(), &env_stat);
  FileSizes out;
  out.page_size = env_stat.ms_psize;
  out.pages_in_file = info.me_last_pgno + 1;

  auto main = measure_db(*txn, kMainDbi, "(main)", out.page_size);
  if (!main) return main.error();
  out.databases.push_back(*main);
  // The main database's keys are the names of the named databases.
  std::vector<std::string> names;
  {
    auto cursor = lmdb::Cursor::open(*txn, kMainDbi);
    if (!cursor) return cursor.error();
    auto walked = cursor->each([&](const MDB_val& key, const MDB_val&) -> Result<void> {
      names.emplace_back(lmdb::to_view(key));
      return {};
    });
    if (!walked) return walked.error();
  }
  for (const std::string& name : names) {
    auto dbi = txn->open_db(name.c_str(), 0);
    if (!dbi) return dbi.error();
    auto db = measure_db(*txn, *dbi, name, out.page_size);
    if (!db) return db.error();
    out.databases.push_back(*db);
  }
  std::uint64_t held = 0;
  for (const DbSize& db : out.databases) held += db.pages();
  out.free_pages = out.pages_in_file > held ? out.pages_in_file - held : 0;
  return out;
}

}  // namespace fj::bench
