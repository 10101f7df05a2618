#include "journal/journal.h"

#include "journal/hex.h"
#include "journal/ids.h"
#include "journal/internal/clock.h"
#include "journal/internal/databases.h"
#include "journal/internal/dir_sync.h"
#include "journal/internal/endian.h"
#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"
#include "journal/internal/open_claim.h"
#include "journal/internal/pages.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <unordered_set>
#include <utility>
#include <vector>

namespace fj {
namespace {

namespace fs = std::filesystem;

// The map size an environment opens with: the initial size, within the limit.
std::size_t first_map_size(const JournalOptions& o) {
  return o.max_map_size != 0 ? std::min(o.initial_map_size, o.max_map_size) : o.initial_map_size;
}

unsigned env_flags(const JournalOptions& o) {
  unsigned flags = 0;
  if (o.read_only) flags |= MDB_RDONLY;
  if (o.sync == SyncMode::nometa) flags |= MDB_NOMETASYNC;
  if (o.sync == SyncMode::none) flags |= MDB_NOSYNC;
  return flags;
}

std::string random_id() {
  std::random_device rd;
  std::array<std::uint8_t, 16> bytes{};
  for (std::uint8_t& b : bytes) b = static_cast<std::uint8_t>(rd());
  return to_hex(bytes);
}

// The page check (journal/internal/pages.h) reads LMDB's own page layout.
Result<void> check_linked_lmdb() {
  int major = 0, minor = 0, patch = 0;
  mdb_version(&major, &minor, &patch);
  return lmdb::check_lmdb_version(major, minor, patch);
}

Result<void> put_meta(lmdb::Txn& txn, MDB_dbi meta, std::string_view key, std::string_view value) {
  return txn.put(meta, lmdb::to_val(key), lmdb::to_val(value));
}

// LMDB reports a short write as EIO, which on a full file system reads as a
// failing disk: the free space says which it is.
Error commit_error(const std::string& dir, int rc) {
  std::string message = "journal " + dir + ": the commit failed: " + mdb_strerror(rc);
  struct statvfs fs_info {};
  if ((rc == EIO || rc == ENOSPC) && ::statvfs(dir.c_str(), &fs_info) == 0) {
    const std::uint64_t free_bytes =
        static_cast<std::uint64_t>(fs_info.f_bavail) * fs_info.f_frsize;
    if (free_bytes < (std::uint64_t{1} << 20)) {
      message +=
          " (the file system holding it is full: " + std::to_string(free_bytes) + " bytes free)";
    }
  }
  return make_error(Errc::io_error, message);
}

std::string user_name(uid_t uid) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::array<char, 1024> buffer{};
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
  }
  return "uid " + std::to_string(uid);
}

// "<path> belongs to <user> with mode <mode>, and this process runs as <user>".
std::string ownership(const std::string& path, const struct stat& st) {
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return path + " belongs to " + user_name(st.st_uid) + " with mode " + mode +
         ", and this process runs as " + user_name(::geteuid());
}

// Which of the journal's files refused this process, and whose it is: "" when
// none did. The usual case is a journal made by root and opened by the
// daemon's own user; LMDB's EACCES names only the directory.
std::string refused_file(const std::string& dir, bool read_only) {
  struct stat st {};
  for (const std::string name : {"data.mdb", "lock.mdb"}) {
    const std::string path = dir + "/" + name;
    if (::stat(path.c_str(), &st) != 0) continue;
    // LMDB opens the lock file for writing even to read.
    const int wanted = read_only && name == "data.mdb" ? R_OK : R_OK | W_OK;
    if (::access(path.c_str(), wanted) != 0) return ownership(path, st);
  }
  // A missing lock file is created in the directory.
  const std::string lock = dir + "/lock.mdb";
  if (::access(lock.c_str(), F_OK) != 0 && ::access(dir.c_str(), W_OK) != 0 &&
      ::stat(dir.c_str(), &st) == 0) {
    return ownership(dir, st) + " (LMDB creates lock.mdb there)";
  }
  return "";
}

std::string u64_le(std::uint64_t v) {
  std::string s;
  put_le(s, v);
  return s;
}

}  // namespace

struct Journal::State {
  State(OpenClaim c, lmdb::Env e, const JournalOptions& o)
      : claim(std::move(c)), env(std::move(e)), options(o) {}

  OpenClaim claim;  // first: released after the environment closes
  lmdb::Env env;
  JournalDbs dbs;
  JournalOptions options;
  JournalInfo info;
  // Shared by every transaction of this process; taken exclusively to resize
  // the map, which LMDB allows only while this process has no transaction.
  mutable std::shared_mutex resize;
};

// --- Reader / WriteTxn -------------------------------------------------------

Error Reader::gap(std::uint64_t expected, std::uint64_t found) const {
  if (found == 0) {
    return make_error(Errc::seq_gap, "malformed key after seq " + std::to_string(expected - 1),
                      expected);
  }
  return make_error(
      Errc::seq_gap,
      "seq " + std::to_string(expected) + " is missing (next is " + std::to_string(found) + ")",
      expected);
}

namespace {

// Checks one integer-keyed database's pages for a scan from `from`; read
// transactions only (see pages.h).
Result<void> check_database(lmdb::Txn& txn, const char* name, MDB_dbi dbi, std::uint64_t from,
                            std::uint64_t through = kHead, bool leaf_after = true) {
  if (txn.writable()) return {};
  auto damage = lmdb::check_tree(txn, name, dbi, from, through, leaf_after);
  if (!damage) return damage.error();
  if (!*damage) return {};
  // A check of the newest leaf alone (from kHead) names the seqs it held.
  const std::uint64_t first = (*damage)->first_key.value_or(1);
  const std::uint64_t seq = from == kHead ? first : std::max(from, first);
  const auto end = (*damage)->end_key;
  return make_error(Errc::corrupt_page,
                    std::string("the ") + name + " database is damaged: " + (*damage)->what +
                        "; records " + std::to_string(seq) + "-" +
                        (end ? std::to_string(*end - 1) : std::string("end")) + " cannot be read",
                    seq);
}

}  // namespace

