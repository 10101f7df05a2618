// A journal: one LMDB environment (a directory) holding the append-only
// event log, the meta database and stored snapshots. Generic: it stores and
// checks records, and knows the event types only through the codec.
//
// Threads and processes: a Journal may be used from several threads; LMDB
// serialises write transactions across threads and processes, so any number
// of processes may append to one journal and the seqs stay gap-free. Do not
// open the same directory twice in one process (an LMDB rule: open() and
// create() refuse it while the first Journal lives), and never share a
// Journal across fork().
//
// Every read runs in its own short read transaction; a write runs in one
// write transaction that commits only if the whole callback succeeded.
#pragma once

#include "journal/chain.h"
#include "journal/codec.h"
#include "journal/error.h"
#include "journal/event.h"
#include "journal/request_window.h"
#include "journal/seq.h"
#include "journal/verify.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fj {

namespace lmdb {
class Cursor;
class Txn;
}  // namespace lmdb

enum class SyncMode {
  full,    // fsync data and meta pages on every commit (default): survives power loss
  nometa,  // skip the meta-page fsync: a crash may lose the last commits, never consistency
  none,    // no fsync at all: benchmarks only; an OS crash may corrupt the journal
};

struct JournalOptions {
  SyncMode sync = SyncMode::full;
  bool read_only = false;
  std::size_t initial_map_size = std::size_t{64} << 20;
  // The map doubles on MDB_MAP_FULL up to this size; past it appends fail with
  // journal_full. 0 means no limit beyond the address space. A limit below
  // initial_map_size is the initial size as well.
  std::size_t max_map_size = 0;
  // Which request ids put_request keeps (journal/request_window.h).
  RequestWindow requests{};
};

struct JournalInfo {
  std::string path;
  std::string journal_id;  // 32 hex characters, random at init
  std::uint64_t created_ns = 0;
  std::uint8_t format_version = 0;
};

// A snapshot as stored. `blob` points into the map: valid until the
// transaction ends or writes (a boot or an audit decodes it in place; a copy
// of a 60,000-fork snapshot's 3.6 MB took longer than decoding it).
struct StoredSnapshot {
  std::uint64_t seq = 0;
  std::string_view blob;
};

// What a request id maps to: the outcome of the request that first used it,
// stored in the transaction that appended its events.
struct RequestRecord {
  std::uint64_t first_seq = 0;  // 0: the request appended nothing (a no-op)
  std::uint64_t last_seq = 0;
  std::uint64_t already_at = 0;
  std::uint32_t fingerprint = 0;  // of the request's content, to detect reuse

  friend bool operator==(const RequestRecord&, const RequestRecord&) = default;
};

// The LMDB databases of one journal (journal/internal/databases.h).
struct JournalDbs;
class OpenClaim;  // journal/internal/open_claim.h

// The hash chain's value after `seq` (see journal/chain.h).
struct ChainPoint {
  std::uint64_t seq = 0;
  ChainHash value{};
};

// A read transaction as Journal::oldest_reader reports it: the process
// holding it and how many write transactions committed since it began.
struct OldestReader {
  int pid = 0;
  std::uint64_t txnid =
      0;  // LMDB's id of the snapshot it reads: tells one transaction from the next
  std::uint64_t txn_lag = 0;
};

// One stored record as a scan hands it over.
struct StoredRecord {
  std::uint64_t seq = 0;
  std::string_view bytes;  // valid until the transaction ends or writes
};

class Reader;

// Reads the events database in seq order a batch at a time: the engine of
// Reader::for_each, which inlines its visitor at the caller while LMDB stays
// out of this header. Lives inside one transaction, on its thread.
class RecordScan {
 public:
  RecordScan(Reader& reader, std::uint64_t from, std::uint64_t to) noexcept;
  RecordScan(const RecordScan&) = delete;
  RecordScan& operator=(const RecordScan&) = delete;
  ~RecordScan();

  // Fills `out` with the next records of [from, to] in order and returns how
  // many (0 once the range is done). A failure (seq_gap for a missing seq or
  // malformed key, corrupt_page, lmdb_error) is returned by the call after
  // the one that handed over every record before it, and by every call after.
  Result<std::size_t> next(std::span<StoredRecord> out);

 private:
  Reader& reader_;
  std::unique_ptr<lmdb::Cursor> cursor_;
  std::uint64_t expected_;
  std::uint64_t to_;
  std::uint64_t checked_through_ = 0;
  bool done_ = false;
  std::optional<Error> failure_;
};

// Reads inside a transaction (read or write). Obtained from Journal::read or
// WriteTxn; valid only inside the callback that received it.
class Reader {
 public:
  // The highest seq (0 for an empty journal).
  Result<std::uint64_t> head();

