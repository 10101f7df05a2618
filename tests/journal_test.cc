#include "journal/journal.h"

#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"
#include "journal/internal/open_claim.h"
#include "support/event_samples.h"
#include "support/journal_reader.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

namespace fj {
namespace {

using testing::added;
using testing::read_all;
using testing::TempDir;

JournalOptions fast() {
  return JournalOptions{.sync = SyncMode::none};
}

Result<AppendResult> append_one(Journal& j, const Event& e,
                                std::optional<std::uint64_t> expected = std::nullopt) {
  const EventView v = view(e);
  return j.append(std::span(&v, 1), expected);
}

TEST(Journal, CreateThenOpenKeepsIdAndFormat) {
  TempDir dir;
  std::string id;
  {
    auto j = Journal::create(dir.sub("j"), fast());
    ASSERT_TRUE(j) << j.error().message;
    id = j->info().journal_id;
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(j->info().format_version, kFormatVersion);
    EXPECT_EQ(*j->head(), 0u);
  }
  auto j = Journal::open(dir.sub("j"), fast());
  ASSERT_TRUE(j);
  EXPECT_EQ(j->info().journal_id, id);
  EXPECT_GT(j->info().created_ns, 0u);
}

TEST(Journal, CreateRefusesAnExistingJournalOrAForeignDirectory) {
  TempDir dir;
  ASSERT_TRUE(Journal::create(dir.sub("j"), fast()));
  auto again = Journal::create(dir.sub("j"), fast());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_a_journal);

  std::filesystem::create_directory(dir.sub("busy"));
  std::filesystem::create_directory(dir.sub("busy/x"));
  auto busy = Journal::create(dir.sub("busy"), fast());
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, Errc::invalid_argument);
}

TEST(Journal, OldestReaderIsTheLongestOpenReadTransactionAndItsLag) {
  TempDir dir;
  auto j = Journal::create(dir.sub("j"), fast());
  ASSERT_TRUE(j) << j.error().message;
  auto none = j->oldest_reader();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);

  // A thread holds a read transaction while three appends commit.
  std::promise<void> inside, release;
  auto released = release.get_future().share();
  std::thread reader([&] {
    (void)j->read([&](Reader&) -> Result<void> {
      inside.set_value();
      released.wait();
      return {};
    });
  });
  inside.get_future().wait();
  for (const char* fork : {"a", "b", "c"}) ASSERT_TRUE(append_one(*j, added("tpl", fork)));
  auto held = j->oldest_reader();
  release.set_value();
  reader.join();
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_TRUE(*held);
  EXPECT_EQ((*held)->pid, ::getpid());
  EXPECT_EQ((*held)->txn_lag, 3u);

  auto after = j->oldest_reader();
  ASSERT_TRUE(after);
  EXPECT_FALSE(*after);
}

TEST(Journal, JournalFilesAreOwnerOnly) {
  TempDir dir;
  ASSERT_TRUE(Journal::create(dir.sub("j"), fast()));
  namespace fs = std::filesystem;
  const auto others = fs::perms::group_all | fs::perms::others_all;
  EXPECT_EQ(fs::status(dir.sub("j")).permissions() & others, fs::perms::none);
  EXPECT_EQ(fs::status(dir.sub("j/data.mdb")).permissions() & others, fs::perms::none);
}

TEST(Journal, OpeningAMissingDirectoryCreatesNothing) {
  TempDir dir;
  for (bool read_only : {true, false}) {
    auto j = Journal::open(dir.sub("missing"), JournalOptions{.read_only = read_only});
    ASSERT_FALSE(j);
    EXPECT_EQ(j.error().code, Errc::not_a_journal);
    EXPECT_FALSE(std::filesystem::exists(dir.sub("missing")));
  }
  auto empty = Journal::open(dir.path(), JournalOptions{.read_only = true});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::not_a_journal);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// Each way a path can fail to be a journal gets a message that says which,