Result<void> Reader::check_pages(std::uint64_t from, std::uint64_t through) {
  return check_database(txn_, kEventsDb, dbs_.events, from, through);
}

Result<void> Reader::check_pages_ahead(std::uint64_t next, std::uint64_t& checked_through,
                                       std::uint64_t last) {
  constexpr std::uint64_t kCheckChunk = 4096;
  if (next <= checked_through || next > last) return {};
  checked_through = next > kHead - kCheckChunk ? kHead : next + kCheckChunk;
  if (checked_through < last || last == kHead) return check_pages(next, checked_through);
  // Never past the scan's own end: damage after it is not this scan's (a
  // short scan would fail on pages it never reads). A scan that finds `last`
  // stops on it and never steps onto the leaf after, which is checked only
  // when `last` is missing (the cursor steps there to find that out).
  checked_through = last;
  if (auto sound = check_database(txn_, kEventsDb, dbs_.events, next, last, false); !sound)
    return sound;
  if (txn_.writable()) return {};
  auto there = txn_.get(dbs_.events, lmdb::seq_key(last));
  if (!there) return there.error();
  if (*there) return {};
  return check_pages(next, last);
}

// --- RecordScan ---------------------------------------------------------------

RecordScan::RecordScan(Reader& reader, std::uint64_t from, std::uint64_t to) noexcept
    : reader_(reader), expected_(from == 0 ? 1 : from), to_(to) {
  done_ = expected_ > to_;
}

RecordScan::~RecordScan() = default;

Result<std::size_t> RecordScan::next(std::span<StoredRecord> out) {
  if (failure_) return *failure_;
  if (done_) return std::size_t{0};
  std::size_t count = 0;
  // Hands over what was read before a failure first; the failure comes next.
  const auto fail = [&](Error e) -> Result<std::size_t> {
    failure_ = std::move(e);
    if (count != 0) return count;
    return *failure_;
  };
  MDB_cursor_op op = MDB_NEXT;
  if (!cursor_) {
    if (auto sound = reader_.check_pages_ahead(expected_, checked_through_, to_); !sound)
      return fail(sound.error());
    auto opened = lmdb::Cursor::open(reader_.txn_, reader_.dbs_.events);
    if (!opened) return fail(opened.error());
    cursor_ = std::make_unique<lmdb::Cursor>(std::move(*opened));
    op = MDB_SET_RANGE;
  }
  while (count < out.size()) {
    MDB_val key = lmdb::seq_key(expected_);
    MDB_val value{};
    auto found = cursor_->get(key, value, op);
    op = MDB_NEXT;
    if (!found) return fail(found.error());
    if (!*found) {
      done_ = true;
      break;
    }
    if (key.mv_size != sizeof(std::uint64_t)) return fail(reader_.gap(expected_, 0));
    std::uint64_t seq;
    std::memcpy(&seq, key.mv_data, sizeof seq);
    if (seq > to_) {
      done_ = true;
      break;
    }
    if (seq != expected_) return fail(reader_.gap(expected_, seq));
    out[count++] = StoredRecord{seq, lmdb::to_view(value)};
    ++expected_;
    // At `to` the scan is done without stepping on: the cursor never reads
    // a page past it.
    if (seq == to_) {
      done_ = true;
      break;
    }
    if (auto sound = reader_.check_pages_ahead(seq + 1, checked_through_, to_); !sound)
      return fail(sound.error());
  }
  return count;
}

Result<std::uint64_t> Reader::head() {
  // The pages on the way to the last record: the newest leaf, rewritten by
  // every append, is read before any scan checks it.
  if (auto sound = check_pages(kHead, kHead); !sound) return sound.error();
  auto last = lmdb::last_seq_key(txn_, dbs_.events, Errc::corrupt_record, "events");
  if (!last) return last.error();
  return last->value_or(0);
}

Result<std::optional<std::string_view>> Reader::record(std::uint64_t seq) {
  if (seq < checked_low_ || seq > checked_high_) {
    // A walk one seq at a time, back from the head (gc/recent_forks.h) or
    // forward (fleet/witness.h), checks a chunk at a time.
    constexpr std::uint64_t kChunk = 4096;
    const bool walked = checked_low_ <= checked_high_;
    std::uint64_t low = seq, high = seq;
    if (walked && seq + 1 == checked_low_) low = seq > kChunk ? seq - kChunk + 1 : 1;
    if (walked && seq == checked_high_ + 1) high = seq > kHead - kChunk ? kHead : seq + kChunk - 1;
    if (auto sound = check_pages(low, high); !sound) return sound.error();
    checked_low_ = low;
    checked_high_ = high;
  }
  return txn_.get(dbs_.events, lmdb::seq_key(seq));
}

Result<std::optional<StoredSnapshot>> Reader::snapshot_at_most(std::uint64_t at_most) {
  if (auto sound = check_database(txn_, kSnapshotsDb, dbs_.snapshots, 0); !sound)
    return sound.error();
  auto cursor = lmdb::Cursor::open(txn_, dbs_.snapshots);
  if (!cursor) return cursor.error();
  MDB_val key = lmdb::seq_key(at_most);
  MDB_val value{};
  auto found = cursor->get(key, value, MDB_SET_RANGE);
  if (!found) return found.error();
  std::uint64_t seq = 0;
  if (*found && key.mv_size == sizeof seq) std::memcpy(&seq, key.mv_data, sizeof seq);
  if (!*found || seq != at_most) {
    found = cursor->get(key, value, *found ? MDB_PREV : MDB_LAST);
    if (!found) return found.error();
    if (!*found) return std::optional<StoredSnapshot>();
    if (key.mv_size != sizeof seq) return std::optional<StoredSnapshot>();
    std::memcpy(&seq, key.mv_data, sizeof seq);
  }
  return std::optional<StoredSnapshot>(StoredSnapshot{seq, lmdb::to_view(value)});
}