  // Calls visit(seq, record) -> Result<void> for every record with from <=
  // seq <= to, in order. `record` is valid only during the call, and the
  // visitor must not write to this transaction (records are read a batch
  // ahead). Stops at the first error the visitor returns. A missing seq in
  // the range is a seq_gap error; a damaged page, corrupt_page.
  template <class Visit>
  Result<void> for_each(std::uint64_t from, std::uint64_t to, Visit&& visit);

  // The record at `seq`, valid until the transaction ends. In a read
  // transaction the pages a lookup reads are checked first (check_pages):
  // a damaged page is corrupt_page. Walking back one seq at a time checks a
  // chunk below at once, so damage a little below `seq` can fail this call.
  Result<std::optional<std::string_view>> record(std::uint64_t seq);

  // Checks the pages of the events database that a scan over the seqs
  // [from, through] steps onto (journal/internal/pages.h), so that a damaged page is a
  // corrupt_page error naming the seqs it held, not an assertion in LMDB.
  // for_each does this itself, a chunk ahead of its cursor; a no-op in a
  // write transaction.
  Result<void> check_pages(std::uint64_t from, std::uint64_t through = kHead);
  // The same a chunk at a time, for a cursor scan about to step onto seq
  // `next`: checks a chunk of seqs from `next` on unless `checked_through`
  // (the scan's own, 0 at its start) already covers it, and moves
  // `checked_through` to the chunk's end, never past `last` (the scan's
  // last seq: damage after it is not the scan's). So a scan's first key
  // comes after one chunk's check, not the whole tree's.
  Result<void> check_pages_ahead(std::uint64_t next, std::uint64_t& checked_through,
                                 std::uint64_t last = kHead);

  // The newest snapshot with seq <= at_most, or nullopt. Older ones are
  // returned by calling again with a smaller bound. The blob is valid until
  // the transaction ends or writes.
  Result<std::optional<StoredSnapshot>> snapshot_at_most(std::uint64_t at_most);
  Result<std::vector<std::uint64_t>> snapshot_seqs();

  // The record stored for a client request id, if any: nullopt as well for
  // an id deleted once it fell outside the request window.
  Result<std::optional<RequestRecord>> request(std::string_view request_id);
  // How many request ids are stored.
  Result<std::uint64_t> request_count();

  // The chain value stored with the last commit (corrupt_meta if malformed).
  Result<ChainPoint> chain_head();
  // The stored checkpoint at a multiple of kChainCheckpointEvery, if any.
  Result<std::optional<ChainHash>> chain_checkpoint(std::uint64_t seq);

  // Walks every stored record in key order without stopping at damage, for
  // the audit: recomputes the hash chain from `seed`, checks it against every
  // stored checkpoint and the stored head, and reports each gap, malformed
  // key and chain problem to hooks.finding (see VerifyHooks in
  // journal/verify.h). Errors only when the journal cannot be read on
  // (corrupt_page, lmdb_error). The calling thread reads; the SHA-256 and
  // the hooks for the records run on a worker thread of its own, up to
  // eight windows of 4,096 records behind the reading (a walk of one batch
  // runs on the calling thread alone), and when the reading has to wait
  // for it the calling thread hashes later windows itself (ones that start
  // at a stored checkpoint). The hooks are called in key order, one at a
  // time: findings about the stored head and the starting point on the
  // calling thread before the walk and after it, the rest on the worker
  // (journal/verify.h says what a hook may do). What a hook throws is
  // thrown by verify_chain.
  Result<ChainWalk> verify_chain(const ChainHash& seed, const VerifyHooks& hooks);
  // The same walk over the records after `from`, a (seq, chain) verified
  // earlier: the chain restarts at from.value, and the record at from.seq
  // must still be stored (else a seq_gap from it). The records up to from.seq
  // are not read, so a change to them shows only where it reaches the stored
  // chain values: the checkpoint at from.seq (chain_mismatch when it is not
  // from.value), the later checkpoints and the stored head, which no longer
  // follow from from.value once history before it was rewritten and the
  // chain recomputed. Edits before from.seq that leave the stored chain
  // values alone are not seen: only a walk from the seed finds those.
  Result<ChainWalk> verify_chain(const ChainPoint& from, const VerifyHooks& hooks);

 protected:
  Reader(lmdb::Txn& txn, const JournalDbs& dbs) : txn_(txn), dbs_(dbs) {}
  Error gap(std::uint64_t expected, std::uint64_t found) const;