// and the open leaves the path as it found it.
TEST(Journal, WhatIsNotAJournalIsNamed) {
  TempDir dir;
  namespace fs = std::filesystem;
  std::ofstream(dir.sub("file")) << "x";
  fs::create_directory(dir.sub("other"));
  std::ofstream(dir.sub("other/notes.txt")) << "x";
  fs::create_directory(dir.sub("empty-data"));
  std::ofstream(dir.sub("empty-data/data.mdb"));
  fs::create_directory(dir.sub("random"));
  std::ofstream(dir.sub("random/data.mdb")) << std::string(20000, '\x5a');
  fs::create_directories(dir.sub("dir-data/data.mdb"));
  const std::pair<std::string, std::string> cases[] = {
      {"file", "it is a file, not a directory"},
      {"other", "the directory holds other files and no data.mdb"},
      {"empty-data", "data.mdb is empty"},
      {"random", "data.mdb is not an LMDB file"},
      {"dir-data", "data.mdb is not a regular file"},
  };
  for (const auto& [name, says] : cases) {
    for (bool read_only : {true, false}) {
      auto j = Journal::open(dir.sub(name), JournalOptions{.read_only = read_only});
      ASSERT_FALSE(j) << name;
      EXPECT_EQ(j.error().code, Errc::not_a_journal) << name;
      EXPECT_NE(j.error().message.find(says), std::string::npos) << j.error().message;
      EXPECT_FALSE(fs::exists(dir.sub(name + "/lock.mdb"))) << name;
    }
  }
  // The check for an interrupted create does not leave a lock file either.
  EXPECT_FALSE(Journal::interrupted_init(dir.sub("random")));
  EXPECT_FALSE(fs::exists(dir.sub("random/lock.mdb")));
  // An empty data.mdb is what a create killed early leaves: init completes it.
  EXPECT_TRUE(Journal::interrupted_init(dir.sub("empty-data")));
  ASSERT_TRUE(Journal::create(dir.sub("empty-data"), fast()));
}

// A journal the process may not read is reported as that, not as missing
// (which would send its user to create one).
TEST(Journal, AnUnreadableJournalIsNotReportedMissing) {
  TempDir dir;
  const std::string path = dir.sub("j");
  ASSERT_TRUE(Journal::create(path, fast()));
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod(path.c_str(), 0), 0);
    auto j = Journal::open(path, JournalOptions{.read_only = true});
    ASSERT_FALSE(j);
    EXPECT_EQ(j.error().code, Errc::io_error) << j.error().message;
    EXPECT_NE(j.error().message.find("Permission denied"), std::string::npos);
    return;
  }
  // Root reads through any mode: open as an unprivileged user in a child,
  // with the temporary directory traversable for it and the journal not.
  std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec,
                               std::filesystem::perm_options::add);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
    auto j = Journal::open(path, JournalOptions{.read_only = true});
    if (j) ::_exit(4);
    const bool named = j.error().code == Errc::io_error &&
                       j.error().message.find("Permission denied") != std::string::npos;
    ::_exit(named ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: could not drop privileges, 4: opened, "
                                       "5: not reported as permission denied";
}

// A journal whose files belong to another user (made by root, opened by the
// daemon's own user) is refused naming the file, its owner and mode, and who
// asked: LMDB's own error names only the directory.
TEST(Journal, AJournalOfAnotherUserNamesTheFileAndItsOwner) {
  TempDir dir;
  const std::string path = dir.sub("j");
  ASSERT_TRUE(Journal::create(path, fast()));
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod((path + "/data.mdb").c_str(), 0400), 0);
    auto j = Journal::open(path, fast());
    ASSERT_FALSE(j);
    EXPECT_EQ(j.error().code, Errc::io_error) << j.error().message;
    EXPECT_NE(j.error().message.find(path + "/data.mdb belongs to "), std::string::npos)
        << j.error().message;
    EXPECT_NE(j.error().message.find("with mode 0400"), std::string::npos) << j.error().message;
    return;
  }
  // As root: the directory is the other user's, its files root's.
  std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec,
                               std::filesystem::perm_options::add);
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
    auto j = Journal::open(path, fast());
    if (j) ::_exit(4);
    const std::string& m = j.error().message;
    const bool named =
        j.error().code == Errc::io_error &&
        m.find(path +
               "/data.mdb belongs to root (uid 0) with mode 0600, and this process runs "
               "as ") != std::string::npos &&
        m.find("(uid 65534)") != std::string::npos &&
        m.find("Permission denied") != std::string::npos;
    ::_exit(named ? 0 : 5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: could not drop privileges, 4: opened, "
                                       "5: the file, its owner or the user not named";
}