Result<std::vector<std::uint64_t>> Reader::snapshot_seqs() {
  if (auto sound = check_database(txn_, kSnapshotsDb, dbs_.snapshots, 0); !sound)
    return sound.error();
  auto cursor = lmdb::Cursor::open(txn_, dbs_.snapshots);
  if (!cursor) return cursor.error();
  std::vector<std::uint64_t> seqs;
  auto walked = cursor->each([&](const MDB_val& key, const MDB_val&) -> Result<void> {
    std::uint64_t seq = 0;
    if (key.mv_size == sizeof seq) std::memcpy(&seq, key.mv_data, sizeof seq);
    seqs.push_back(seq);
    return {};
  });
  if (!walked) return walked.error();
  return seqs;
}

Result<std::optional<RequestRecord>> Reader::request(std::string_view request_id) {
  auto value = txn_.get(dbs_.requests, lmdb::to_val(request_id));
  if (!value) return value.error();
  if (!*value) return std::optional<RequestRecord>();
  const std::string_view v = **value;
  if (v.size() != kRequestRecordSize || v[0] != 1) {
    return make_error(Errc::corrupt_meta, "malformed record for request id '" +
                                              std::string(request_id.substr(0, 64)) + "'");
  }
  RequestRecord r;
  r.first_seq = load_le<std::uint64_t>(v.data() + 1);
  r.last_seq = load_le<std::uint64_t>(v.data() + 9);
  r.already_at = load_le<std::uint64_t>(v.data() + 17);
  r.fingerprint = load_le<std::uint32_t>(v.data() + 25);
  return std::optional<RequestRecord>(r);
}

Result<std::uint64_t> Reader::request_count() {
  MDB_stat stat{};
  if (const int rc = mdb_stat(txn_.get(), dbs_.requests, &stat); rc != 0) {
    return lmdb::error("stat of the requests database", rc);
  }
  return std::uint64_t{stat.ms_entries};
}

namespace {

std::string request_value(const RequestRecord& r) {
  std::string v(1, '\x01');
  put_le(v, r.first_seq);
  put_le(v, r.last_seq);
  put_le(v, r.already_at);
  put_le(v, r.fingerprint);
  return v;
}

std::string order_value(std::uint64_t stored_ns, std::string_view request_id) {
  std::string v;
  put_le(v, stored_ns);
  v.append(request_id);
  return v;
}

}  // namespace

Result<std::uint64_t> WriteTxn::next_request_order() {
  auto last = lmdb::last_seq_key(txn_, dbs_.request_order, Errc::corrupt_meta, "request_order");
  if (!last) return last.error();
  return last->value_or(0) + 1;
}

Result<void> WriteTxn::put_request(std::string_view request_id, const RequestRecord& r,
                                   std::uint64_t stored_ns) {
  if (auto ok = check_request_id(request_id); !ok) return ok.error();
  auto existing = txn_.get(dbs_.requests, lmdb::to_val(request_id));
  if (!existing) return existing.error();
  if (*existing) {
    return make_error(Errc::invalid_argument,
                      "request_id '" + std::string(request_id) + "' is already stored");
  }
  if (stored_ns == 0) stored_ns = wall_clock_ns();
  const std::string v = request_value(r);
  if (auto ok = txn_.put(dbs_.requests, lmdb::to_val(request_id), lmdb::to_val(v)); !ok) return ok;
  auto order = next_request_order();
  if (!order) return order.error();
  const std::string entry = order_value(stored_ns, request_id);
  if (auto ok =
          txn_.put(dbs_.request_order, lmdb::seq_key(*order), lmdb::to_val(entry), MDB_APPEND);
      !ok) {
    return ok;
  }
  MDB_stat stat{};
  if (const int rc = mdb_stat(txn_.get(), dbs_.request_order, &stat); rc != 0) {
    return txn_.fail("stat of the request_order database", rc);
  }
  // Oldest first; the id just stored is the newest and always stays.
  const std::uint64_t floor =
      stat.ms_entries > kMaxPrunedPerStore ? stat.ms_entries - kMaxPrunedPerStore : 0;
  auto cursor = lmdb::Cursor::open(txn_, dbs_.request_order);
  if (!cursor) return cursor.error();
  for (std::uint64_t held = stat.ms_entries; held > 1 && held > floor; --held) {
    MDB_val key{}, value{};
    auto found = cursor->get(key, value, MDB_FIRST);
    if (!found) return found.error();
    if (!*found) break;
    std::uint64_t oldest = 0;
    if (key.mv_size != sizeof oldest || value.mv_size < 8) {
      return make_error(Errc::corrupt_meta, "malformed entry in the request_order database");
    }
    std::memcpy(&oldest, key.mv_data, sizeof oldest);
    const std::string_view entry_bytes = lmdb::to_view(value);
    if (!outside_window(window_, held, load_le<std::uint64_t>(entry_bytes.data()), stored_ns)) {
      break;
    }
    // Copied: the deletes below may move the page the entry lies on.
    const std::string id(entry_bytes.substr(8));
    if (auto gone = txn_.del(dbs_.requests, lmdb::to_val(id)); !gone) return gone.error();
    if (auto gone = txn_.del(dbs_.request_order, lmdb::seq_key(oldest)); !gone) {
      return gone.error();
    }
  }
  return {};
}

