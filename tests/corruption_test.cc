// Fault injection on copies of a real journal (LevelDB's corruption_test in
// spirit): storage-level damage to data.mdb (a flipped byte, truncation, a
// zeroed page, a rolled-back meta page) and record-level damage through raw
// LMDB handles (a deleted record, a record copied over another). For each,
// the journal must give a typed error, an audit finding, or an earlier
// consistent state; a projection that differs from the original's at the same
// seq must never be served without one of the first two. Each probe runs in a
// child process, so a crash (SIGBUS on a truncated map) is reported as a
// failure instead of ending the test run.
//
// Also: a maximum map size (journal_full) and a full disk (RLIMIT_FSIZE),
// neither of which may lose an acknowledged event or stop reads; a crash
// inside Journal::create; and a reader killed inside a read transaction,
// whose slot a writer's open must clear so the file stops growing.
#include "journal/codec.h"
#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"
#include "journal/journal.h"
#include "projector/audit.h"
#include "projector/ledger.h"
#include "support/event_samples.h"
#include "support/journal_reader.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>

namespace fj {
namespace {

namespace fs = std::filesystem;
using testing::read_all;
using testing::TempDir;

// --- the original journal ---------------------------------------------------

// Events in the original: crosses a chain checkpoint (4096) and holds several
// snapshots, the newest two kept.
constexpr std::uint64_t kOriginalEvents = 5000;
// The last write transaction of the original appends this many events, so a
// rolled-back meta page shows the head this many seqs earlier.
constexpr std::uint64_t kLastBatch = 5;

struct Original {
  TempDir dir;
  std::uint64_t head = 0;
  std::vector<std::uint64_t> snapshots;
};

// A realistic history: templates come and go, forks churn, snapshots every
// 700 commands, then one batch of kLastBatch forks in one transaction.
void build_original(Original& o) {
  auto j = Journal::create(o.dir.path(), JournalOptions{.sync = SyncMode::none});
  ASSERT_TRUE(j) << j.error().message;
  std::uint64_t clock = 1'700'000'000'000'000'000ull;
  auto ledger = Ledger::open(*j, [&clock] { return ++clock; });
  ASSERT_TRUE(ledger);
  std::mt19937 rng(42);
  std::vector<std::pair<std::string, std::string>> live;
  int commands = 0;
  while (*j->head() < kOriginalEvents - kLastBatch) {
    const std::string tpl = "tpl" + std::to_string(rng() % 12);
    Command c;
    const unsigned roll = rng() % 20;
    if (roll == 0) {
      c = RegisterTemplate{tpl + "g" + std::to_string(commands / 500), "src-" + tpl, "web"};
    } else if (roll == 1) {
      c = RetireTemplate{tpl + "g" + std::to_string(rng() % 10)};
    } else if (roll < 12 || live.empty()) {
      c = AddFork{tpl + "g" + std::to_string(commands / 500), "frk" + std::to_string(commands)};
    } else {
      const std::size_t pick = rng() % live.size();
      c = RemoveFork{live[pick].first, live[pick].second};
    }
    auto out = ledger->execute(c, Origin::api);
    if (out && std::holds_alternative<AddFork>(c)) {
      live.emplace_back(std::get<AddFork>(c).template_id, std::get<AddFork>(c).fork);
    } else if (out && std::holds_alternative<RemoveFork>(c)) {
      std::erase(live,
                 std::pair{std::get<RemoveFork>(c).template_id, std::get<RemoveFork>(c).fork});
    }
    if (++commands % 700 == 0) {
      ASSERT_TRUE(ledger->snapshot());
    }
  }
  std::vector<Request> batch;
  for (std::uint64_t i = 0; i < kLastBatch; ++i) {
    batch.push_back(Request{AddFork{live.front().first, "last" + std::to_string(i)}, ""});
  }
  auto done = ledger->execute_batch(batch, Origin::api);
  ASSERT_TRUE(done);
  for (const auto& r : *done) ASSERT_TRUE(r);
  o.head = *j->head();
  ASSERT_EQ(o.head, kOriginalEvents);
  o.snapshots = *j->read([](Reader& r) { return r.snapshot_seqs(); });
  ASSERT_EQ(o.snapshots.size(), 2u);
  auto clean = audit(*j);
  ASSERT_TRUE(clean);
  ASSERT_TRUE(clean->ok());
}

// --- probing a damaged copy in a child process ------------------------------

// What a damaged journal did, gathered in a child process.
struct Probe {
  int signal = 0;          // the child died of this signal (0: it did not)
  std::string open_error;  // code name when Journal::open failed
  std::string audit_error;
  std::vector<std::string> findings;  // "kind@seq"
  std::uint64_t audit_head = 0;
  std::map<std::string, std::string> reads;  // "replay"/"load" -> "ok <seq> <same|DIFFERENT>"
                                             // or "error <code> <seq>"
  std::vector<std::string> untyped;          // errors with a code not expected for damage
  std::string raw;                           // everything the child said
  std::string stage;                         // the last step started (where a crash happened)

  bool typed_error() const {
    if (!open_error.empty() || !audit_error.empty()) return true;
    for (const auto& [what, r] : reads) {
      if (r.starts_with("error")) return true;
    }
    return false;
  }
  bool detected() const { return !findings.empty(); }
  // Every projection served equals the original's at its seq, and the audit
  // is clean: an earlier (or the same) consistent state.
  bool consistent_prefix() const {
    if (!open_error.empty() || !audit_error.empty() || !findings.empty()) return false;
    if (reads.size() != 2) return false;
    for (const auto& [what, r] : reads) {
      if (!r.starts_with("ok") || !r.ends_with("same")) return false;
    }
    return true;
  }
  bool served_a_different_projection() const {
    for (const auto& [what, r] : reads) {
      if (r.ends_with("DIFFERENT")) return true;
    }
    return false;
  }
  std::string read(const std::string& what) const {
    const auto it = reads.find(what);
    return it == reads.end() ? "" : it->second;
  }
};

bool expected_damage_code(Errc c) {
  return is_corruption(c) || c == Errc::not_a_journal || c == Errc::lmdb_error ||
         c == Errc::io_error;
}

// The child's side: never returns.
[[noreturn]] void probe_child(const std::string& copy, const std::string& original, int fd) {
  // Die of the signal itself, even under a sanitizer that would catch it.
  ::signal(SIGBUS, SIG_DFL);
  ::signal(SIGSEGV, SIG_DFL);
  std::ostringstream out;
  const auto flush = [&] {
    const std::string s = out.str();
    out.str("");
    for (std::size_t done = 0; done < s.size();) {
      const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
      if (n <= 0) ::_exit(3);
      done += static_cast<std::size_t>(n);
    }
  };
  const auto error_line = [&](const char* what, const Error& e) {
    out << what << " error " << code_name(e.code) << " " << e.seq << "\n";
    if (!expected_damage_code(e.code) || e.message.empty()) {
      out << "untyped " << what << " " << code_name(e.code) << ": " << e.message << "\n";
    }
    out << "message " << what << ": " << e.message << "\n";
  };
  auto orig = Journal::open(original, JournalOptions{.read_only = true});
  if (!orig) ::_exit(4);
  out << "stage open\n";
  flush();
  auto j = Journal::open(copy);
  if (!j) {
    error_line("open", j.error());
    flush();
    ::_exit(0);
  }
  out << "stage audit\n";
  flush();
  auto a = audit(*j);
  if (!a) {
    error_line("audit", a.error());
  } else {
    out << "audit_head " << a->head_seq << "\n";
    for (const auto& f : a->findings) out << "finding " << f.kind << "@" << f.seq << "\n";
  }
  flush();
  const auto judge = [&](const char* what, const Result<Projection>& p) {
    if (!p) {
      error_line(what, p.error());
      return;
    }
    bool same = false;
    if (p->seq() <= kOriginalEvents) {
      auto expected = replay(*orig, p->seq());
      same = expected && *expected == *p;
    }
    out << what << " ok " << p->seq() << " " << (same ? "same" : "DIFFERENT") << "\n";
  };
  out << "stage replay\n";
  flush();
  judge("replay", replay(*j));
  out << "stage load\n";
  flush();
  judge("load", load(*j));
  flush();
  ::_exit(0);
}

Probe probe(const std::string& copy, const std::string& original) {
  Probe result;
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    probe_child(copy, original, fds[1]);
  }
  ::close(fds[1]);
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    result.raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "the probe could not run (exit " << WEXITSTATUS(status) << ")";
  }
  std::istringstream lines(result.raw);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::string tag, kind;
    in >> tag;
    if (tag == "open" || tag == "audit" || tag == "replay" || tag == "load") {
      in >> kind;
      std::string code, seq;
      in >> code >> seq;
      if (tag == "open") result.open_error = code;
      if (tag == "audit") result.audit_error = code;
      if (tag == "replay" || tag == "load") result.reads[tag] = kind + " " + code + " " + seq;
    } else if (tag == "audit_head") {
      in >> result.audit_head;
    } else if (tag == "finding") {
      in >> kind;
      result.findings.push_back(kind);
    } else if (tag == "stage") {
      in >> result.stage;
    } else if (tag == "untyped") {
      result.untyped.push_back(line);
    }
  }
  return result;
}

