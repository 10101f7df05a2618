#include "bench/sqlite_log.h"

#include "journal/codec.h"

namespace fj::bench {
namespace {

struct Finalize {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;

Error sqlite_failed(sqlite3* db, const std::string& what) {
  return make_error(Errc::io_error, "sqlite: " + what + ": " + sqlite3_errmsg(db));
}

Result<void> exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return sqlite_failed(db, sql);
  }
  return {};
}

Result<Statement> prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    return sqlite_failed(db, std::string("prepare ") + sql);
  }
  return Statement(raw);
}

constexpr const char* kSelect = "SELECT seq, record FROM events ORDER BY seq";

}  // namespace

Result<SqliteLog> SqliteLog::create_from(const std::string& path, const Journal& journal) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, Close> db(raw);
  if (rc != SQLITE_OK) return sqlite_failed(raw, "open " + path);
  for (const char* sql :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, record BLOB NOT NULL)", "BEGIN"}) {
    if (auto ok = exec(raw, sql); !ok) return ok.error();
  }
  auto insert = prepare(raw, "INSERT INTO events (seq, record) VALUES (?1, ?2)");
  if (!insert) return insert.error();
  sqlite3_stmt* stmt = insert->get();
  auto copied = journal.read([&](Reader& r) -> Result<void> {
    auto head = r.head();
    if (!head) return head.error();
    return r.for_each(1, *head, [&](std::uint64_t seq, std::string_view record) -> Result<void> {
      sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(seq));
      sqlite3_bind_blob(stmt, 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
      if (sqlite3_step(stmt) != SQLITE_DONE) return sqlite_failed(raw, "insert");
      sqlite3_reset(stmt);
      return {};
    });
  });
  if (!copied) return copied.error();
  insert->reset();
  for (const char* sql : {"COMMIT", "PRAGMA wal_checkpoint(TRUNCATE)"}) {
    if (auto ok = exec(raw, sql); !ok) return ok.error();
  }
  return SqliteLog(std::move(db), path);
}

Result<SqliteLog> SqliteLog::open(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, Close> db(raw);
  if (rc != SQLITE_OK) return sqlite_failed(raw, "open " + path);
  return SqliteLog(std::move(db), path);
}

Result<Projection> SqliteLog::replay() const {
  auto select = prepare(db_.get(), kSelect);
  if (!select) return select.error();
  sqlite3_stmt* stmt = select->get();
  Projection state;
  std::uint64_t expected = 1;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0));
    if (seq != expected) {
      return make_error(Errc::seq_gap, "sqlite: seq " + std::to_string(expected) + " is missing",
                        expected);
    }
    const void* blob = sqlite3_column_blob(stmt, 1);
    const int size = sqlite3_column_bytes(stmt, 1);
    auto e = decode(
        seq, std::string_view(static_cast<const char*>(blob), static_cast<std::size_t>(size)));
    if (!e) return e.error();
    state.apply(seq, *e);
    ++expected;
  }
  if (rc != SQLITE_DONE) return sqlite_failed(db_.get(), kSelect);
  return state;
}

Result<ScanResult> SqliteLog::scan() const {
  auto select = prepare(db_.get(), kSelect);
  if (!select) return select.error();
  sqlite3_stmt* stmt = select->get();
  ScanResult out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0));
    const void* blob = sqlite3_column_blob(stmt, 1);
    const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, 1));
    out.fold = fold_bytes(out.fold + seq, blob, size);
    out.bytes += sizeof seq + size;
    ++out.records;
  }
  if (rc != SQLITE_DONE) return sqlite_failed(db_.get(), kSelect);
  return out;
}

}  // namespace fj::bench