Result<void> WriteTxn::order_requests(std::uint64_t stored_ns) {
  // The ids the order already holds; entries whose id is gone are dropped.
  std::unordered_set<std::string> ordered;
  std::vector<std::uint64_t> dangling;
  {
    auto cursor = lmdb::Cursor::open(txn_, dbs_.request_order);
    if (!cursor) return cursor.error();
    auto walked = cursor->each([&](const MDB_val& key, const MDB_val& value) -> Result<void> {
      if (key.mv_size != sizeof(std::uint64_t) || value.mv_size < 8) {
        return make_error(Errc::corrupt_meta, "malformed entry in the request_order database");
      }
      std::uint64_t order;
      std::memcpy(&order, key.mv_data, sizeof order);
      const std::string id(lmdb::to_view(value).substr(8));
      auto stored = txn_.get(dbs_.requests, lmdb::to_val(id));
      if (!stored) return stored.error();
      if (*stored && ordered.insert(id).second) return {};
      dangling.push_back(order);
      return {};
    });
    if (!walked) return walked;
  }
  for (std::uint64_t order : dangling) {
    if (auto gone = txn_.del(dbs_.request_order, lmdb::seq_key(order)); !gone) return gone.error();
  }
  // The seq a request's outcome names tells roughly when it was stored.
  std::vector<std::pair<std::uint64_t, std::string>> unordered;
  {
    auto cursor = lmdb::Cursor::open(txn_, dbs_.requests);
    if (!cursor) return cursor.error();
    auto walked = cursor->each([&](const MDB_val& key, const MDB_val&) -> Result<void> {
      std::string id(lmdb::to_view(key));
      if (ordered.contains(id)) return {};
      unordered.emplace_back(0, std::move(id));
      return {};
    });
    if (!walked) return walked;
  }
  for (auto& [seq, id] : unordered) {
    auto record = request(id);
    if (record) {
      seq = std::max((*record)->last_seq, (*record)->already_at);
    } else if (record.error().code != Errc::corrupt_meta) {
      return record.error();
    }  // a malformed record goes first: its seqs cannot be read
  }
  std::sort(unordered.begin(), unordered.end());
  auto next = next_request_order();
  if (!next) return next.error();
  for (const auto& [seq, id] : unordered) {
    const std::string entry = order_value(stored_ns, id);
    if (auto ok =
            txn_.put(dbs_.request_order, lmdb::seq_key((*next)++), lmdb::to_val(entry), MDB_APPEND);
        !ok) {
      return ok;
    }
  }
  return {};
}

Result<ChainPoint> Reader::chain_head() {
  auto value = txn_.get(dbs_.meta, lmdb::to_val(kMetaChainHead));
  if (!value) return value.error();
  if (!*value || (*value)->size() != 8 + 32) {
    return make_error(Errc::corrupt_meta, "meta key 'chain_head' is missing or malformed");
  }
  ChainPoint point;
  point.seq = load_le<std::uint64_t>((*value)->data());
  std::memcpy(point.value.data(), (*value)->data() + 8, 32);
  return point;
}

Result<std::optional<ChainHash>> Reader::chain_checkpoint(std::uint64_t seq) {
  if (auto sound = check_database(txn_, kChainDb, dbs_.chain, seq, seq); !sound) {
    return sound.error();
  }
  auto value = txn_.get(dbs_.chain, lmdb::seq_key(seq));
  if (!value) return value.error();
  if (!*value) return std::optional<ChainHash>();
  if ((*value)->size() != 32) {
    return make_error(Errc::corrupt_meta,
                      "chain checkpoint at seq " + std::to_string(seq) + " is malformed", seq);
  }
  ChainHash h;
  std::memcpy(h.data(), (*value)->data(), 32);
  return std::optional<ChainHash>(h);
}

Result<void> WriteTxn::start() {
  auto head = chain_head();
  if (!head) return head.error();
  if (head->seq != head_) {
    return make_error(Errc::corrupt_meta,
                      "the stored chain head is at seq " + std::to_string(head->seq) +
                          " but the journal's head is seq " + std::to_string(head_),
                      head_);
  }
  chain_ = head->value;
  return {};
}

Result<void> WriteTxn::finish() {
  if (!appended_) return {};
  std::string value;
  put_le(value, head_);
  value.append(reinterpret_cast<const char*>(chain_.data()), chain_.size());
  return txn_.put(dbs_.meta, lmdb::to_val(kMetaChainHead), lmdb::to_val(value));
}

Result<std::uint64_t> WriteTxn::append(const EventView& e) {
  if (auto ok = validate(e); !ok) return ok.error();
  buffer_.clear();
  encode(e, buffer_);
  const std::uint64_t seq = head_ + 1;
  if (auto ok = txn_.put(dbs_.events, lmdb::seq_key(seq), lmdb::to_val(buffer_), MDB_APPEND); !ok) {
    return ok.error();
  }
  chain_ = chain_next(chain_, seq, buffer_);
  if (seq % kChainCheckpointEvery == 0) {
    const std::string_view value(reinterpret_cast<const char*>(chain_.data()), chain_.size());
    if (auto ok = txn_.put(dbs_.chain, lmdb::seq_key(seq), lmdb::to_val(value)); !ok) {
      return ok.error();
    }
  }
  head_ = seq;
  appended_ = true;
  return seq;
}

Result<void> WriteTxn::put_snapshot(std::uint64_t seq, std::string_view blob, std::size_t keep) {
  if (auto ok = txn_.put(dbs_.snapshots, lmdb::seq_key(seq), lmdb::to_val(blob)); !ok) return ok;
  auto seqs = snapshot_seqs();
  if (!seqs) return seqs.error();
  for (std::size_t i = 0; i + keep < seqs->size(); ++i) {
    if (auto ok = txn_.del(dbs_.snapshots, lmdb::seq_key((*seqs)[i])); !ok) return ok.error();
  }
  return {};
}

// --- Journal -----------------------------------------------------------------

Journal::Journal(std::unique_ptr<State> state) : state_(std::move(state)) {}
Journal::Journal(Journal&&) noexcept = default;
Journal& Journal::operator=(Journal&&) noexcept = default;
Journal::~Journal() = default;

const JournalInfo& Journal::info() const noexcept {
  return state_->info;
}
const JournalOptions& Journal::options() const noexcept {
  return state_->options;
}
std::size_t Journal::map_size() const {
  return state_->env.map_size();
}