// The property every kind of damage must satisfy: a typed error, an audit
// finding, or an earlier consistent state; and never a projection that
// differs from the original's without an error or a finding.
void expect_no_silent_damage(const Probe& p, const std::string& what) {
  SCOPED_TRACE(what + "; the probe said:\n" + p.raw);
  EXPECT_EQ(p.signal, 0) << "the journal crashed the process (signal " << p.signal << ", "
                         << strsignal(p.signal) << ") during " << p.stage
                         << " instead of failing with a typed error";
  EXPECT_TRUE(p.untyped.empty()) << p.untyped.front();
  if (p.signal != 0) return;
  EXPECT_TRUE(p.typed_error() || p.detected() || p.consistent_prefix())
      << "neither an error, nor an audit finding, nor an earlier consistent state";
  if (p.served_a_different_projection()) {
    EXPECT_TRUE(p.typed_error() || p.detected())
        << "a projection that differs from the original's was served silently";
  }
}

// --- byte-level helpers -------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// LMDB's meta page layout on a 64-bit build (lmdb 0.9): a 16-byte page header,
// then MDB_meta: magic u32, version u32, address, mapsize, two 48-byte MDB_db
// (the first one's md_pad is the page size), last_pg, txnid.
constexpr std::size_t kPageHeader = 16;
constexpr std::size_t kMetaPageSizeAt = kPageHeader + 24;
constexpr std::size_t kMetaTxnidAt = kPageHeader + 128;
constexpr std::size_t kMetaSize = 136;
constexpr std::uint32_t kLmdbMagic = 0xBEEFC0DE;
// The page size the original is written with (LMDB takes the system's).
const std::size_t kPageSizeHint = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

template <class T>
T load_at(const std::string& bytes, std::size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

class CorruptionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    original_ = new Original;
    build_original(*original_);
  }
  static void TearDownTestSuite() {
    delete original_;
    original_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(original_, nullptr);
    ASSERT_EQ(original_->head, kOriginalEvents) << "building the original failed";
  }

  static const std::string& original() { return original_->dir.path(); }

  // A copy of the original's data.mdb in a directory of its own.
  std::string copy(const std::string& name) {
    const std::string dir = scratch_.sub(name);
    fs::create_directories(dir);
    fs::copy_file(original() + "/data.mdb", dir + "/data.mdb");
    return dir;
  }

  static std::size_t page_size(const std::string& data) {
    EXPECT_EQ(load_at<std::uint32_t>(data, kPageHeader), kLmdbMagic);
    return load_at<std::uint32_t>(data, kMetaPageSizeAt);
  }

  // The offset in data.mdb of the record stored at `seq`: LMDB hands out a
  // pointer into its map, whose pages are aligned to the page size and start
  // with their page number.
  static std::size_t record_offset(const std::string& dir, std::uint64_t seq,
                                   std::size_t* size = nullptr) {
    auto env = lmdb::Env::open(dir, lmdb::EnvOptions{.flags = MDB_RDONLY});
    EXPECT_TRUE(env);
    MDB_stat stat{};
    mdb_env_stat(env->get(), &stat);
    auto txn = lmdb::Txn::begin(*env, MDB_RDONLY);
    auto events = txn->open_db(kEventsDb, MDB_INTEGERKEY);
    EXPECT_TRUE(events);
    auto value = txn->get(*events, lmdb::seq_key(seq));
    EXPECT_TRUE(value && *value);
    const std::string_view record = **value;
    if (size != nullptr) *size = record.size();
    const auto address = reinterpret_cast<std::uintptr_t>(record.data());
    const std::uintptr_t page_start = address & ~std::uintptr_t{stat.ms_psize - 1};
    std::uint64_t pgno = 0;
    std::memcpy(&pgno, reinterpret_cast<const void*>(page_start), sizeof pgno);
    const std::size_t offset = pgno * stat.ms_psize + (address - page_start);
    // The bytes there must be the record's.
    EXPECT_EQ(read_file(dir + "/data.mdb").substr(offset, record.size()), record);
    return offset;
  }

  // The root page of database `name` (nullptr: LMDB's main database), from
  // its record in the main database or, for the main database, the page the
  // records lie in (one leaf in these journals).
  static std::uint64_t root_of(const std::string& dir, const char* name) {
    auto env = lmdb::Env::open(dir, lmdb::EnvOptions{.flags = MDB_RDONLY});
    EXPECT_TRUE(env);
    auto txn = lmdb::Txn::begin(*env, MDB_RDONLY);
    EXPECT_TRUE(txn);
    MDB_dbi main = 0;
    EXPECT_EQ(mdb_dbi_open(txn->get(), nullptr, 0, &main), 0);
    auto record = txn->get(main, lmdb::to_val(name != nullptr ? name : kEventsDb));
    EXPECT_TRUE(record && *record && (*record)->size() == 48);
    if (!record || !*record) return 0;
    std::uint64_t root = 0;
    if (name != nullptr) {
      std::memcpy(&root, (*record)->data() + 40, sizeof root);
    } else {
      MDB_stat stat{};
      mdb_env_stat(env->get(), &stat);
      const auto address = reinterpret_cast<std::uintptr_t>((*record)->data());
      std::memcpy(&root,
                  reinterpret_cast<const void*>(address & ~std::uintptr_t{stat.ms_psize - 1}),
                  sizeof root);
    }
    return root;
  }

  // A copy whose record at `seq` has one bit flipped (in its 15th byte).
  std::string copy_with_a_flipped_bit(const std::string& name, std::uint64_t seq) {
    const std::string dir = copy(name);
    const std::size_t offset = record_offset(dir, seq);
    std::string data = read_file(dir + "/data.mdb");
    data[offset + 14] = static_cast<char>(data[offset + 14] ^ 0x01);
    write_file(dir + "/data.mdb", data);
    return dir;
  }

  // Runs fn(txn, events dbi) in a raw write transaction on a closed copy.
  static void edit(const std::string& dir, const std::function<void(lmdb::Txn&, MDB_dbi)>& fn) {
    auto env = lmdb::Env::open(dir, lmdb::EnvOptions{});
    ASSERT_TRUE(env);
    auto txn = lmdb::Txn::begin(*env, 0);
    ASSERT_TRUE(txn);
    auto events = txn->open_db(kEventsDb, MDB_INTEGERKEY);
    ASSERT_TRUE(events);
    fn(*txn, *events);
    ASSERT_TRUE(txn->commit());
  }

  static bool has_finding(const Probe& p, const std::string& kind) {
    for (const auto& f : p.findings) {
      if (f.starts_with(kind + "@")) return true;
    }
    return false;
  }

  static Original* original_;
  TempDir scratch_;
};