TEST(Journal, AForeignLmdbEnvironmentIsNotAJournal) {
  TempDir dir;
  {
    auto env = lmdb::Env::open(dir.path(), lmdb::EnvOptions{});
    ASSERT_TRUE(env);
    auto txn = lmdb::Txn::begin(*env, 0);
    ASSERT_TRUE(txn->open_db(nullptr, 0));
    ASSERT_TRUE(txn->put(1, lmdb::to_val("k"), lmdb::to_val("v")));
    ASSERT_TRUE(txn->commit());
  }
  auto j = Journal::open(dir.path(), JournalOptions{.read_only = true});
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, Errc::not_a_journal);
}

TEST(Journal, AnotherFormatVersionIsRefusedNamingBoth) {
  TempDir dir;
  ASSERT_TRUE(Journal::create(dir.path(), fast()));
  {
    auto env = lmdb::Env::open(dir.path(), lmdb::EnvOptions{});
    auto txn = lmdb::Txn::begin(*env, 0);
    auto meta = txn->open_db(kMetaDb, 0);
    ASSERT_TRUE(meta);
    ASSERT_TRUE(txn->put(*meta, lmdb::to_val(kMetaFormat), lmdb::to_val("\x09")));
    ASSERT_TRUE(txn->commit());
  }
  auto j = Journal::open(dir.path(), JournalOptions{.read_only = true});
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, Errc::unknown_version);
  EXPECT_NE(j.error().message.find("version 9"), std::string::npos);
  EXPECT_NE(j.error().message.find("version " + std::to_string(kFormatVersion)), std::string::npos);
}

TEST(Journal, AppendAssignsGapFreeSeqsAndReadsRanges) {
  TempDir dir;
  auto j = Journal::create(dir.path(), fast());
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) events.push_back(added("tpl", "f" + std::to_string(i)));
  std::vector<EventView> views;
  for (const Event& e : events) views.push_back(view(e));
  auto first = j->append(std::span(views).first(4));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first_seq, 1u);
  EXPECT_EQ(first->last_seq, 4u);
  auto second = j->append(std::span(views).subspan(4));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->first_seq, 5u);
  EXPECT_EQ(second->last_seq, 10u);
  EXPECT_EQ(*j->head(), 10u);

  const auto all = read_all(*j);
  ASSERT_EQ(all.size(), 10u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].first, i + 1);
    EXPECT_EQ(all[i].second, events[i]);
  }
  const auto middle = read_all(*j, 3, 5);
  ASSERT_EQ(middle.size(), 3u);
  EXPECT_EQ(middle.front().first, 3u);
  EXPECT_EQ(middle.back().first, 5u);
  EXPECT_TRUE(read_all(*j, 11, 20).empty());
}

TEST(Journal, AnInvalidEventInABatchAppendsNothing) {
  TempDir dir;
  auto j = Journal::create(dir.path(), fast());
  const Event good = added("tpl", "f1");
  const Event bad = added("tpl", "../escape");
  const EventView batch[] = {view(good), view(bad)};
  auto r = j->append(batch);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(*j->head(), 0u);
}

TEST(Journal, ExpectedHeadRefusesABatchWhenSomeoneAppendedFirst) {
  TempDir dir;
  auto j = Journal::create(dir.path(), fast());
  ASSERT_TRUE(append_one(*j, added("tpl", "a"), 0));
  auto stale = append_one(*j, added("tpl", "b"), 0);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::head_moved);
  EXPECT_EQ(*j->head(), 1u);
  auto fresh = append_one(*j, added("tpl", "b"), 1);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->first_seq, 2u);
}

TEST(Journal, MapGrowsUnderATinyInitialMapAndLosesNothing) {
  TempDir dir;
  auto j = Journal::create(dir.path(),
                           JournalOptions{.sync = SyncMode::none, .initial_map_size = 64 << 10});
  ASSERT_TRUE(j);
  const std::size_t initial = j->map_size();
  std::vector<Event> events;
  for (int i = 0; i < 5000; ++i)
    events.push_back(added("tpl0web0000000000000001", "frk" + std::to_string(i)));
  std::vector<EventView> views;
  for (const Event& e : events) views.push_back(view(e));
  auto r = j->append(views);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->last_seq, 5000u);
  EXPECT_GT(j->map_size(), initial);
  EXPECT_EQ(read_all(*j).size(), 5000u);
}