Result<std::optional<OldestReader>> Journal::oldest_reader() const {
  // A dead process's slot is not a reader: cleared, not reported.
  if (auto cleared = state_->env.clear_stale_readers(); !cleared) return cleared.error();
  // The last id first: a reader that begins in between is then at most as
  // new as it, never reported with a lag that wrapped around.
  auto last = state_->env.last_txnid();
  if (!last) return last.error();
  auto slot = state_->env.oldest_reader();
  if (!slot) return slot.error();
  if (!*slot) return std::optional<OldestReader>{};
  const std::uint64_t lag = *last > (*slot)->txnid ? *last - (*slot)->txnid : 0;
  return std::optional<OldestReader>{OldestReader{(*slot)->pid, (*slot)->txnid, lag}};
}

bool Journal::interrupted_init(const std::string& dir) {
  // A journal this process holds open is not an interrupted init, and
  // opening its environment again to look would drop the locks
  // (open_claim.h): the look holds the claim, so that no open starts during it.
  auto claim = OpenClaim::take(dir);
  return claim && looks_interrupted(dir);
}

bool Journal::looks_interrupted(const std::string& dir) {
  std::error_code ec;
  const fs::path data = fs::path(dir) / "data.mdb";
  if (!fs::is_regular_file(data, ec)) return false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename();
    if (name != "data.mdb" && name != "lock.mdb") return false;
  }
  if (fs::file_size(data, ec) == 0 && !ec) return true;  // killed before LMDB wrote a page
  // Without a lock file no writer can be running; looking must not create one.
  const unsigned flags =
      MDB_RDONLY | (fs::exists(fs::path(dir) / "lock.mdb", ec) ? 0U : unsigned{MDB_NOLOCK});
  auto env = lmdb::Env::open(dir, lmdb::EnvOptions{.flags = flags});
  if (!env) return false;
  auto txn = lmdb::Txn::begin(*env, MDB_RDONLY);
  if (!txn) return false;
  MDB_stat stat{};
  // The init transaction creates the named databases and the meta keys at
  // once: an environment with an empty main database never committed it.
  return mdb_stat(txn->get(), 1 /* MAIN_DBI */, &stat) == 0 && stat.ms_entries == 0;
}

namespace {

// The files of a new journal in `dir` (which exists and is empty): the
// environment, the named databases and the meta keys in one commit, then the
// directories that hold new names synced.
Result<void> write_new_journal(const std::string& dir, const JournalOptions& options,
                               const std::vector<fs::path>& new_entries_in) {
  {
    lmdb::EnvOptions env_options{.flags = env_flags(options), .map_size = first_map_size(options)};
    auto env = lmdb::Env::open(dir, env_options);
    if (!env) return env.error();
    auto txn = lmdb::Txn::begin(*env, 0);
    if (!txn) return txn.error();
    auto events = txn->open_db(kEventsDb, MDB_CREATE | MDB_INTEGERKEY);
    auto meta = txn->open_db(kMetaDb, MDB_CREATE);
    auto snapshots = txn->open_db(kSnapshotsDb, MDB_CREATE | MDB_INTEGERKEY);
    auto requests = txn->open_db(kRequestsDb, MDB_CREATE);
    auto chain = txn->open_db(kChainDb, MDB_CREATE | MDB_INTEGERKEY);
    auto request_order = txn->open_db(kRequestOrderDb, MDB_CREATE | MDB_INTEGERKEY);
    if (!events) return events.error();
    if (!meta) return meta.error();
    if (!snapshots) return snapshots.error();
    if (!requests) return requests.error();
    if (!chain) return chain.error();
    if (!request_order) return request_order.error();
    const char version = static_cast<char>(kFormatVersion);
    const std::string journal_id = random_id();
    const ChainHash seed = chain_seed(journal_id);
    const std::string chain_head =
        u64_le(0) + std::string(reinterpret_cast<const char*>(seed.data()), seed.size());
    for (auto [key, value] : {std::pair<std::string_view, std::string>{kMetaMagic, kMagic},
                              {kMetaFormat, std::string(1, version)},
                              {kMetaJournalId, journal_id},
                              {kMetaCreated, u64_le(wall_clock_ns())},
                              {kMetaChainHead, chain_head}}) {
      if (auto ok = put_meta(*txn, *meta, key, value); !ok) return ok.error();
    }
    int commit_rc = 0;
    if (auto ok = txn->commit(&commit_rc); !ok) {
      return commit_rc != 0 ? commit_error(dir, commit_rc) : ok.error();
    }
  }
  // LMDB syncs data.mdb's contents, never its name: without this a power
  // loss may leave the directory without the journal whose commits were
  // all acknowledged.
  if (options.sync != SyncMode::none) {
    for (const fs::path& d : new_entries_in) {
      if (auto ok = sync_directory(d.string()); !ok) return ok.error();
    }
  }
  return {};
}

}  // namespace

