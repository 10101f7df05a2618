#include "journal/internal/lmdb.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

namespace fj::lmdb {

Error error(std::string_view what, int rc) {
  const Errc code = rc == MDB_MAP_FULL ? Errc::journal_full : Errc::lmdb_error;
  return make_error(code, std::string(what) + ": " + mdb_strerror(rc));
}

namespace {

// LMDB 0.9's lock file: a header of three 64-byte cache lines (the shared
// state, the writer's mutex, the first reader slot) and one 64-byte slot per
// further reader: the size LMDB gives a new one.
off_t lock_file_bytes(unsigned max_readers) {
  return 192 + static_cast<off_t>(max_readers - 1) * 64;
}

// LMDB sizes a new lock file with ftruncate, which allocates no blocks, and
// then stores into it through a shared mapping: on a full file system the
// first store is a SIGBUS that kills the process, not an error. Allocating
// the blocks first turns a full disk into ENOSPC here, before LMDB maps it.
// Blocks already allocated need no space, so a full disk does not stop an
// open of a journal whose lock file exists. Other failures are left to LMDB
// to report as before.
Result<void> allocate_lock_file(MDB_env* env, const std::string& dir, const EnvOptions& options) {
  if ((options.flags & MDB_NOLOCK) != 0) return {};
  unsigned readers = 0;
  if (int rc = mdb_env_get_maxreaders(env, &readers); rc != 0) {
    return error("mdb_env_get_maxreaders", rc);
  }
  const std::string path = dir + "/lock.mdb";
  const int create = (options.flags & MDB_RDONLY) != 0 ? 0 : O_CREAT;
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | create, options.mode);
  if (fd < 0) return {};
  // A lock file in use keeps its size: one grown here would hold reader
  // slots beyond the mappings of the processes already using it.
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return {};
  }
  const off_t bytes = st.st_size > 0 ? st.st_size : lock_file_bytes(readers);
  int rc = 0;
  while ((rc = ::posix_fallocate(fd, 0, bytes)) == EINTR) {
  }
  ::close(fd);
  if (rc == ENOSPC || rc == EDQUOT) {
    return make_error(Errc::io_error, "cannot open LMDB environment " + dir +
                                          ": no room for its lock file lock.mdb (" +
                                          std::to_string(bytes) + " bytes): " + std::strerror(rc));
  }
  return {};
}

}  // namespace

Result<Env> Env::open(const std::string& dir, const EnvOptions& options, int* rc_out) {
  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw); rc != 0) return error("mdb_env_create", rc);
  Env env(raw);
  if (int rc = mdb_env_set_maxdbs(raw, options.max_dbs); rc != 0) {
    return error("mdb_env_set_maxdbs", rc);
  }
  if (options.map_size != 0) {
    if (int rc = mdb_env_set_mapsize(raw, options.map_size); rc != 0) {
      return error("mdb_env_set_mapsize", rc);
    }
  }
  if (auto ok = allocate_lock_file(raw, dir, options); !ok) return ok.error();
  if (int rc = mdb_env_open(raw, dir.c_str(), options.flags | MDB_NOTLS, options.mode); rc != 0) {
    if (rc_out != nullptr) *rc_out = rc;
    return error("cannot open LMDB environment " + dir, rc);
  }
  return env;
}

Env& Env::operator=(Env&& other) noexcept {
  if (this != &other) {
    if (env_ != nullptr) mdb_env_close(env_);
    env_ = std::exchange(other.env_, nullptr);
  }
  return *this;
}

Env::~Env() {
  if (env_ != nullptr) mdb_env_close(env_);
}

std::size_t Env::map_size() const noexcept {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

Result<void> Env::set_map_size(std::size_t size) {
  if (int rc = mdb_env_set_mapsize(env_, size); rc != 0) return error("mdb_env_set_mapsize", rc);
  return {};
}

Result<int> Env::clear_stale_readers() {
  int dead = 0;
  if (int rc = mdb_reader_check(env_, &dead); rc != 0) return error("mdb_reader_check", rc);
  return dead;
}

Result<std::optional<Env::ReaderSlot>> Env::oldest_reader() const {
  // mdb_reader_list hands over one formatted line per slot ("pid thread
  // txnid", txnid "-" for a slot outside a transaction) after a header line;
  // it has no structured form.
  std::optional<ReaderSlot> oldest;
  auto visit = [](const char* line, void* ctx) -> int {
    auto& out = *static_cast<std::optional<ReaderSlot>*>(ctx);
    int pid = 0;
    std::uintmax_t thread = 0;
    std::uintmax_t txnid = 0;
    if (std::sscanf(line, "%d %jx %ju", &pid, &thread, &txnid) == 3 &&
        (!out || txnid < out->txnid)) {
      out = ReaderSlot{pid, txnid};
    }
    return 0;
  };
  if (int rc = mdb_reader_list(env_, visit, &oldest); rc < 0) return error("mdb_reader_list", rc);
  return oldest;
}

Result<std::uint64_t> Env::last_txnid() const {
  MDB_envinfo info{};
  if (int rc = mdb_env_info(env_, &info); rc != 0) return error("mdb_env_info", rc);
  return static_cast<std::uint64_t>(info.me_last_txnid);
}

Result<Txn> Txn::begin(const Env& env, unsigned flags, int* rc_out) {
  MDB_txn* raw = nullptr;
  const int rc = mdb_txn_begin(env.get(), nullptr, flags, &raw);
  if (rc_out != nullptr) *rc_out = rc;
  if (rc != 0) return error("mdb_txn_begin", rc);
  Txn txn(raw);
  txn.write_ = (flags & MDB_RDONLY) == 0;
  return txn;
}

Txn::Txn(Txn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)),
      open_cursors_(std::exchange(other.open_cursors_, 0)),
      failure_rc_(other.failure_rc_),
      failed_(other.failed_),
      write_(other.write_) {}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
    open_cursors_ = std::exchange(other.open_cursors_, 0);
    failure_rc_ = other.failure_rc_;
    failed_ = other.failed_;
    write_ = other.write_;
  }
  return *this;
}