TEST(Journal, CopyToWritesACompactedJournalWithTheSameRecordsAndChain) {
  TempDir dir;
  auto j = Journal::create(dir.sub("journal"), fast());
  ASSERT_TRUE(j);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(append_one(*j, added("tpl0web0000000000000001", "frk" + std::to_string(i))));
    // Replaced snapshots leave free pages behind, which the copy drops.
    if (i % 50 == 49) {
      ASSERT_TRUE(j->write([&](WriteTxn& w) -> Result<void> {
        return w.put_snapshot(static_cast<std::uint64_t>(i + 1), std::string(20'000, 'x'));
      }));
    }
  }
  const std::string dest = dir.sub("copy");
  std::filesystem::create_directory(dest);
  auto bytes = j->copy_to(dest);
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(*bytes, std::filesystem::file_size(dest + "/data.mdb"));
  EXPECT_LT(*bytes, *j->file_size());

  auto copy = Journal::open(dest, JournalOptions{.read_only = true});
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(copy->info().journal_id, j->info().journal_id);
  EXPECT_EQ(read_all(*copy), read_all(*j));
  const auto chain = [](const Journal& journal) {
    return journal.read([](Reader& r) { return r.chain_head(); });
  };
  EXPECT_EQ(chain(*copy)->value, chain(*j)->value);
  EXPECT_EQ(chain(*copy)->seq, 300u);
  EXPECT_EQ(*copy->read([](Reader& r) { return r.snapshot_seqs(); }),
            (std::vector<std::uint64_t>{250, 300}));
}

TEST(Journal, CopyToRefusesAnExistingCopyAndAMissingDirectory) {
  TempDir dir;
  auto j = Journal::create(dir.sub("journal"), fast());
  ASSERT_TRUE(j);
  const std::string dest = dir.sub("copy");
  std::filesystem::create_directory(dest);
  std::ofstream(dest + "/data.mdb") << "not mine";
  auto again = j->copy_to(dest);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::io_error);
  EXPECT_EQ(std::filesystem::file_size(dest + "/data.mdb"), 8u);

  auto missing = j->copy_to(dir.sub("missing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::io_error);
  EXPECT_FALSE(std::filesystem::exists(dir.sub("missing")));
}

// A limit below the default initial size (64 MiB) is the map's size from
// the start: the file never grows past it.
TEST(Journal, AMaximumBelowTheInitialMapSizeBoundsTheFile) {
  TempDir dir;
  auto j = Journal::create(dir.path(),
                           JournalOptions{.sync = SyncMode::none, .max_map_size = 256 << 10});
  ASSERT_TRUE(j);
  Result<AppendResult> r;
  for (int i = 0; i < 100000; ++i) {
    r = append_one(*j, added("tpl", "f" + std::to_string(i)));
    if (!r) break;
  }
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::journal_full);
  EXPECT_LE(std::filesystem::file_size(dir.path() + "/data.mdb"), 256u << 10);
}

TEST(Journal, CreateReadOnlyIsRefusedAndMakesNothing) {
  TempDir dir;
  auto j = Journal::create(dir.sub("new"), JournalOptions{.read_only = true});
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, Errc::invalid_argument);
  EXPECT_EQ(j.error().message,
            "cannot create journal " + dir.sub("new") + " read-only: a new journal is written");
  EXPECT_FALSE(std::filesystem::exists(dir.sub("new")));
}

TEST(Journal, MaximumMapSizeFailsWithJournalFullAndKeepsWhatWasAcknowledged) {
  TempDir dir;
  auto j = Journal::create(dir.path(), JournalOptions{.sync = SyncMode::none,
                                                      .initial_map_size = 64 << 10,
                                                      .max_map_size = 256 << 10});
  ASSERT_TRUE(j);
  std::uint64_t acknowledged = 0;
  Result<AppendResult> r;
  for (int i = 0; i < 100000; ++i) {
    r = append_one(*j, added("tpl0web0000000000000001", "frk" + std::to_string(i)));
    if (!r) break;
    acknowledged = r->last_seq;
  }
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::journal_full);
  EXPECT_GT(acknowledged, 100u);
  EXPECT_EQ(*j->head(), acknowledged);
  EXPECT_EQ(read_all(*j).size(), acknowledged);
}