Result<Journal> Journal::create(const std::string& dir, const JournalOptions& options) {
  if (auto ok = check_linked_lmdb(); !ok) return ok.error();
  if (options.read_only) {
    return make_error(Errc::invalid_argument,
                      "cannot create journal " + dir + " read-only: a new journal is written");
  }
  auto claim = OpenClaim::take(dir);  // empty while `dir` does not exist
  if (!claim) return claim.error();
  std::error_code ec;
  const bool resume = looks_interrupted(dir);
  // The directories whose entries this create adds to: data.mdb's, and the
  // parent of each directory it creates; and those it creates, deepest first.
  std::vector<fs::path> new_entries_in;
  std::vector<fs::path> missing_dirs;
  {
    fs::path path = fs::absolute(fs::path(dir), ec).lexically_normal();
    if (!path.has_filename()) path = path.parent_path();
    new_entries_in.push_back(path);
    for (; !path.empty() && path != path.root_path() && !fs::exists(path, ec);
         path = path.parent_path()) {
      missing_dirs.push_back(path);
      new_entries_in.push_back(path.parent_path());
    }
  }
  std::vector<fs::path> made_dirs;
  if (!resume && fs::exists(fs::path(dir) / "data.mdb", ec)) {
    return make_error(Errc::already_a_journal, dir + " already holds a journal");
  }
  if (resume) {
    // A create killed before its first commit left an empty environment.
    fs::remove(fs::path(dir) / "data.mdb", ec);
    fs::remove(fs::path(dir) / "lock.mdb", ec);
  } else if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return make_error(Errc::invalid_argument, dir + " exists and is not a directory");
    }
    if (!fs::is_empty(dir, ec)) {
      return make_error(Errc::invalid_argument,
                        dir + " is not empty; a journal needs a directory of its own");
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) return errno_error("cannot create " + dir, ec.value());
    fs::permissions(dir, fs::perms::owner_all, ec);
    made_dirs = std::move(missing_dirs);
    // Claimed before the environment is made: an open of `dir` on another
    // thread meanwhile must not share it.
    claim = OpenClaim::take(dir);
    if (!claim) {
      for (const fs::path& made : made_dirs) fs::remove(made, ec);
      return claim.error();
    }
  }
  if (auto written = write_new_journal(dir, options, new_entries_in); !written) {
    // A refused init leaves nothing behind: without this a disk that filled
    // mid-create left a data.mdb that nothing can open and that every later
    // init refuses as "already holds a journal". What is removed was made
    // here: the directory was empty or missing (or held only what an
    // interrupted init left, removed above).
    fs::remove(fs::path(dir) / "data.mdb", ec);
    fs::remove(fs::path(dir) / "lock.mdb", ec);
    for (const fs::path& made : made_dirs) fs::remove(made, ec);
    return written.error();
  }
  return open_claimed(dir, options, std::move(*claim));
}

Result<Journal> Journal::open(const std::string& dir, const JournalOptions& options) {
  if (auto ok = check_linked_lmdb(); !ok) return ok.error();
  auto claim = OpenClaim::take(dir);
  if (!claim) return claim.error();
  return open_claimed(dir, options, std::move(*claim));
}

Result<Journal> Journal::open_claimed(const std::string& dir, const JournalOptions& options,
                                      OpenClaim claim) {
  // LMDB creates lock.mdb before it reads data.mdb; if this open fails, remove
  // a lock file it created so that a refused open leaves nothing behind.
  std::error_code ec;
  const fs::path lock = fs::path(dir) / "lock.mdb";
  const bool had_lock = fs::exists(lock, ec);
  auto opened = open_existing(dir, options, std::move(claim));
  // Only for a directory that is not a journal: no journal user can be
  // sharing that lock file.
  if (!opened && !had_lock && opened.error().code == Errc::not_a_journal) fs::remove(lock, ec);
  return opened;
}

