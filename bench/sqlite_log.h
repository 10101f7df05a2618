// The peer a user would pick for an embedded event log: SQLite with a table
// `events(seq INTEGER PRIMARY KEY, record BLOB)` in WAL mode, holding the very
// same encoded records as the journal and replayed through the same decode
// and evolve (fj::decode + Projection::apply).
#pragma once

#include "bench/lmdb_scan.h"
#include "journal/error.h"
#include "journal/journal.h"
#include "projector/projection.h"

#include <sqlite3.h>

#include <memory>
#include <string>

namespace fj::bench {

class SqliteLog {
 public:
  // Creates the database at `path` (WAL, synchronous=NORMAL) and copies every
  // record of `journal` into it in one transaction, then checkpoints the WAL
  // so that reads come from the main database file.
  static Result<SqliteLog> create_from(const std::string& path, const Journal& journal);

  // Opens a database made by create_from.
  static Result<SqliteLog> open(const std::string& path);

  // Replays every row in seq order: checks that seqs are 1, 2, 3, ... (as
  // fj::replay does), decodes (checksum first) and applies each record.
  Result<Projection> replay() const;

  // Reads every seq and record byte and nothing else (SQLite's own floor).
  Result<ScanResult> scan() const;

  const std::string& path() const noexcept { return path_; }

 private:
  struct Close {
    void operator()(sqlite3* db) const noexcept { sqlite3_close(db); }
  };
  SqliteLog(std::unique_ptr<sqlite3, Close> db, std::string path)
      : db_(std::move(db)), path_(std::move(path)) {}

  std::unique_ptr<sqlite3, Close> db_;
  std::string path_;
};

}  // namespace fj::bench