TEST(Journal, ReadOnlyJournalRefusesWrites) {
  TempDir dir;
  ASSERT_TRUE(Journal::create(dir.path(), fast()));
  auto j = Journal::open(dir.path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(j);
  auto r = append_one(*j, added("tpl", "f"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

// A child of fork() may open what its parent holds, and dropping a claim it
// inherited does not release the claim of its own open.
TEST(Journal, AForkedChildsClaimsAreItsOwn) {
  TempDir dir;
  auto parents = OpenClaim::take(dir.path());
  ASSERT_TRUE(parents);
  ASSERT_FALSE(parents->empty());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto mine = OpenClaim::take(dir.path());
    if (!mine || mine->empty()) ::_exit(1);
    *parents = OpenClaim();  // the inherited claim, dropped
    ::_exit(OpenClaim::take(dir.path()) ? 2 : 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: refused in the child; 2: a second claim in the child";
  EXPECT_FALSE(OpenClaim::take(dir.path()));  // the parent's stands
}

// The writer is another process: one process opens a journal once.
TEST(Journal, ReadOnlyOpenSeesAWritersCommits) {
  TempDir dir;
  ASSERT_TRUE(Journal::create(dir.path(), fast()));
  auto reader = Journal::open(dir.path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(reader);
  EXPECT_EQ(*reader->head(), 0u);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto writer = Journal::open(dir.path(), fast());
    ::_exit(writer && append_one(*writer, added("tpl", "f")) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(*reader->head(), 1u);
}

// LMDB's locks are lost when a second open of one environment closes: the
// second open is refused while the first lives (and after it, allowed).
TEST(Journal, ASecondOpenInOneProcessIsRefused) {
  TempDir dir;
  auto first = Journal::create(dir.path(), fast());
  ASSERT_TRUE(first);
  for (bool read_only : {false, true}) {
    auto second = Journal::open(dir.path(), JournalOptions{.read_only = read_only});
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::invalid_argument);
    EXPECT_EQ(second.error().message,
              "journal " + dir.path() +
                  " is already open in this process: LMDB allows one open of a journal per "
                  "process (a second one, once closed, drops the first one's locks); share the "
                  "open Journal");
  }
  // Through another name for the same directory, and by create().
  const std::string link = dir.path() + "-link";
  ASSERT_EQ(::symlink(dir.path().c_str(), link.c_str()), 0);
  EXPECT_FALSE(Journal::open(link));
  EXPECT_EQ(Journal::create(dir.path()).error().code, Errc::invalid_argument);
  EXPECT_FALSE(Journal::interrupted_init(dir.path()));
  ::unlink(link.c_str());
  // The claim moves with the Journal and ends with it.
  Journal moved = std::move(*first);
  EXPECT_FALSE(Journal::open(dir.path()));
  TempDir other;
  moved = *Journal::create(other.path(), fast());
  EXPECT_TRUE(Journal::open(dir.path()));
}

TEST(Journal, AMissingSeqIsReportedAsAGap) {
  TempDir dir;
  {
    auto j = Journal::create(dir.path(), fast());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(append_one(*j, added("tpl", "f" + std::to_string(i))));
  }
  {
    auto env = lmdb::Env::open(dir.path(), lmdb::EnvOptions{});
    auto txn = lmdb::Txn::begin(*env, 0);
    auto events = txn->open_db(kEventsDb, MDB_INTEGERKEY);
    std::uint64_t three = 3;
    ASSERT_TRUE(txn->del(*events, lmdb::seq_key(three)));
    ASSERT_TRUE(txn->commit());
  }
  auto j = Journal::open(dir.path(), JournalOptions{.read_only = true});
  auto r = j->read([](Reader& reader) {
    return reader.for_each(1, 5,
                           [](std::uint64_t, std::string_view) -> Result<void> { return {}; });
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::seq_gap);
  EXPECT_EQ(r.error().seq, 3u);
}

// for_each reads records a batch ahead of its visitor: a gap deep in a long
// range still reaches the visitor only after every record before it, in
// order, and a visitor's error stops the walk where it was returned.
TEST(Journal, AGapAfterManyBatchesComesAfterEveryRecordBeforeIt) {
  TempDir dir;
  {
    auto j = Journal::create(dir.path(), fast());
    std::vector<Event> events;
    for (int i = 0; i < 300; ++i) events.push_back(added("tpl", "f" + std::to_string(i)));
    std::vector<EventView> views;
    for (const Event& e : events) views.push_back(view(e));
    ASSERT_TRUE(j->append(views));
  }
  {
    auto env = lmdb::Env::open(dir.path(), lmdb::EnvOptions{});
    auto txn = lmdb::Txn::begin(*env, 0);
    auto events = txn->open_db(kEventsDb, MDB_INTEGERKEY);
    std::uint64_t gone = 200;
    ASSERT_TRUE(txn->del(*events, lmdb::seq_key(gone)));
    ASSERT_TRUE(txn->commit());
  }
  auto j = Journal::open(dir.path(), JournalOptions{.read_only = true});
  std::vector<std::uint64_t> seen;
  auto r = j->read([&](Reader& reader) {
    return reader.for_each(5, 300, [&](std::uint64_t seq, std::string_view) -> Result<void> {
      seen.push_back(seq);
      return {};
    });
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::seq_gap);
  EXPECT_EQ(r.error().seq, 200u);
  ASSERT_EQ(seen.size(), 195u);
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 5 + i);

  seen.clear();
  auto stopped = j->read([&](Reader& reader) {
    return reader.for_each(1, 300, [&](std::uint64_t seq, std::string_view) -> Result<void> {
      seen.push_back(seq);
      if (seq == 70) return make_error(Errc::invalid_argument, "stop here");
      return {};
    });
  });
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().message, "stop here");
  EXPECT_EQ(seen.size(), 70u);
  EXPECT_EQ(seen.back(), 70u);
}

TEST(Journal, SnapshotsKeepTheNewestTwo) {
  TempDir dir;
  auto j = Journal::create(dir.path(), fast());
  for (std::uint64_t seq : {10u, 20u, 30u}) {
    ASSERT_TRUE(
        j->write([&](WriteTxn& w) { return w.put_snapshot(seq, "blob" + std::to_string(seq)); }));
  }
  auto seqs = j->read([](Reader& r) { return r.snapshot_seqs(); });
  EXPECT_EQ(*seqs, (std::vector<std::uint64_t>{20, 30}));
  // The seq and a copy of the blob, taken inside the transaction (the blob
  // points into the map).
  auto at = [&](std::uint64_t bound) {
    return j->read([&](Reader& r) -> Result<std::optional<std::pair<std::uint64_t, std::string>>> {
      auto stored = r.snapshot_at_most(bound);
      if (!stored) return stored.error();
      if (!*stored) return std::nullopt;
      return std::pair{(*stored)->seq, std::string((*stored)->blob)};
    });
  };
  EXPECT_EQ((*at(UINT64_MAX))->first, 30u);
  EXPECT_EQ((*at(30))->second, "blob30");
  EXPECT_EQ((*at(29))->first, 20u);
  EXPECT_EQ((*at(29))->second, "blob20");
  EXPECT_FALSE(*at(19));
}

TEST(Journal, TwoProcessesAppendingAtOnceStayGapFree) {
  TempDir dir;
  ASSERT_TRUE(Journal::create(dir.path(), fast()));
  constexpr int kPerProcess = 300;
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child opens its own environment: LMDB handles never cross fork().
      auto j = Journal::open(dir.path(), fast());
      if (!j) ::_exit(3);
      for (int i = 0; i < kPerProcess; ++i) {
        if (!append_one(*j, added("p" + std::to_string(p), "f" + std::to_string(i)))) ::_exit(4);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto j = Journal::open(dir.path(), JournalOptions{.read_only = true});
  const auto all = read_all(*j);
  ASSERT_EQ(all.size(), 2u * kPerProcess);
  std::set<std::pair<std::string, std::string>> seen;
  std::map<std::string, int> next;  // each process's own events stay in order
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].first, i + 1);
    const Event& e = all[i].second;
    EXPECT_TRUE(seen.emplace(e.template_id, e.fork).second);
    EXPECT_EQ(e.fork, "f" + std::to_string(next[e.template_id]++));
  }
}

}  // namespace
}  // namespace fj