Result<Journal> Journal::open_existing(const std::string& dir, const JournalOptions& options,
                                       OpenClaim claim) {
  std::error_code ec;
  // A directory the process may not read is not a missing journal: saying
  // "no journal" would send the user to create one.
  const fs::file_status dir_status = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return errno_error("cannot open " + dir, ec.value());
  }
  if (!fs::exists(dir_status)) {
    return make_error(Errc::not_a_journal, "no journal at " + dir + ": no such directory");
  }
  if (!fs::is_directory(dir_status)) {
    return make_error(Errc::not_a_journal,
                      "no journal at " + dir + ": it is a file, not a directory");
  }
  const fs::path data = fs::path(dir) / "data.mdb";
  const fs::file_status data_status = fs::status(data, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return errno_error("cannot open " + data.string(), ec.value());
  }
  if (!fs::exists(data_status)) {
    const bool empty = fs::is_empty(dir, ec);
    if (ec) return errno_error("cannot list " + dir, ec.value());
    return make_error(Errc::not_a_journal,
                      "no journal at " + dir +
                          (empty ? " (create one with 'forkjournal init')"
                                 : ": the directory holds other files and no data.mdb"));
  }
  if (!fs::is_regular_file(data_status)) {
    return make_error(Errc::not_a_journal,
                      "no journal at " + dir + ": data.mdb is not a regular file");
  }
  // LMDB reports an empty file as a bad descriptor; it is what a create
  // killed before LMDB wrote a page leaves (interrupted_init).
  if (fs::file_size(data, ec) == 0 && !ec) {
    return make_error(Errc::not_a_journal,
                      "no journal at " + dir +
                          ": data.mdb is empty (a create that did not finish; 'forkjournal "
                          "init' completes it)");
  }
  lmdb::EnvOptions env_options{.flags = env_flags(options), .map_size = first_map_size(options)};
  // Without a lock file no writer can be running; reading must not create one.
  if (options.read_only && !fs::exists(fs::path(dir) / "lock.mdb", ec)) {
    env_options.flags |= MDB_NOLOCK;
  }
  int rc = 0;
  auto env = lmdb::Env::open(dir, env_options, &rc);
  if (rc == EACCES) {
    if (const std::string refused = refused_file(dir, options.read_only); !refused.empty()) {
      return errno_error("cannot open journal " + dir + ": " + refused +
                             " (a journal's files belong to the user that writes it)",
                         rc);
    }
  }
  if (rc == MDB_INVALID) {
    return make_error(Errc::not_a_journal,
                      "no journal at " + dir + ": data.mdb is not an LMDB file");
  }
  if (!env) return env.error();
  if (!options.read_only) {
    if (auto cleared = env->clear_stale_readers(); !cleared) return cleared.error();
  }
  // LMDB maps the file and would fault (SIGBUS) on a page past its end.
  {
    MDB_envinfo info{};
    MDB_stat stat{};
    mdb_env_info(env->get(), &info);
    mdb_env_stat(env->get(), &stat);
    const auto needed = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
    const auto size = fs::file_size(fs::path(dir) / "data.mdb", ec);
    if (!ec && size < needed) {
      return make_error(Errc::corrupt_meta,
                        "journal " + dir + ": data.mdb is truncated (" + std::to_string(size) +
                            " bytes, the last page in use ends at " + std::to_string(needed) + ")");
    }
    // Refused before anything reads or writes: LMDB may have picked the
    // state before the last commit, and a commit would make that permanent.
    int fd = -1;
    if (const int got = mdb_env_get_fd(env->get(), &fd); got != 0) {
      return lmdb::error("mdb_env_get_fd", got);
    }
    auto meta_pages = lmdb::check_meta_pages(fd, stat.ms_psize);
    if (!meta_pages) return meta_pages.error();
    if (*meta_pages) {
      return make_error(Errc::corrupt_meta,
                        "journal " + dir + ": data.mdb's meta page is damaged (" + **meta_pages +
                            ", where LMDB keeps an even id in page 0 and the odd one next to it "
                            "in page 1; or a power loss hit it in --sync none mode); the "
                            "newest commits may be hidden, so nothing is read or written: "
                            "restore from a backup");
    }
  }

  auto state = std::make_unique<State>(std::move(claim), std::move(*env), options);
  state->info.path = dir;
  auto txn = lmdb::Txn::begin(state->env, MDB_RDONLY);
  if (!txn) return txn.error();
  {
    int fd = -1;
    if (const int got = mdb_env_get_fd(state->env.get(), &fd); got != 0) {
      return lmdb::error("mdb_env_get_fd", got);
    }
    MDB_stat stat{};
    mdb_env_stat(state->env.get(), &stat);
    auto directory = lmdb::check_directory(*txn, fd, stat.ms_psize, kMetaDb);
    if (!directory) return directory.error();
    if (*directory) {
      return make_error(Errc::corrupt_page, "journal " + dir +
                                                ": data.mdb is damaged where the journal keeps "
                                                "its own records (" +
                                                (*directory)->what + ")");
    }
  }
  auto meta = txn->open_db(kMetaDb, 0);
  if (!meta) {
    return make_error(Errc::not_a_journal,
                      dir + " is an LMDB environment but not a forkjournal journal");
  }
  auto get = [&](std::string_view key) -> Result<std::string_view> {
    auto value = txn->get(*meta, lmdb::to_val(key));
    if (!value) return value.error();
    if (!*value) {
      return make_error(Errc::corrupt_meta,
                        "journal " + dir + ": meta key '" + std::string(key) + "' is missing");
    }
    return **value;
  };
  auto magic = get(kMetaMagic);
  if (!magic || *magic != kMagic) {
    return make_error(Errc::not_a_journal, dir + " is not a forkjournal journal (bad magic)");
  }
  auto format = get(kMetaFormat);
  if (!format) return format.error();
  if (format->size() != 1)
    return make_error(Errc::corrupt_meta, "journal " + dir + ": bad format_version");
  const auto version = static_cast<std::uint8_t>((*format)[0]);
  if (version != kFormatVersion) {
    return make_error(Errc::unknown_version,
                      "journal " + dir + " has format version " + std::to_string(version) +
                          "; this build reads version " + std::to_string(kFormatVersion));
  }
  auto id = get(kMetaJournalId);
  auto created = get(kMetaCreated);
  if (!id) return id.error();
  if (!created) return created.error();
  if (created->size() != 8)
    return make_error(Errc::corrupt_meta, "journal " + dir + ": bad created_ns");
  state->info.format_version = version;
  state->info.journal_id = std::string(*id);
  state->info.created_ns = load_le<std::uint64_t>(created->data());
  auto events = txn->open_db(kEventsDb, MDB_INTEGERKEY);
  auto snapshots = txn->open_db(kSnapshotsDb, MDB_INTEGERKEY);
  auto requests = txn->open_db(kRequestsDb, 0);
  auto chain = txn->open_db(kChainDb, MDB_INTEGERKEY);
  if (!events) return events.error();
  if (!snapshots) return snapshots.error();
  if (!requests) return requests.error();
  if (!chain) return chain.error();
  state->dbs = JournalDbs{*events, *meta, *snapshots, *requests, *chain};
  // Ordered when every stored id has its order entry: else (a journal last
  // written by an older build) a writer orders them once the read
  // transaction is over.
  bool ordered = false;
  if (auto order = txn->open_db(kRequestOrderDb, MDB_INTEGERKEY); order) {
    state->dbs.request_order = *order;
    MDB_stat in_requests{}, in_order{};
    ordered = mdb_stat(txn->get(), *requests, &in_requests) == 0 &&
              mdb_stat(txn->get(), *order, &in_order) == 0 &&
              in_requests.ms_entries == in_order.ms_entries;
  }
  if (!options.read_only) {
    // A writer walks the free list with a cursor when it allocates pages.
    auto damage = lmdb::check_free_list(*txn, kEventsDb);
    if (!damage) return damage.error();
    if (*damage) {
      return make_error(Errc::corrupt_page,
                        "journal " + dir + ": LMDB's free-page list is damaged (" +
                            (*damage)->what + "); it can still be read (opened read-only)");
    }
    // A writer looks request ids up and prunes the oldest: LMDB would read
    // those pages unchecked. Bounded by the request window (100,000 ids by
    // default).
    auto requests_damage = lmdb::check_text_tree(*txn, kRequestsDb, *requests);
    if (!requests_damage) return requests_damage.error();
    if (!*requests_damage && state->dbs.request_order != 0) {
      requests_damage = lmdb::check_tree(*txn, kRequestOrderDb, state->dbs.request_order);
      if (!requests_damage) return requests_damage.error();
    }
    if (*requests_damage) {
      return make_error(Errc::corrupt_page,
                        "journal " + dir + ": the stored request ids are damaged (" +
                            (*requests_damage)->what +
                            "); the events can still be read (opened read-only)");
    }
  }
  // Committing the read transaction keeps the database handles open.
  if (auto ok = txn->commit(); !ok) return ok.error();
  Journal journal(std::move(state));
  if (!options.read_only && !ordered) {
    if (auto ok = journal.order_requests(); !ok) return ok.error();
  }
  return journal;
}

Result<void> Journal::order_requests() {
  const std::uint64_t now = wall_clock_ns();
  return write_impl([&](WriteTxn& w) -> Result<void> {
    auto order = w.txn_.open_db(kRequestOrderDb, MDB_CREATE | MDB_INTEGERKEY);
    if (!order) return order.error();
    state_->dbs.request_order = *order;
    return w.order_requests(now);
  });
}