Original* CorruptionTest::original_ = nullptr;

TEST_F(CorruptionTest, AnUndamagedCopyIsTheOriginal) {
  const Probe p = probe(copy("same"), original());
  EXPECT_TRUE(p.consistent_prefix()) << p.raw;
  EXPECT_EQ(p.audit_head, kOriginalEvents);
  EXPECT_EQ(p.read("replay"), "ok " + std::to_string(kOriginalEvents) + " same");
  EXPECT_EQ(p.read("load"), "ok " + std::to_string(kOriginalEvents) + " same");
}

TEST_F(CorruptionTest, AFlippedByteInAnEventValueIsAChecksumMismatchAtItsSeq) {
  // After the newest snapshot, so that load must read it too.
  const std::uint64_t seq = original_->snapshots.back() + 1;
  ASSERT_LT(seq, kOriginalEvents);
  for (std::size_t at : {std::size_t{0}, std::size_t{1}, std::size_t{13}, std::size_t{20}}) {
    const std::string dir = copy("flip" + std::to_string(at));
    std::size_t size = 0;
    const std::size_t offset = record_offset(dir, seq, &size);
    ASSERT_LT(at, size);
    std::string data = read_file(dir + "/data.mdb");
    data[offset + at] = static_cast<char>(data[offset + at] ^ 0x10);
    write_file(dir + "/data.mdb", data);

    const Probe p = probe(dir, original());
    expect_no_silent_damage(p, "byte " + std::to_string(at) + " of seq " + std::to_string(seq));
    EXPECT_EQ(p.read("replay"), "error checksum_mismatch " + std::to_string(seq)) << p.raw;
    EXPECT_EQ(p.read("load"), "error checksum_mismatch " + std::to_string(seq)) << p.raw;
    EXPECT_TRUE(has_finding(p, "checksum_mismatch")) << p.raw;
  }
}

TEST_F(CorruptionTest, AFlippedByteBeforeTheNewestSnapshotFailsReplayAndAudit) {
  const std::uint64_t seq = original_->snapshots.front() / 2;
  const std::string dir = copy_with_a_flipped_bit("flip-old", seq);

  const Probe p = probe(dir, original());
  expect_no_silent_damage(p, "seq " + std::to_string(seq));
  EXPECT_EQ(p.read("replay"), "error checksum_mismatch " + std::to_string(seq));
  // load starts from the snapshot, which never read the damaged record: it
  // serves the original's projection, and the audit names the seq.
  EXPECT_EQ(p.read("load"), "ok " + std::to_string(kOriginalEvents) + " same");
  EXPECT_TRUE(has_finding(p, "checksum_mismatch"));
}

void truncate_to(const std::string& dir, std::size_t size) {
  fs::resize_file(dir + "/data.mdb", size);
}

// The cuts: to half the file (mid-page), to half at a page boundary, and
// the last page lost.
std::vector<std::size_t> cuts(const std::string& data, std::size_t page) {
  return {data.size() / 2 + 123, data.size() / 2 / page * page, data.size() - page};
}

// Journal::open compares data.mdb's size with the last page LMDB's meta page
// says is in use, so a cut file is an error naming it, not a SIGBUS.
TEST_F(CorruptionTest, ADataFileCutShortIsATypedErrorNotACrash) {
  const std::string data = read_file(original() + "/data.mdb");
  for (std::size_t cut : cuts(data, page_size(data))) {
    const std::string dir = copy("cut" + std::to_string(cut));
    truncate_to(dir, cut);
    expect_no_silent_damage(probe(dir, original()), "data.mdb cut to " + std::to_string(cut));
  }
}

// Copies of the original with one page zeroed, for every page after the two
// meta pages: branch, leaf and overflow pages of every database, the free
// list and free pages. LMDB itself would abort on a zeroed leaf that a cursor
// steps onto; journal/internal/pages.h turns that into corrupt_page.
TEST_F(CorruptionTest, AZeroedPageIsATypedErrorOrHarmlessNeverACrash) {
  const std::string data = read_file(original() + "/data.mdb");
  const std::size_t page = page_size(data);
  const std::size_t pages = data.size() / page;
  ASSERT_GE(pages, 40u);
  std::map<std::string, int> outcomes;
  for (std::size_t n = 2; n < pages; ++n) {
    const std::string dir = copy("zero" + std::to_string(n));
    std::string damaged = data;
    std::memset(damaged.data() + n * page, 0, page);
    write_file(dir + "/data.mdb", damaged);
    const Probe p = probe(dir, original());
    expect_no_silent_damage(
        p, "page " + std::to_string(n) + " of " + std::to_string(pages) + " zeroed");
    ++outcomes[p.typed_error()         ? "typed error"
               : p.detected()          ? "audit finding"
               : p.consistent_prefix() ? "harmless"
                                       : "other"];
  }
  // Most pages hold events: most damage must be caught, not shrugged off.
  EXPECT_GT(outcomes["typed error"], outcomes["harmless"]);
  EXPECT_EQ(outcomes["other"], 0);
  std::string summary;
  for (const auto& [what, count] : outcomes) summary += what + ": " + std::to_string(count) + "; ";
  RecordProperty("zeroed_page_outcomes", summary);
}

// The error names the records the damaged page held, and a scan that starts
// after them still works.
TEST_F(CorruptionTest, AZeroedEventPageNamesItsSeqsAndLaterSeqsStayReadable) {
  const std::uint64_t seq = kOriginalEvents / 2;
  const std::string dir = copy("zero-leaf");
  std::string data = read_file(dir + "/data.mdb");
  const std::size_t page = page_size(data);
  const std::size_t pgno = record_offset(dir, seq) / page;
  std::memset(data.data() + pgno * page, 0, page);
  write_file(dir + "/data.mdb", data);

  auto j = Journal::open(dir, JournalOptions{.read_only = true});
  ASSERT_TRUE(j) << j.error().message;
  auto full = replay(*j);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::corrupt_page) << full.error().message;
  EXPECT_LE(full.error().seq, seq);
  EXPECT_GT(full.error().seq, seq - 200) << full.error().message;
  EXPECT_NE(full.error().message.find("page " + std::to_string(pgno) + " "), std::string::npos)
      << full.error().message;
  auto a = audit(*j);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::corrupt_page);

  // A page holds at most a few dozen records: from seq + 200 on, all is there.
  std::uint64_t seen = 0;
  auto tail = j->read([&](Reader& r) -> Result<std::uint64_t> {
    auto done = r.for_each(seq + 200, kOriginalEvents, [&](std::uint64_t, std::string_view) {
      ++seen;
      return Result<void>();
    });
    if (!done) return done.error();
    return seen;
  });
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_EQ(*tail, kOriginalEvents - seq - 199);
}