  lmdb::Txn& txn_;
  const JournalDbs& dbs_;  // owned by the Journal, which outlives every Reader
  // The seqs record() has checked the pages of: [checked_low_, checked_high_].
  std::uint64_t checked_low_ = 1;
  std::uint64_t checked_high_ = 0;

  friend class Journal;
  friend class RecordScan;
};

// A write transaction in progress. Appends are visible to this transaction's
// reads at once and to everyone else after commit.
class WriteTxn : public Reader {
 public:
  // Encodes and appends one event at head()+1 with MDB_APPEND, extends the
  // hash chain (storing a checkpoint every kChainCheckpointEvery seqs) and
  // returns its seq. The event is validated first (invalid_argument, nothing
  // written).
  Result<std::uint64_t> append(const EventView& e);

  // Stores a snapshot blob under seq, then deletes all but the newest `keep`.
  Result<void> put_snapshot(std::uint64_t seq, std::string_view blob, std::size_t keep = 2);

  // Stores the outcome of a client request under its id, stamped stored_ns
  // (unix nanoseconds; 0: the wall clock), then deletes the oldest stored
  // ids that fall outside JournalOptions::requests at stored_ns (never this
  // one; at most kMaxPrunedPerStore of them). The deletions are part of this transaction: if it
  // does not commit, nothing is stored and nothing deleted. Errors, nothing written:
  // invalid_argument (an id that is not is_valid_request_id, or one already
  // stored), lmdb_error.
  Result<void> put_request(std::string_view request_id, const RequestRecord& record,
                           std::uint64_t stored_ns = 0);

 private:
  WriteTxn(lmdb::Txn& txn, const JournalDbs& dbs, std::uint64_t head, const RequestWindow& window)
      : Reader(txn, dbs), head_(head), window_(window) {}
  // Gives every stored request id without an entry in the request order one
  // (after the existing entries, oldest outcome seq first, stamped
  // stored_ns) and drops order entries whose id is gone.
  Result<void> order_requests(std::uint64_t stored_ns);
  Result<std::uint64_t> next_request_order();
  // Loads the chain head; it must be at head_ (corrupt_meta otherwise).
  Result<void> start();
  // Stores the chain head if anything was appended.
  Result<void> finish();

  std::uint64_t head_;
  const RequestWindow& window_;  // the Journal's options, which outlive this
  ChainHash chain_{};
  bool appended_ = false;
  std::string buffer_;
  friend class Journal;
};

struct AppendResult {
  std::uint64_t first_seq = 0;  // 0 when nothing was appended
  std::uint64_t last_seq = 0;
};

class Journal {
 public:
  // Creates a new journal in `dir` (created 0700 if missing; must be empty).
  // Errors: already_a_journal, invalid_argument (a non-empty directory, a
  // journal this process has open, options.read_only set), io_error, lmdb_error (also for a linked
  // LMDB whose page layout the page check does not read: lmdb::check_lmdb_version, before any file
  // is made).
  static Result<Journal> create(const std::string& dir, const JournalOptions& options = {});

  // Opens an existing journal. Read-only opening never creates or changes a
  // file and runs beside a live writer. Errors: not_a_journal (missing
  // directory, a file, no data.mdb, an empty data.mdb, another program's
  // LMDB environment; the message says which), io_error (the directory or
  // data.mdb cannot be looked at: permission), invalid_argument (this
  // process has the journal open already), unknown_version (another format
  // version; both versions named), corrupt_meta, lmdb_error (also for a
  // linked LMDB of another release, as create). Clears reader slots left by
  // dead processes.
  static Result<Journal> open(const std::string& dir, const JournalOptions& options = {});

  // True when `dir` holds only what a create() killed before its first commit
  // leaves behind (create() then starts over instead of refusing). Creates
  // no file: without a lock.mdb it reads without one.
  static bool interrupted_init(const std::string& dir);