Result<std::uint64_t> Journal::head() const {
  return read([](Reader& r) { return r.head(); });
}

Result<std::uint64_t> Journal::file_size() const {
  struct stat st {};
  const std::string path = state_->info.path + "/data.mdb";
  if (::stat(path.c_str(), &st) != 0) return errno_error("stat " + path, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

namespace {

// Begins a transaction with `lock` (shared) held. When another process grew
// the map (MDB_MAP_RESIZED), adopts its size, which LMDB allows only while
// this process has no transaction: `lock` is dropped for that and retaken.
Result<lmdb::Txn> begin_txn(lmdb::Env& env, std::shared_mutex& resize,
                            std::shared_lock<std::shared_mutex>& lock, unsigned flags) {
  for (;;) {
    lock = std::shared_lock(resize);
    int rc = 0;
    auto txn = lmdb::Txn::begin(env, flags, &rc);
    if (rc != MDB_MAP_RESIZED) return txn;
    lock.unlock();
    std::unique_lock grow(resize);
    if (auto ok = env.set_map_size(0); !ok) return ok.error();
  }
}

}  // namespace

Result<void> Journal::read_impl(const std::function<Result<void>(Reader&)>& fn) const {
  std::shared_lock<std::shared_mutex> lock;
  auto txn = begin_txn(state_->env, state_->resize, lock, MDB_RDONLY);
  if (!txn) return txn.error();
  Reader reader(*txn, state_->dbs);
  return fn(reader);  // the read transaction ends with `txn`
}

Result<void> Journal::write_impl(const std::function<Result<void>(WriteTxn&)>& fn) {
  if (state_->options.read_only) {
    return make_error(Errc::invalid_argument,
                      "journal " + state_->info.path + " is open read-only");
  }
  // A process killed inside a read transaction keeps its reader slot until
  // someone clears it, and while it stays LMDB reuses no page freed after
  // that transaction began: the file grows with every commit. Clearing at
  // open only would leave a long-running writer (the daemon) growing until
  // its restart. A scan of the slot table and one lock test per other
  // process holding a slot; a failure to clear leaves the slot as before.
  (void)state_->env.clear_stale_readers();
  for (;;) {
    std::shared_lock<std::shared_mutex> lock;
    auto txn = begin_txn(state_->env, state_->resize, lock, 0);
    if (!txn) return txn.error();
    Result<void> result;
    {
      Reader reader(*txn, state_->dbs);
      auto head = reader.head();
      if (!head) return head.error();
      WriteTxn w(*txn, state_->dbs, *head, state_->options.requests);
      result = w.start();
      if (result) result = fn(w);
      if (result) result = w.finish();
    }
    int commit_rc = 0;
    if (result) result = txn->commit(&commit_rc);
    if (result) return {};
    const bool map_full = txn->failure_rc() == MDB_MAP_FULL || commit_rc == MDB_MAP_FULL;
    txn->abort();
    if (!map_full && commit_rc != 0) return commit_error(state_->info.path, commit_rc);
    if (!map_full) return result;

    lock.unlock();
    std::unique_lock grow(state_->resize);
    const std::size_t current = state_->env.map_size();
    const std::size_t limit = state_->options.max_map_size;
    if (limit != 0 && current >= limit) {
      return make_error(Errc::journal_full, "journal " + state_->info.path +
                                                " is full: the map reached its maximum of " +
                                                std::to_string(limit) + " bytes");
    }
    const std::size_t next = limit != 0 ? std::min(current * 2, limit) : current * 2;
    if (auto ok = state_->env.set_map_size(next); !ok) return ok;
  }
}

Result<std::uint64_t> Journal::copy_to(const std::string& dir) const {
  const std::string file = (fs::path(dir) / "data.mdb").string();
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("cannot create the copy " + file, errno);
  auto copied = [&]() -> Result<std::uint64_t> {
    for (;;) {
      int rc = 0;
      {
        // The copy's read transaction counts as one of this process's, which
        // a map resize must wait for.
        std::shared_lock lock(state_->resize);
        rc = mdb_env_copyfd2(state_->env.get(), fd, MDB_CP_COMPACT);
      }
      if (rc == 0) break;
      if (rc != MDB_MAP_RESIZED) return lmdb::error("copy of journal " + state_->info.path, rc);
      // Another process grew the map: adopt its size and copy again from the
      // start of the file.
      std::unique_lock grow(state_->resize);
      if (auto ok = state_->env.set_map_size(0); !ok) return ok.error();
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
        return errno_error("cannot rewind the copy " + file, errno);
      }
    }
    int rc = 0;
    while ((rc = ::fsync(fd)) != 0 && errno == EINTR) {
    }
    if (rc != 0) return errno_error("cannot sync the copy " + file, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno_error("cannot stat the copy " + file, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }();
  if (::close(fd) != 0 && copied) copied = errno_error("cannot close the copy " + file, errno);
  if (copied) {
    if (auto synced = sync_directory(dir); !synced) copied = synced.error();
  }
  if (!copied) ::unlink(file.c_str());
  return copied;
}

Result<AppendResult> Journal::append(std::span<const EventView> events,
                                     std::optional<std::uint64_t> expected_head) {
  return write([&](WriteTxn& w) -> Result<AppendResult> {
    auto head = w.head();
    if (!head) return head.error();
    if (expected_head && *expected_head != *head) {
      return make_error(Errc::head_moved, "expected the journal head at seq " +
                                              std::to_string(*expected_head) + ", it is at seq " +
                                              std::to_string(*head));
    }
    AppendResult result;
    for (const EventView& e : events) {
      auto seq = w.append(e);
      if (!seq) return seq.error();
      if (result.first_seq == 0) result.first_seq = *seq;
      result.last_seq = *seq;
    }
    return result;
  });
}

}  // namespace fj