// A branch page whose child pointer names a page far past the end of the
// file: the page check must not read there (it would fault).
TEST_F(CorruptionTest, ABranchPointingPastTheFileIsATypedErrorNotACrash) {
  const std::string dir = copy("wild-branch");
  std::string data = read_file(dir + "/data.mdb");
  const std::size_t page = page_size(data);
  const std::uint64_t root = root_of(dir, kEventsDb);
  const std::size_t at = root * page;
  ASSERT_EQ(load_at<std::uint16_t>(data, at + 10) & 0x01, 0x01) << "the root is not a branch";
  // Node 1 (the second child): its page number in the first 6 bytes.
  const auto node = load_at<std::uint16_t>(data, at + kPageHeader + 2);
  std::memset(data.data() + at + node, 0x7f, 6);
  write_file(dir + "/data.mdb", data);

  const Probe p = probe(dir, original());
  expect_no_silent_damage(p, "a child pointer of the events root set to 0x7f7f7f7f7f7f");
  EXPECT_TRUE(p.typed_error()) << p.raw;
  auto j = Journal::open(dir, JournalOptions{.read_only = true});
  ASSERT_TRUE(j) << j.error().message;
  auto full = replay(*j);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Errc::corrupt_page) << full.error().message;
  EXPECT_NE(full.error().message.find("is not a page of data.mdb"), std::string::npos)
      << full.error().message;
}

TEST_F(CorruptionTest, ARolledBackMetaPageIsTheStateBeforeTheLastCommit) {
  const std::string dir = copy("rollback");
  std::string data = read_file(dir + "/data.mdb");
  const std::size_t page = page_size(data);
  const auto txnid = [&](int m) { return load_at<std::uint64_t>(data, m * page + kMetaTxnidAt); };
  const int newer = txnid(1) > txnid(0) ? 1 : 0;
  const int older = 1 - newer;
  ASSERT_EQ(txnid(newer), txnid(older) + 1);
  // The last commit's meta write lost: the newer page no longer wins. It
  // gets the older one's content (page headers stay) under the id two below
  // the newer, the id it held before, so that the pages keep LMDB's parity
  // (an id equal to the other's is refused as damage: the test below).
  std::memcpy(data.data() + newer * page + kPageHeader, data.data() + older * page + kPageHeader,
              kMetaSize);
  const std::uint64_t before_last = txnid(older) - 1;
  std::memcpy(data.data() + newer * page + kMetaTxnidAt, &before_last, sizeof before_last);
  write_file(dir + "/data.mdb", data);

  const Probe p = probe(dir, original());
  expect_no_silent_damage(p, "meta page rolled back");
  // LMDB never reuses the pages of the previous commit, so the older meta
  // is a whole, consistent journal: the one before the last batch.
  const std::string before = std::to_string(kOriginalEvents - kLastBatch);
  EXPECT_TRUE(p.consistent_prefix()) << p.raw;
  EXPECT_EQ(p.audit_head, kOriginalEvents - kLastBatch);
  EXPECT_EQ(p.read("replay"), "ok " + before + " same");
  EXPECT_EQ(p.read("load"), "ok " + before + " same");
}

TEST_F(CorruptionTest, ADeletedRecordIsAGapNamingItsSeq) {
  for (std::uint64_t seq : {std::uint64_t{1}, std::uint64_t{2500}, kOriginalEvents - 1}) {
    const std::string dir = copy("deleted" + std::to_string(seq));
    edit(dir, [&](lmdb::Txn& txn, MDB_dbi events) {
      auto deleted = txn.del(events, lmdb::seq_key(seq));
      ASSERT_TRUE(deleted && *deleted);
    });
    const Probe p = probe(dir, original());
    expect_no_silent_damage(p, "seq " + std::to_string(seq) + " deleted");
    EXPECT_EQ(p.read("replay"), "error seq_gap " + std::to_string(seq)) << p.raw;
    EXPECT_TRUE(has_finding(p, "seq_gap")) << p.raw;
  }
}

TEST_F(CorruptionTest, TheDeletedHeadRecordIsCaughtByTheStoredChainHead) {
  const std::string dir = copy("deleted-head");
  edit(dir, [&](lmdb::Txn& txn, MDB_dbi events) {
    ASSERT_TRUE(txn.del(events, lmdb::seq_key(kOriginalEvents)));
  });
  const Probe p = probe(dir, original());
  expect_no_silent_damage(p, "the head record deleted");
  // What is left is a consistent prefix to read, but the audit knows the
  // head was cut.
  EXPECT_EQ(p.read("replay"), "ok " + std::to_string(kOriginalEvents - 1) + " same");
  EXPECT_TRUE(has_finding(p, "chain_head")) << p.raw;
}

TEST_F(CorruptionTest, ARecordCopiedOverAnotherIsCaughtByTheAudit) {
  // A valid record (its CRC32C matches its bytes) at the wrong seq: only the
  // hash chain, which covers the seq, can tell.
  for (const auto& copied : {std::pair<std::uint64_t, std::uint64_t>{100, 3000},
                             {kOriginalEvents - 2, kOriginalEvents - 1},
                             {4000, 4096}}) {
    // Plain variables, not a structured binding: clang before 16 cannot
    // capture a binding in the lambda below.
    const std::uint64_t from = copied.first;
    const std::uint64_t to = copied.second;
    const std::string dir = copy("copied" + std::to_string(to));
    edit(dir, [&](lmdb::Txn& txn, MDB_dbi events) {
      auto record = txn.get(events, lmdb::seq_key(from));
      ASSERT_TRUE(record && *record);
      const std::string bytes(**record);
      ASSERT_TRUE(txn.put(events, lmdb::seq_key(to), lmdb::to_val(bytes)));
    });
    const Probe p = probe(dir, original());
    expect_no_silent_damage(p,
                            "seq " + std::to_string(from) + " copied over " + std::to_string(to));
    EXPECT_TRUE(has_finding(p, "chain_mismatch")) << p.raw;
  }
}

// The node of the record at `seq` in its leaf page: LMDB's 8-byte node
// header, then the 8-byte key, then the record.
struct LeafNode {
  std::size_t page = 0;   // the page's offset in data.mdb
  std::size_t at = 0;     // the node's offset in data.mdb
  std::size_t entry = 0;  // its index in the page's pointer array
};

LeafNode leaf_node_of(const std::string& data, std::size_t record_at, std::size_t page_size) {
  LeafNode n;
  n.page = record_at / page_size * page_size;
  n.at = record_at - 16;
  const auto lower = load_at<std::uint16_t>(data, n.page + 12);
  for (std::size_t i = 0; kPageHeader + 2 * i < lower; ++i) {
    if (n.page + load_at<std::uint16_t>(data, n.page + kPageHeader + 2 * i) == n.at) {
      n.entry = i;
      return n;
    }
  }
  ADD_FAILURE() << "no pointer to the record's node in its page";
  return n;
}