  // A moved-from Journal may only be destroyed or assigned to; a Ledger,
  // Service or reader made on it must not outlive the move.
  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) noexcept;
  ~Journal();

  const JournalInfo& info() const noexcept;
  const JournalOptions& options() const noexcept;
  // The highest seq (0 for an empty journal), in a read transaction of its
  // own. Errors: corrupt_record (a malformed key at the head), lmdb_error.
  Result<std::uint64_t> head() const;

  // Runs fn(Reader&) -> Result<T> in one short read transaction.
  template <class Fn>
  auto read(Fn&& fn) const -> decltype(fn(std::declval<Reader&>()));

  // Runs fn(WriteTxn&) -> Result<T> in one write transaction, committing only
  // when fn succeeds. If the map fills up, the transaction is aborted, the
  // map grows (doubling, up to max_map_size) and fn runs again from scratch
  // in a new transaction, so fn must not keep side effects of a failed run.
  // Past max_map_size: journal_full, nothing written. First clears the
  // reader slots of processes that died inside a read transaction, which
  // would keep every page freed since from being reused.
  template <class Fn>
  auto write(Fn&& fn) -> decltype(fn(std::declval<WriteTxn&>()));

  // Appends `events` atomically in one transaction and returns their seqs.
  // The raw layer: each event's fields are validated, not its meaning (a
  // fork under an unregistered template is stored, and an audit reports it
  // as an anomaly), and time_ns is stored as given; fj::Ledger::execute
  // (projector/ledger.h) decides commands against the projection first.
  // With expected_head, refuses (head_moved, nothing written) when the head is
  // not that seq. Errors, each with nothing written: invalid_argument (an
  // event that does not validate, naming the field; or a read-only
  // journal), head_moved, journal_full (the map is at max_map_size),
  // corrupt_meta (the stored chain head does not sit at the head),
  // lmdb_error. Returns once committed: durable as options().sync says.
  Result<AppendResult> append(std::span<const EventView> events,
                              std::optional<std::uint64_t> expected_head = std::nullopt);

  // Writes a compacted copy of the journal (free pages dropped, records
  // renumbered into fresh pages) to `dir`/data.mdb, as of one read
  // transaction: consistent while other threads and processes keep
  // appending, which the copy does not block. The file is created 0600 and
  // must not exist; `dir` must. The file and `dir` are fsynced before it
  // returns. Returns the copy's size in bytes. Errors: io_error (no `dir`,
  // data.mdb already there, a failed write or sync; errno in the message),
  // lmdb_error. On an error the file is removed again. Any thread; it holds
  // one read transaction for as long as the copy takes.
  Result<std::uint64_t> copy_to(const std::string& dir) const;

  // Size in bytes of data.mdb (errors: io_error naming the file) and of the
  // current map.
  Result<std::uint64_t> file_size() const;
  std::size_t map_size() const;

  // The oldest read transaction any live process (this one included) holds
  // open on the journal: while it lasts, the pages it may still see cannot
  // be reused and the file grows. Slots of dead processes are cleared first
  // (as every write transaction does). nullopt: no process is inside a read
  // transaction. Errors: lmdb_error. Any thread; never waits for a writer.
  Result<std::optional<OldestReader>> oldest_reader() const;

 private:
  struct State;
  explicit Journal(std::unique_ptr<State> state);
  // open() once the directory is claimed (open_claim.h): the claim moves
  // into the Journal, or is released if the open fails.
  static Result<Journal> open_claimed(const std::string& dir, const JournalOptions& options,
                                      OpenClaim claim);
  static Result<Journal> open_existing(const std::string& dir, const JournalOptions& options,
                                       OpenClaim claim);
  // interrupted_init's look at the files, for a directory already claimed.
  static bool looks_interrupted(const std::string& dir);
  // Creates the request order database if missing and orders the request
  // ids that have no entry in it (WriteTxn::order_requests), in one write
  // transaction.
  Result<void> order_requests();
  Result<void> read_impl(const std::function<Result<void>(Reader&)>& fn) const;
  Result<void> write_impl(const std::function<Result<void>(WriteTxn&)>& fn);

  std::unique_ptr<State> state_;
};

// --- implementation of the templates ---------------------------------------

template <class Visit>
Result<void> Reader::for_each(std::uint64_t from, std::uint64_t to, Visit&& visit) {
  RecordScan scan(*this, from, to);
  std::array<StoredRecord, 64> batch;
  for (;;) {
    auto count = scan.next(batch);
    if (!count) return count.error();
    if (*count == 0) return {};
    for (std::size_t i = 0; i < *count; ++i) {
      if (auto r = visit(batch[i].seq, batch[i].bytes); !r) return r;
    }
  }
}

template <class Fn>
auto Journal::read(Fn&& fn) const -> decltype(fn(std::declval<Reader&>())) {
  using R = decltype(fn(std::declval<Reader&>()));
  std::optional<R> out;
  auto done = read_impl([&](Reader& r) -> Result<void> {
    out.emplace(fn(r));
    if (!*out) return out->error();
    return {};
  });
  if (!done) return done.error();
  return std::move(*out);
}

template <class Fn>
auto Journal::write(Fn&& fn) -> decltype(fn(std::declval<WriteTxn&>())) {
  using R = decltype(fn(std::declval<WriteTxn&>()));
  std::optional<R> out;
  auto done = write_impl([&](WriteTxn& w) -> Result<void> {
    out.emplace(fn(w));
    if (!*out) return out->error();
    return {};
  });
  if (!done) return done.error();
  return std::move(*out);
}

}  // namespace fj