void Txn::abort() noexcept {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

Error Txn::fail(std::string_view what, int rc) {
  if (!failed_) failure_rc_ = rc;
  failed_ = true;
  return error(what, rc);
}

Result<void> Txn::usable() const {
  if (txn_ == nullptr) return make_error(Errc::lmdb_error, "transaction already ended");
  if (failed_)
    return make_error(Errc::lmdb_error, "transaction already failed; it must be aborted");
  return {};
}

Result<MDB_dbi> Txn::open_db(const char* name, unsigned flags) {
  if (auto ok = usable(); !ok) return ok.error();
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn_, name, flags, &dbi);
  if (rc == MDB_NOTFOUND) {
    // A read transaction keeps working after a missing database.
    return make_error(Errc::not_a_journal, std::string("no '") + name + "' database");
  }
  if (rc != 0) return fail(std::string("open database ") + name, rc);
  return dbi;
}

Result<std::optional<std::string_view>> Txn::get(MDB_dbi dbi, MDB_val key) {
  if (auto ok = usable(); !ok) return ok.error();
  MDB_val value{};
  const int rc = mdb_get(txn_, dbi, &key, &value);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return fail("mdb_get", rc);
  return std::optional<std::string_view>(to_view(value));
}

Result<void> Txn::put(MDB_dbi dbi, MDB_val key, MDB_val value, unsigned flags) {
  if (auto ok = usable(); !ok) return ok;
  if (int rc = mdb_put(txn_, dbi, &key, &value, flags); rc != 0) return fail("mdb_put", rc);
  return {};
}

Result<bool> Txn::del(MDB_dbi dbi, MDB_val key) {
  if (auto ok = usable(); !ok) return ok.error();
  const int rc = mdb_del(txn_, dbi, &key, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return fail("mdb_del", rc);
  return true;
}

Result<void> Txn::commit(int* rc_out) {
  if (rc_out != nullptr) *rc_out = 0;
  if (open_cursors_ != 0) {
    // Left to the destructors (cursors first, then this transaction's abort):
    // aborting now would free the cursors under their owners.
    failed_ = true;
    return make_error(Errc::lmdb_error,
                      "commit with open cursors; the transaction must be aborted");
  }
  if (auto ok = usable(); !ok) {
    abort();
    return ok;
  }
  // mdb_txn_commit frees the handle whether or not it succeeds.
  const int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  if (rc_out != nullptr) *rc_out = rc;
  if (rc != 0) return error("mdb_txn_commit", rc);
  return {};
}

Result<Cursor> Cursor::open(Txn& txn, MDB_dbi dbi) {
  if (auto ok = txn.usable(); !ok) return ok.error();
  MDB_cursor* raw = nullptr;
  if (int rc = mdb_cursor_open(txn.get(), dbi, &raw); rc != 0) {
    return txn.fail("mdb_cursor_open", rc);
  }
  ++txn.open_cursors_;
  return Cursor(&txn, raw);
}

Result<std::optional<std::uint64_t>> last_seq_key(Txn& txn, MDB_dbi dbi, Errc malformed,
                                                  const char* what) {
  auto cursor = Cursor::open(txn, dbi);
  if (!cursor) return cursor.error();
  MDB_val key{}, value{};
  auto found = cursor->get(key, value, MDB_LAST);
  if (!found) return found.error();
  if (!*found) return std::optional<std::uint64_t>{};
  if (key.mv_size != sizeof(std::uint64_t)) {
    return make_error(malformed,
                      std::string("malformed key at the end of the ") + what + " database");
  }
  std::uint64_t last;
  std::memcpy(&last, key.mv_data, sizeof last);
  return std::optional<std::uint64_t>{last};
}

Cursor::~Cursor() {
  if (cursor_ == nullptr) return;
  // LMDB frees a write transaction's cursors when the transaction ends.
  if (txn_->txn_ != nullptr || !txn_->write_) mdb_cursor_close(cursor_);
  --txn_->open_cursors_;
}

}  // namespace fj::lmdb