// A damaged byte in a record's node header (in a leaf page, outside the
// record) made LMDB read past the page: a value size of gigabytes faulted
// (SIGBUS) in the audit's hashing, a pointer outside the page or a
// duplicate-data flag crashed every scan. The page check reads every node
// header of the leaves a scan steps onto.
TEST_F(CorruptionTest, ADamagedRecordHeaderInALeafIsCorruptPageNamingItsSeqsNotACrash) {
  // After the newest snapshot, so that load reads it too.
  const std::uint64_t seq = original_->snapshots.back() + 3;
  struct Damage {
    const char* what;
    std::function<void(std::string&, const LeafNode&)> apply;
  };
  const std::vector<Damage> damages = {
      {"the value size's high half 0xff00",
       [](std::string& d, const LeafNode& n) { d[n.at + 3] = static_cast<char>(0xff); }},
      {"the value size one byte past the page",
       [](std::string& d, const LeafNode& n) {
         const std::uint16_t size =
             static_cast<std::uint16_t>(kPageSizeHint - (n.at - n.page) - 16 + 1);
         std::memcpy(d.data() + n.at, &size, 2);
       }},
      {"flags F_DUPDATA", [](std::string& d, const LeafNode& n) { d[n.at + 4] = 0x04; }},
      {"flags F_BIGDATA with the record's bytes as the overflow page",
       [](std::string& d, const LeafNode& n) { d[n.at + 4] = 0x01; }},
      {"a key size of 32", [](std::string& d, const LeafNode& n) { d[n.at + 6] = 32; }},
      {"the node's pointer past the page",
       [](std::string& d, const LeafNode& n) {
         const std::uint16_t wild = 0xfff0;
         std::memcpy(d.data() + n.page + kPageHeader + 2 * n.entry, &wild, 2);
       }},
  };
  for (const Damage& damage : damages) {
    const std::string dir = copy(std::string("node-") + std::to_string(&damage - damages.data()));
    std::string data = read_file(dir + "/data.mdb");
    ASSERT_EQ(page_size(data), kPageSizeHint);
    const LeafNode node = leaf_node_of(data, record_offset(dir, seq), page_size(data));
    damage.apply(data, node);
    write_file(dir + "/data.mdb", data);

    const Probe p = probe(dir, original());
    expect_no_silent_damage(p, damage.what);
    EXPECT_TRUE(p.read("replay").starts_with("error corrupt_page ")) << damage.what << "\n"
                                                                     << p.raw;
    EXPECT_TRUE(p.read("load").starts_with("error corrupt_page ")) << damage.what << "\n" << p.raw;
    EXPECT_EQ(p.audit_error, "corrupt_page") << damage.what << "\n" << p.raw;
    // The error names the seqs the page held, the damaged record's among them.
    const std::string replayed = p.read("replay");
    const std::uint64_t named = std::stoull(replayed.substr(replayed.rfind(' ') + 1));
    EXPECT_LE(named, seq) << p.raw;
    EXPECT_GT(named + 200, seq) << p.raw;
  }
}

// The newest leaf, which every append rewrites, is read by the lookup of
// the head before any scan: damage there crashed every command.
TEST_F(CorruptionTest, ADamagedNewestLeafIsCorruptPageAtTheHeadNotACrash) {
  const std::uint64_t seq = kOriginalEvents;
  const std::vector<std::pair<const char*, std::function<void(std::string&, const LeafNode&)>>>
      damages = {
          {"the last record's pointer past the page",
           [](std::string& d, const LeafNode& n) {
             const std::uint16_t wild = 0xfff0;
             std::memcpy(d.data() + n.page + kPageHeader + 2 * n.entry, &wild, 2);
           }},
          {"the last record's flags F_DUPDATA",
           [](std::string& d, const LeafNode& n) { d[n.at + 4] = 0x04; }},
          {"the page's lower bound 0xfff0",
           [](std::string& d, const LeafNode& n) {
             const std::uint16_t wild = 0xfff0;
             std::memcpy(d.data() + n.page + 12, &wild, 2);
           }},
      };
  for (const auto& [what, apply] : damages) {
    const std::string dir =
        copy(std::string("head-leaf-") + std::to_string(&apply - &damages[0].second));
    std::string data = read_file(dir + "/data.mdb");
    const LeafNode node = leaf_node_of(data, record_offset(dir, seq), page_size(data));
    apply(data, node);
    write_file(dir + "/data.mdb", data);
    const Probe p = probe(dir, original());
    expect_no_silent_damage(p, what);
    EXPECT_TRUE(p.read("replay").starts_with("error corrupt_page ")) << what << "\n" << p.raw;
    EXPECT_EQ(p.audit_error, "corrupt_page") << what << "\n" << p.raw;
  }
}

// The snapshot's own overflow pointer: the snapshots database holds blobs
// larger than a page, on overflow pages, reached through a page number in
// the leaf node. A wild number must not be followed.
TEST_F(CorruptionTest, AWildOverflowPointerOfASnapshotIsATypedErrorNotACrash) {
  const std::string dir = copy("wild-overflow");
  std::string data = read_file(dir + "/data.mdb");
  const std::size_t page = page_size(data);
  const std::uint64_t root = root_of(dir, kSnapshotsDb);
  const std::size_t at = root * page;
  ASSERT_EQ(load_at<std::uint16_t>(data, at + 10) & 0x02, 0x02) << "the root is not a leaf";
  // The newest snapshot's node: the last entry.
  const auto lower = load_at<std::uint16_t>(data, at + 12);
  const std::size_t node = at + load_at<std::uint16_t>(data, at + lower - 2);
  ASSERT_EQ(load_at<std::uint16_t>(data, node + 4), 0x01) << "not on overflow pages";
  ASSERT_EQ(load_at<std::uint64_t>(data, node + 8), original_->snapshots.back());
  for (const std::uint64_t wild :
       {std::uint64_t{0x7f7f7f7f7f}, std::uint64_t{1}, std::uint64_t{data.size() / page - 1}}) {
    std::string damaged = data;
    std::memcpy(damaged.data() + node + 16, &wild, sizeof wild);
    const std::string name = "wild-overflow-" + std::to_string(wild);
    const std::string target = copy(name);
    write_file(target + "/data.mdb", damaged);
    const Probe p = probe(target, original());
    expect_no_silent_damage(p,
                            "the newest snapshot's overflow page set to " + std::to_string(wild));
    EXPECT_TRUE(p.read("load").starts_with("error corrupt_page ")) << p.raw;
  }
}

// One damaged byte anywhere in data.mdb: a typed error, an audit finding or
// an earlier consistent state, never a crash. A seeded sweep of 600 bytes
// (one in every 10-20 crashed before node headers and meta pages were
// checked). Each byte costs a child process, five times dearer under a
// sanitizer: there the sweep takes 300 other bytes, so that the test
// command's runs together probe 900.
#ifdef FJ_TEST_SANITIZED
constexpr int kDamagedBytes = 300;
constexpr std::uint64_t kDamageSeed = 20261202;
#else
constexpr int kDamagedBytes = 600;
constexpr std::uint64_t kDamageSeed = 20261130;
#endif
TEST_F(CorruptionTest, AnyDamagedByteIsATypedErrorAFindingOrHarmlessNeverACrash) {
  const std::string data = read_file(original() + "/data.mdb");
  std::mt19937_64 rng(kDamageSeed);
  std::map<std::string, int> outcomes;
  for (int i = 0; i < kDamagedBytes; ++i) {
    const std::size_t at = rng() % data.size();
    const auto mask = static_cast<char>(1 + rng() % 255);
    std::string damaged = data;
    damaged[at] = static_cast<char>(damaged[at] ^ mask);
    const std::string dir = scratch_.sub("byte" + std::to_string(i));
    fs::create_directories(dir);
    write_file(dir + "/data.mdb", damaged);
    const Probe p = probe(dir, original());
    expect_no_silent_damage(p, "byte " + std::to_string(at) + " xor " +
                                   std::to_string(static_cast<unsigned char>(mask)));
    ++outcomes[p.signal != 0           ? "crash"
               : p.typed_error()       ? "typed error"
               : p.detected()          ? "audit finding"
               : p.consistent_prefix() ? "harmless"
                                       : "other"];
    fs::remove_all(dir);
  }
  EXPECT_EQ(outcomes["crash"], 0);
  EXPECT_GT(outcomes["typed error"] + outcomes["audit finding"], 0);
  std::string summary;
  for (const auto& [what, count] : outcomes) summary += what + ": " + std::to_string(count) + "; ";
  RecordProperty("damaged_byte_outcomes", summary);
}

