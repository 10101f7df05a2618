// Move-only RAII handles over the LMDB C API (lmdb.h is the reference for the
// semantics of every call wrapped here).
//
// Contracts:
// - Env closes the environment in its destructor. All Txns of an Env must end
//   before it is destroyed.
// - Txn aborts in its destructor unless commit() consumed it. After any
//   operation on a Txn fails, the Txn is poisoned: every later operation
//   returns an error and commit() refuses, so a failed write transaction can
//   only be aborted, never reused or half-committed.
// - A Cursor must be destroyed before its Txn object, and before commit():
//   commit() refuses (and poisons the Txn) while cursors are open.
// - Txns are created with MDB_NOTLS environments, so a read Txn may move
//   between threads, but a Txn must never be used by two threads at once.
// - Keep read Txns short: a long-lived reader pins pages and makes the file
//   grow (see lmdb.h, "Caveats").
#pragma once

#include "journal/error.h"

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fj::lmdb {

// lmdb_error (or journal_full for MDB_MAP_FULL) with "<what>: <mdb_strerror>".
Error error(std::string_view what, int rc);

inline MDB_val to_val(std::string_view s) noexcept {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view to_view(const MDB_val& v) noexcept {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

struct EnvOptions {
  unsigned flags = 0;  // MDB_RDONLY, MDB_NOSYNC, MDB_NOMETASYNC, ... (MDB_NOTLS is always added)
  std::size_t map_size = 0;  // 0 keeps LMDB's default (or the file's size)
  unsigned max_dbs = 8;
  unsigned mode = 0600;  // permissions of new files
};

class Env {
 public:
  // rc_out, when given, receives the raw LMDB code of a failed mdb_env_open.
  // Unless MDB_NOLOCK, allocates the lock file's blocks first: a file system
  // with no room for them is an io_error here, not a SIGBUS inside LMDB.
  static Result<Env> open(const std::string& dir, const EnvOptions& options, int* rc_out = nullptr);

  Env(Env&& other) noexcept : env_(std::exchange(other.env_, nullptr)) {}
  Env& operator=(Env&& other) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  MDB_env* get() const noexcept { return env_; }
  std::size_t map_size() const noexcept;
  // Requires that no transaction of this process is active. 0 adopts the size
  // another process set.
  Result<void> set_map_size(std::size_t size);
  // Clears reader slots left by dead processes; returns how many were cleared.
  Result<int> clear_stale_readers();

  // The reader slot (of any process) whose read transaction began at the
  // oldest transaction id, or nullopt when no process is inside one; and the
  // id of the newest committed transaction. Reads the lock file's reader
  // table, so it neither waits for nor blocks the writer.
  struct ReaderSlot {
    int pid = 0;
    std::uint64_t txnid = 0;
  };
  Result<std::optional<ReaderSlot>> oldest_reader() const;
  Result<std::uint64_t> last_txnid() const;

 private:
  explicit Env(MDB_env* env) : env_(env) {}
  MDB_env* env_ = nullptr;
};

class Cursor;

class Txn {
 public:
  // flags: MDB_RDONLY for a read transaction, 0 for a write transaction.
  // Returns the raw LMDB code in `rc_out` when given (to detect MDB_MAP_RESIZED).
  static Result<Txn> begin(const Env& env, unsigned flags, int* rc_out = nullptr);

  Txn(Txn&& other) noexcept;
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  // Opens (with MDB_CREATE in a write txn: creates) a named database.
  // MDB_NOTFOUND is returned as not_a_journal.
  Result<MDB_dbi> open_db(const char* name, unsigned flags);

  // The value stays valid until the transaction ends or the next write.
  Result<std::optional<std::string_view>> get(MDB_dbi dbi, MDB_val key);
  Result<void> put(MDB_dbi dbi, MDB_val key, MDB_val value, unsigned flags = 0);
  Result<bool> del(MDB_dbi dbi, MDB_val key);  // false when the key was absent

  // Consumes the transaction: committed on success, freed either way.
  // The rc of a failed mdb_txn_commit is reported in rc_out when given.
  Result<void> commit(int* rc_out = nullptr);
  void abort() noexcept;

  bool poisoned() const noexcept { return failed_; }
  bool writable() const noexcept { return write_; }
  // The LMDB code of the first failure (0 when none), e.g. MDB_MAP_FULL.
  int failure_rc() const noexcept { return failure_rc_; }
  MDB_txn* get() const noexcept { return txn_; }

  // Marks the transaction failed after rc (used by Cursor). Returns the error.
  Error fail(std::string_view what, int rc);
  Result<void> usable() const;

 private:
  friend class Cursor;
  explicit Txn(MDB_txn* txn) : txn_(txn) {}

  MDB_txn* txn_ = nullptr;
  int open_cursors_ = 0;
  int failure_rc_ = 0;
  bool failed_ = false;
  bool write_ = false;
};

class Cursor {
 public:
  static Result<Cursor> open(Txn& txn, MDB_dbi dbi);

  Cursor(Cursor&& other) noexcept
      : txn_(std::exchange(other.txn_, nullptr)), cursor_(std::exchange(other.cursor_, nullptr)) {}
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  // Positions the cursor (MDB_FIRST, MDB_LAST, MDB_NEXT, MDB_PREV, MDB_SET_RANGE,
  // ...). Returns false at the end (MDB_NOTFOUND); any other failure poisons
  // the transaction.
  Result<bool> get(MDB_val& key, MDB_val& value, MDB_cursor_op op) {
    const int rc = mdb_cursor_get(cursor_, &key, &value, op);
    if (rc == 0) return true;
    if (rc == MDB_NOTFOUND) return false;
    return txn_->fail("cursor read", rc);
  }

  // Calls fn(key, value) -> Result<void> for every entry from the first, in
  // key order; stops at the first error, fn's or LMDB's.
  template <class Fn>
  Result<void> each(Fn&& fn) {
    MDB_val key{}, value{};
    return each_after(get(key, value, MDB_FIRST), key, value, fn);
  }
  // The same from the first entry whose key is not below `start`.
  template <class Fn>
  Result<void> each_from(MDB_val start, Fn&& fn) {
    MDB_val value{};
    return each_after(get(start, value, MDB_SET_RANGE), start, value, fn);
  }

 private:
  Cursor(Txn* txn, MDB_cursor* cursor) : txn_(txn), cursor_(cursor) {}
  template <class Fn>
  Result<void> each_after(Result<bool> found, MDB_val& key, MDB_val& value, Fn& fn) {
    for (;; found = get(key, value, MDB_NEXT)) {
      if (!found) return found.error();
      if (!*found) return {};
      if (auto ok = fn(key, value); !ok) return ok;
    }
  }
  Txn* txn_;
  MDB_cursor* cursor_;
};

// Keys of the integer-keyed databases (MDB_INTEGERKEY, native-endian u64).
inline MDB_val seq_key(const std::uint64_t& seq) noexcept {
  return MDB_val{sizeof seq, const_cast<std::uint64_t*>(&seq)};
}

// The last key of an integer-keyed database; nullopt when it is empty. A key
// that is not a u64 is an Error of `malformed` with the message
// "malformed key at the end of the <what> database".
Result<std::optional<std::uint64_t>> last_seq_key(Txn& txn, MDB_dbi dbi, Errc malformed,
                                                  const char* what);

}  // namespace fj::lmdb
