#include "bench/lmdb_scan.h"

#include "journal/internal/format.h"

#include <cstring>

namespace fj::bench {
namespace {

Error lmdb_failed(const std::string& what, int rc) {
  return make_error(Errc::lmdb_error, what + ": " + mdb_strerror(rc));
}

struct TxnAbort {
  void operator()(MDB_txn* txn) const noexcept { mdb_txn_abort(txn); }
};
struct CursorClose {
  void operator()(MDB_cursor* cursor) const noexcept { mdb_cursor_close(cursor); }
};

}  // namespace

// A plain sum: one cycle per word, so the floor measures reading, not hashing.
std::uint64_t fold_bytes(std::uint64_t acc, const void* data, std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  for (; size >= 8; size -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    acc += word;
  }
  for (; size > 0; --size, ++p) acc += *p;
  return acc;
}

Result<LmdbScan> LmdbScan::open(const std::string& dir) {
  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw); rc != 0) return lmdb_failed("mdb_env_create", rc);
  std::unique_ptr<MDB_env, EnvClose> env(raw);
  if (int rc = mdb_env_set_maxdbs(raw, 8); rc != 0) return lmdb_failed("mdb_env_set_maxdbs", rc);
  if (int rc = mdb_env_open(raw, dir.c_str(), MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK, 0600); rc != 0) {
    return lmdb_failed("cannot open LMDB environment " + dir, rc);
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(raw, nullptr, MDB_RDONLY, &txn); rc != 0) {
    return lmdb_failed("mdb_txn_begin", rc);
  }
  MDB_dbi events = 0;
  const int rc = mdb_dbi_open(txn, kEventsDb, MDB_INTEGERKEY, &events);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_failed(std::string("open database ") + kEventsDb + " in " + dir, rc);
  }
  // Committing a read transaction keeps the database handle open.
  if (int c = mdb_txn_commit(txn); c != 0) return lmdb_failed("mdb_txn_commit", c);
  return LmdbScan(std::move(env), events);
}

Result<ScanResult> LmdbScan::scan() const {
  MDB_txn* raw_txn = nullptr;
  if (int rc = mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &raw_txn); rc != 0) {
    return lmdb_failed("mdb_txn_begin", rc);
  }
  std::unique_ptr<MDB_txn, TxnAbort> txn(raw_txn);
  MDB_cursor* raw_cursor = nullptr;
  if (int rc = mdb_cursor_open(raw_txn, events_, &raw_cursor); rc != 0) {
    return lmdb_failed("mdb_cursor_open", rc);
  }
  std::unique_ptr<MDB_cursor, CursorClose> cursor(raw_cursor);
  ScanResult out;
  MDB_val key{}, value{};
  int rc = mdb_cursor_get(raw_cursor, &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(raw_cursor, &key, &value, MDB_NEXT)) {
    out.fold = fold_bytes(out.fold, key.mv_data, key.mv_size);
    out.fold = fold_bytes(out.fold, value.mv_data, value.mv_size);
    out.bytes += key.mv_size + value.mv_size;
    ++out.records;
  }
  if (rc != MDB_NOTFOUND) return lmdb_failed("cursor read", rc);
  return out;
}

}  // namespace fj::bench