// LMDB's main database (the names of the journal's databases) and the
// journal's `meta` database are read at every open, by lookups that trust
// their pages: a wild node pointer there crashed every command at open.
TEST_F(CorruptionTest, DamageWhereTheJournalKeepsItsOwnRecordsIsRefusedAtOpenNotACrash) {
  const std::string data = read_file(original() + "/data.mdb");
  const std::size_t page = page_size(data);
  const std::uint64_t meta_root = root_of(original(), kMetaDb);
  const std::uint64_t main_root = root_of(original(), nullptr);
  for (const auto& [name, pgno] :
       {std::pair<std::string, std::uint64_t>{"main", main_root}, {"meta", meta_root}}) {
    const std::size_t at = pgno * page;
    ASSERT_EQ(load_at<std::uint16_t>(data, at + 10) & 0x02, 0x02) << name << " is not one leaf";
    for (const std::size_t field : {std::size_t{0}, std::size_t{1}}) {
      std::string damaged = data;
      if (field == 0) {
        const std::uint16_t wild = 0xfff0;  // the first node's pointer, past the page
        std::memcpy(damaged.data() + at + kPageHeader, &wild, 2);
      } else {
        // The first node's value size, gigabytes.
        const auto node = load_at<std::uint16_t>(data, at + kPageHeader);
        damaged[at + node + 3] = static_cast<char>(0x7f);
      }
      const std::string dir = copy(name + "-directory-" + std::to_string(field));
      write_file(dir + "/data.mdb", damaged);
      const Probe p = probe(dir, original());
      expect_no_silent_damage(p, name + " field " + std::to_string(field));
      EXPECT_EQ(p.open_error, "corrupt_page") << p.raw;
      auto j = Journal::open(dir, JournalOptions{.read_only = true});
      ASSERT_FALSE(j);
      EXPECT_NE(j.error().message.find("where the journal keeps its own records"),
                std::string::npos)
          << j.error().message;
    }
  }
}

// A writer looks request ids up in the requests database and prunes the
// oldest through its order, and LMDB trusts those pages as it trusts the
// others. A writable open checks both whole and refuses; reading still
// works.
TEST_F(CorruptionTest, DamagedRequestIdsRefuseAWritableOpenAndStillRead) {
  TempDir dir;
  {
    auto j = Journal::create(dir.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j) << j.error().message;
    auto ledger = Ledger::open(*j);
    ASSERT_TRUE(ledger);
    ASSERT_TRUE(ledger->execute(RegisterTemplate{"tpl", "src", "web"}, Origin::api));
    std::vector<Request> batch;
    for (int i = 0; i < 400; ++i) {
      batch.push_back(
          Request{AddFork{"tpl", "frk" + std::to_string(i)}, "request-" + std::to_string(i)});
    }
    ASSERT_TRUE(ledger->execute_batch(batch, Origin::api));
  }
  const std::string data = read_file(dir.sub("data.mdb"));
  const std::size_t page = page_size(data);
  for (const char* database : {kRequestsDb, kRequestOrderDb}) {
    const std::size_t at = root_of(dir.path(), database) * page;
    std::string damaged = data;
    const std::uint16_t wild = 0xfff0;  // the root's first node, past the page
    std::memcpy(damaged.data() + at + kPageHeader, &wild, 2);
    const std::string copy_dir = scratch_.sub(std::string("requests-") + database);
    fs::create_directories(copy_dir);
    write_file(copy_dir + "/data.mdb", damaged);

    auto writable = Journal::open(copy_dir);
    ASSERT_FALSE(writable) << database;
    EXPECT_EQ(writable.error().code, Errc::corrupt_page) << writable.error().message;
    EXPECT_NE(writable.error().message.find("the stored request ids are damaged"),
              std::string::npos)
        << writable.error().message;
    auto reading = Journal::open(copy_dir, JournalOptions{.read_only = true});
    ASSERT_TRUE(reading) << reading.error().message;
    auto replayed = replay(*reading);
    ASSERT_TRUE(replayed) << replayed.error().message;
    EXPECT_EQ(replayed->live_fork_count(), 400u);
  }
}

// The record a snapshot is tagged with, damaged: the snapshot was used
// (its stored checksum still matched the tag), so a daemon booted and
// wrote on top of a damaged record. Now the snapshot is passed over, and
// the replay from the older one stops at the record, naming its seq.
TEST_F(CorruptionTest, ADamagedRecordAtTheNewestSnapshotIsNotBuiltOn) {
  const std::uint64_t seq = original_->snapshots.back();
  const std::string dir = copy_with_a_flipped_bit("snapshot-record", seq);

  const Probe p = probe(dir, original());
  expect_no_silent_damage(p, "the record at the newest snapshot, seq " + std::to_string(seq));
  EXPECT_EQ(p.read("load"), "error checksum_mismatch " + std::to_string(seq)) << p.raw;
  EXPECT_EQ(p.read("replay"), "error checksum_mismatch " + std::to_string(seq)) << p.raw;
}

// A damaged transaction id in a meta page made LMDB pick the older one:
// the journal opened at the state before its last commit, clean to every
// check, and the next commit made the loss permanent. In a sound file page
// 0 holds an even id and page 1 the odd one next to it: the open refuses
// anything else. (A flip that keeps both rules, 546/545 to 544/545, cannot
// be seen in the ids.)
TEST_F(CorruptionTest, AMetaPageWithAWildTransactionIdIsRefusedBeforeAnythingIsWritten) {
  const std::string original_data = read_file(original() + "/data.mdb");
  const std::size_t page = page_size(original_data);
  const auto txnid = [&](int m) {
    return load_at<std::uint64_t>(original_data, m * page + kMetaTxnidAt);
  };
  const int older = txnid(0) < txnid(1) ? 0 : 1;
  const int newer = 1 - older;
  ASSERT_EQ(txnid(0) % 2, 0u);
  ASSERT_EQ(txnid(1) % 2, 1u);
  // The older id's bytes, all of them wild; and the lowest bit of either,
  // the flip that leaves the two ids next to each other or equal.
  const std::vector<std::pair<int, std::pair<std::size_t, char>>> flips = {
      {older, {0, static_cast<char>(0xff)}},
      {older, {1, static_cast<char>(0xff)}},
      {older, {5, static_cast<char>(0xff)}},
      {older, {0, 0x01}},
      {newer, {0, 0x01}},
  };
  for (const auto& flip : flips) {
    const int m = flip.first;
    const std::size_t byte = flip.second.first;
    const std::string dir =
        copy("meta-txnid-" + std::to_string(m) + "-" + std::to_string(byte) + "-" +
             std::to_string(static_cast<unsigned char>(flip.second.second)));
    std::string data = original_data;
    data[m * page + kMetaTxnidAt + byte] ^= flip.second.second;
    write_file(dir + "/data.mdb", data);
    const auto before = read_file(dir + "/data.mdb");

    const Probe p = probe(dir, original());
    expect_no_silent_damage(p, "meta " + std::to_string(m) + " txnid byte " + std::to_string(byte));
    EXPECT_EQ(p.open_error, "corrupt_meta") << p.raw;
    auto j = Journal::open(dir);
    ASSERT_FALSE(j);
    EXPECT_NE(j.error().message.find("meta page is damaged"), std::string::npos)
        << j.error().message;
    auto r = Journal::open(dir, JournalOptions{.read_only = true});
    ASSERT_FALSE(r);
    EXPECT_EQ(read_file(dir + "/data.mdb"), before) << "the refused open changed data.mdb";
  }
}

// A kill inside Journal::create after LMDB wrote data.mdb but before the
// first commit (the meta database) leaves an environment with no committed
// transaction. create takes it as empty and makes the journal there, so a VM
// manager killed during its first boot (the service's boot creates a missing
// journal) starts again; forkjournal-crashtest --child-creates exercises it.
TEST(CreateCrash, AJournalKilledInsideCreateCanBeCreatedAgain) {
  TempDir dir;
  // The state a kill leaves: an LMDB environment with no committed
  // transaction (what mdb_env_open writes before Journal::create commits).
  { ASSERT_TRUE(lmdb::Env::open(dir.path(), lmdb::EnvOptions{})); }
  ASSERT_TRUE(fs::exists(dir.sub("data.mdb")));
  auto created = Journal::create(dir.path());
  auto opened = created ? std::move(created) : Journal::open(dir.path());
  ASSERT_TRUE(opened) << "create: " << created.error().message
                      << "; open: " << opened.error().message;
  EXPECT_EQ(*opened->head(), 0u);
  EXPECT_TRUE(opened->append(std::vector<EventView>{view(testing::registered("web"))}));
}

TEST(CreateCrash, AKillInsideCreateLeavesAnEmptyEnvironmentThatIsRefusedByName) {
  // open, unlike create, refuses it: typed, and naming the directory.
  TempDir dir;
  { ASSERT_TRUE(lmdb::Env::open(dir.path(), lmdb::EnvOptions{})); }
  auto opened = Journal::open(dir.path());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::not_a_journal);
  EXPECT_NE(opened.error().message.find(dir.path()), std::string::npos);
}

// --- map full and disk full ---------------------------------------------------

// Appends batches of forks through a Ledger until a batch fails; returns the
// acknowledged (seq, fork) pairs and the error that stopped it.
struct Filled {
  std::map<std::uint64_t, std::string> acknowledged;
  std::optional<Error> error;
};
Filled fill(Ledger& ledger, const std::string& prefix, int max_batches) {
  Filled f;
  for (int b = 0; b < max_batches; ++b) {
    std::vector<Request> batch;
    for (int i = 0; i < 7; ++i) {
      batch.push_back(Request{AddFork{"web", prefix + std::to_string(b) + "-" + std::to_string(i)},
                              prefix + std::to_string(b) + "." + std::to_string(i)});
    }
    auto done = ledger.execute_batch(batch, Origin::api);
    if (!done) {
      f.error = done.error();
      return f;
    }
    for (std::size_t i = 0; i < done->size(); ++i) {
      EXPECT_TRUE((*done)[i]);
      if ((*done)[i])
        f.acknowledged[(*done)[i]->first_seq] = std::get<AddFork>(batch[i].command).fork;
    }
  }
  return f;
}

void expect_all_present(const Journal& j, const std::map<std::uint64_t, std::string>& acked) {
  std::map<std::uint64_t, std::string> forks;
  for (const auto& [seq, e] : read_all(j)) forks[seq] = e.fork;
  for (const auto& [seq, fork] : acked) {
    ASSERT_TRUE(forks.contains(seq)) << "acknowledged seq " << seq << " is gone";
    EXPECT_EQ(forks[seq], fork) << "seq " << seq;
  }
}

TEST(MapFull, AppendsFailWithJournalFullLoseNothingKeepReadingAndResumeWithMoreRoom) {
  TempDir dir;
  std::map<std::uint64_t, std::string> acknowledged;
  std::uint64_t head_when_full = 0;
  {
    auto j = Journal::create(dir.path(), JournalOptions{.sync = SyncMode::none,
                                                        .initial_map_size = 64 << 10,
                                                        .max_map_size = 256 << 10});
    ASSERT_TRUE(j);
    auto ledger = Ledger::open(*j);
    ASSERT_TRUE(ledger);
    ASSERT_TRUE(ledger->execute(RegisterTemplate{"web", "src", ""}, Origin::api));
    Filled f = fill(*ledger, "a", 100000);
    ASSERT_TRUE(f.error) << "the map never filled up";
    EXPECT_EQ(f.error->code, Errc::journal_full) << f.error->message;
    EXPECT_NE(f.error->message.find(dir.path()), std::string::npos) << f.error->message;
    ASSERT_GT(f.acknowledged.size(), 500u);
    acknowledged = f.acknowledged;
    EXPECT_EQ(*j->head(), acknowledged.rbegin()->first) << "the failed batch left events";

    // Single events may still fit where a batch did not; then nothing does.
    std::optional<Error> full;
    for (int i = 0; i < 10000 && !full; ++i) {
      auto one = ledger->execute(AddFork{"web", "single" + std::to_string(i)}, Origin::api);
      if (one) {
        acknowledged[one->first_seq] = "single" + std::to_string(i);
      } else {
        full = one.error();
      }
    }
    ASSERT_TRUE(full);
    EXPECT_EQ(full->code, Errc::journal_full) << full->message;
    head_when_full = *j->head();
    EXPECT_EQ(head_when_full, acknowledged.rbegin()->first);
    auto again = ledger->execute(AddFork{"web", "one-more"}, Origin::api);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, Errc::journal_full);
    EXPECT_EQ(*j->head(), head_when_full) << "a refused append left an event";

    // Reads keep working: everything acknowledged is there, replay and
    // audit agree, and the writer's projection is the replay.
    expect_all_present(*j, acknowledged);
    auto replayed = replay(*j);
    ASSERT_TRUE(replayed);
    EXPECT_EQ(replayed->find("web")->forks, acknowledged.size());
    auto report = audit(*j);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok());
    ASSERT_TRUE(ledger->catch_up());
    EXPECT_TRUE(ledger->projection() == *replayed);
  }
  // Room is made: a larger maximum. Appends resume where they stopped.
  auto j = Journal::open(dir.path(), JournalOptions{.sync = SyncMode::none,
                                                    .initial_map_size = 64 << 10,
                                                    .max_map_size = 4 << 20});
  ASSERT_TRUE(j);
  auto ledger = Ledger::open(*j);
  ASSERT_TRUE(ledger);
  auto resumed = ledger->execute(AddFork{"web", "one-more"}, Origin::api);
  ASSERT_TRUE(resumed) << resumed.error().message;
  EXPECT_EQ(resumed->first_seq, head_when_full + 1);
  Filled more = fill(*ledger, "b", 50);
  EXPECT_FALSE(more.error) << more.error->message;
  expect_all_present(*j, acknowledged);
  expect_all_present(*j, more.acknowledged);
  auto report = audit(*j);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  // A retried request id from before the map filled still returns its seq.
  auto retried =
      ledger->execute_batch(std::vector<Request>{{AddFork{"web", "a0-0"}, "a0.0"}}, Origin::api);
  ASSERT_TRUE(retried);
  ASSERT_TRUE((*retried)[0]);
  EXPECT_TRUE((*retried)[0]->replayed);
  EXPECT_EQ((*retried)[0]->first_seq, acknowledged.begin()->first);
}

// A full disk, simulated with RLIMIT_FSIZE (writes past the limit fail with
// EFBIG, like ENOSPC): appends fail with a typed error, nothing acknowledged
// is lost, reads keep working, and appends resume once there is room.
TEST(DiskFull, AppendsFailTypedLoseNothingAndResumeWhenThereIsRoom) {
  TempDir dir;
  auto j = Journal::create(dir.path(), JournalOptions{.sync = SyncMode::full});
  ASSERT_TRUE(j);
  auto ledger = Ledger::open(*j);
  ASSERT_TRUE(ledger);
  ASSERT_TRUE(ledger->execute(RegisterTemplate{"web", "src", ""}, Origin::api));
  Filled before = fill(*ledger, "a", 20);
  ASSERT_FALSE(before.error);

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previous = ::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = *j->file_size() + (16 << 10);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  Filled during = fill(*ledger, "b", 5000);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  ::signal(SIGXFSZ, previous);

  ASSERT_TRUE(during.error) << "the disk never filled up";
  EXPECT_TRUE(during.error->code == Errc::lmdb_error || during.error->code == Errc::io_error)
      << code_name(during.error->code) << ": " << during.error->message;
  EXPECT_FALSE(during.error->message.empty());
  const std::uint64_t head = *j->head();
  if (!during.acknowledged.empty()) {
    EXPECT_EQ(head, during.acknowledged.rbegin()->first);
  }
  expect_all_present(*j, before.acknowledged);
  expect_all_present(*j, during.acknowledged);
  auto replayed = replay(*j);
  ASSERT_TRUE(replayed) << replayed.error().message;
  EXPECT_EQ(replayed->seq(), head);

  // Room again: the same journal handle appends on.
  Filled after = fill(*ledger, "c", 20);
  ASSERT_FALSE(after.error) << after.error->message;
  EXPECT_EQ(after.acknowledged.begin()->first, head + 1);
  auto report = audit(*j);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  auto reopened_head = head + after.acknowledged.size();
  EXPECT_EQ(*j->head(), reopened_head);
}

// --- a reader killed inside a read transaction ------------------------------

// A child that opens the journal and waits; with `hold_txn` it first starts a
// read transaction and keeps it. It writes one byte when ready.
pid_t spawn_reader(const std::string& dir, bool hold_txn) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    auto j = Journal::open(dir, JournalOptions{.read_only = true});
    if (!j) ::_exit(3);
    const auto ready = [&] {
      if (::write(fds[1], "r", 1) != 1) ::_exit(4);
      for (;;) ::pause();
    };
    if (hold_txn) {
      (void)j->read([&](Reader& r) -> Result<void> {
        (void)r.head();
        ready();
        return {};
      });
    }
    ready();
  }
  ::close(fds[1]);
  char c = 0;
  const bool ok = ::read(fds[0], &c, 1) == 1;
  ::close(fds[0]);
  if (!ok) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

// Rounds of churn that rewrite pages (snapshots of a large projection, forks
// added and removed); returns how much data.mdb grew.
std::uint64_t churn(Journal& j, int rounds, int& counter) {
  const std::uint64_t before = *j.file_size();
  auto ledger = Ledger::open(j);
  EXPECT_TRUE(ledger);
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < 10; ++i) {
      const std::string fork = "churn" + std::to_string(counter++);
      EXPECT_TRUE(ledger->execute(AddFork{"web", fork}, Origin::api));
      EXPECT_TRUE(ledger->execute(RemoveFork{"web", fork}, Origin::api));
    }
    EXPECT_TRUE(ledger->snapshot());
  }
  return *j.file_size() - before;
}

// A journal with a large projection, so that every snapshot takes many pages.
void create_large_journal(const std::string& dir) {
  auto j = Journal::create(dir, JournalOptions{.sync = SyncMode::none});
  ASSERT_TRUE(j);
  auto ledger = Ledger::open(*j);
  ASSERT_TRUE(ledger->execute(RegisterTemplate{"web", "src", ""}, Origin::api));
  std::vector<Request> batch;
  for (int i = 0; i < 3000; ++i)
    batch.push_back(Request{AddFork{"web", "base" + std::to_string(i)}, ""});
  ASSERT_TRUE(ledger->execute_batch(batch, Origin::api));
  ASSERT_TRUE(ledger->snapshot());
}

// A large journal, a live process that keeps the environment open
// throughout (so no open in a test is the first one, which would reset the
// whole reader table and hide whether stale slots are cleared one by one),
// and a reader inside a transaction that the test kills.
class StaleReader : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(create_large_journal(dir_.path()));
    holder_ = spawn_reader(dir_.path(), false);
    ASSERT_GT(holder_, 0);
    reader_ = spawn_reader(dir_.path(), true);
    ASSERT_GT(reader_, 0);
  }
  void TearDown() override {
    if (holder_ > 0) kill_and_reap(holder_);
  }
  const std::string& path() const { return dir_.path(); }

  TempDir dir_;
  pid_t holder_ = -1;
  pid_t reader_ = -1;
};

// A writer open since before the reader died, as the daemon is: its next
// write transaction clears the dead reader's slot, so the pages the reader
// pinned are reused and the file stops growing. The first phase, with the
// reader alive, is the control: the same churn grows the file while a read
// transaction pins its pages.
TEST_F(StaleReader, AReaderKilledInsideATransactionIsClearedByTheNextWriteAndTheFileStopsGrowing) {
  int counter = 0;
  auto j = Journal::open(path(), JournalOptions{.sync = SyncMode::none});
  ASSERT_TRUE(j);
  const std::uint64_t pinned = churn(*j, 30, counter);
  auto alive = j->oldest_reader();
  ASSERT_TRUE(alive) << alive.error().message;
  ASSERT_TRUE(*alive);
  EXPECT_EQ((*alive)->pid, reader_);

  kill_and_reap(reader_);
  const std::uint64_t warm = churn(*j, 10, counter);  // reuses the pages the reader pinned
  const std::uint64_t cleared = churn(*j, 30, counter);

  RecordProperty("growth_pinned", std::to_string(pinned));
  RecordProperty("growth_warm_up", std::to_string(warm));
  RecordProperty("growth_cleared", std::to_string(cleared));
  const std::uint64_t page = 4096;
  EXPECT_GT(pinned, 30 * page) << "the live reader did not pin anything: the test proves nothing";
  EXPECT_LT(cleared * 4, pinned) << "pinned growth " << pinned << " bytes, after the kill "
                                 << cleared << " bytes (warm-up " << warm << ")";
}

// The dead reader is not reported as the oldest reader (health would blame a
// process that no longer exists), even before any write.
TEST_F(StaleReader, ADeadReaderIsNotReportedAsTheOldestReader) {
  auto j = Journal::open(path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(j);
  auto alive = j->oldest_reader();
  ASSERT_TRUE(alive) << alive.error().message;
  ASSERT_TRUE(*alive);
  EXPECT_EQ((*alive)->pid, reader_);
  kill_and_reap(reader_);
  auto after = j->oldest_reader();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_FALSE(*after) << "pid " << (*after)->pid;
}

}  // namespace
}  // namespace fj
