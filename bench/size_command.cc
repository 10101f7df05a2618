// forkjournal-bench size: bytes per event on disk, for a journal without
// request ids, with a request id on every write (the default window, and no
// window), and for the same records in SQLite; with a breakdown of each
// journal file by database (bench/db_sizes.h).
#include "bench/commands.h"
#include "bench/db_sizes.h"
#include "bench/platform.h"
#include "bench/sqlite_log.h"
#include "bench/workload.h"
#include "journal/journal.h"
#include "projector/ledger.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fj::bench {
namespace {

struct Variant {
  std::string name;  // figure suffix
  std::string what;  // for the table
  bool request_ids = false;
  RequestWindow window;
};

struct Built {
  std::uint64_t file_bytes = 0;
  std::uint64_t compact_bytes = 0;
  std::uint64_t requests_held = 0;
  FileSizes sizes;
};

// Writes the workload `per_commit` events per transaction, as the service's
// group commit does, each event with a fresh 24-character request id when
// the variant says so (stored as the Ledger stores it); then one snapshot, as
// the service writes at stop. Also copies the records into SQLite when
// `sqlite_path` is not empty.
Result<Built> build(const Workload& w, const Variant& v, std::uint64_t per_commit,
                    const std::string& dir, const std::string& sqlite_path) {
  JournalOptions jo;
  jo.sync = SyncMode::none;
  jo.requests = v.window;
  Built out;
  {
    auto journal = Journal::create(dir + "/journal", jo);
    if (!journal) return journal.error();
    std::mt19937_64 rng(0x72657173);
    std::vector<std::string> ids;
    for (std::uint64_t i = 0; i < w.size();) {
      const std::uint64_t end = std::min(w.size(), i + per_commit);
      ids.clear();
      if (v.request_ids) {
        for (std::uint64_t k = i; k < end; ++k) ids.push_back(make_id("req", rng));
      }
      auto wrote = journal->write([&](WriteTxn& t) -> Result<void> {
        for (std::uint64_t k = i; k < end; ++k) {
          const EventView e = w.event(k);
          auto seq = t.append(e);
          if (!seq) return seq.error();
          if (!v.request_ids) continue;
          const RequestRecord record{*seq, *seq, 0, static_cast<std::uint32_t>(*seq * 2654435761u)};
          if (auto ok = t.put_request(ids[k - i], record, e.time_ns); !ok) return ok;
        }
        return {};
      });
      if (!wrote) return wrote.error();
      i = end;
    }
    auto ledger = Ledger::open(*journal);
    if (!ledger) return ledger.error();
    if (auto snap = ledger->snapshot(); !snap) return snap.error();
    auto held = journal->read([](Reader& r) { return r.request_count(); });
    if (!held) return held.error();
    out.requests_held = *held;
    if (!sqlite_path.empty()) {
      if (auto copied = SqliteLog::create_from(sqlite_path, *journal); !copied) {
        return copied.error();
      }
    }
    auto compact = TempDir::create("size-compact");
    if (!compact) return compact.error();
    auto copied = journal->copy_to(compact->path());
    if (!copied) return copied.error();
    out.compact_bytes = *copied;
    auto size = journal->file_size();
    if (!size) return size.error();
    out.file_bytes = *size;
  }
  auto sizes = measure_file(dir + "/journal");
  if (!sizes) return sizes.error();
  out.sizes = std::move(*sizes);
  return out;
}

// SQLite's own account of its table's pages (the dbstat virtual table), if
// this SQLite has it: "" otherwise.
std::string sqlite_breakdown(const std::string& path, std::uint64_t events) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    const char* sql =
        "SELECT count(*), sum(pgsize), sum(payload), sum(unused), sum(ncell), "
        "sum(pagetype = 'leaf') FROM dbstat WHERE name = 'events'";
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const double pages = sqlite3_column_double(stmt, 0);
      const double bytes = sqlite3_column_double(stmt, 1);
      const double payload = sqlite3_column_double(stmt, 2);
      const double unused = sqlite3_column_double(stmt, 3);
      const double leaves = sqlite3_column_double(stmt, 5);
      const double n = static_cast<double>(events);
      char line[400];
      std::snprintf(line, sizeof line,
                    "sqlite events table: %.0f pages (%.0f leaf), %.1f bytes/event: payload "
                    "%.1f, unused %.1f, cell and page headers %.1f; page fill %.1f %%\n",
                    pages, leaves, bytes / n, payload / n, unused / n,
                    (bytes - payload - unused) / n, 100.0 * (bytes - unused) / bytes);
      out = line;
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

std::string breakdown(const std::string& title, const Built& b, std::uint64_t events) {
  std::ostringstream out;
  const double n = static_cast<double>(events);
  const double psize = static_cast<double>(b.sizes.page_size);
  char line[400];
  std::snprintf(line, sizeof line,
                "%s: data.mdb %.1f bytes/event (%llu pages of %llu; %llu in no database), "
                "compacted copy %.1f, request ids held %llu\n",
                title.c_str(), static_cast<double>(b.file_bytes) / n,
                static_cast<unsigned long long>(b.sizes.pages_in_file),
                static_cast<unsigned long long>(b.sizes.page_size),
                static_cast<unsigned long long>(b.sizes.free_pages),
                static_cast<double>(b.compact_bytes) / n,
                static_cast<unsigned long long>(b.requests_held));
  out << line;
  std::snprintf(line, sizeof line, "  %-14s %9s %5s %7s %8s %8s %11s %7s %8s %6s\n", "database",
                "entries", "depth", "branch", "leaf", "overflow", "bytes/event", "key", "value avg",
                "fill");
  out << line;
  for (const DbSize& db : b.sizes.databases) {
    const double entries = static_cast<double>(db.entries);
    const double fill = db.leaf_pages == 0 ? 0
                                           : 100.0 * static_cast<double>(db.node_bytes) /
                                                 (static_cast<double>(db.leaf_pages) * psize);
    std::snprintf(
        line, sizeof line, "  %-14s %9llu %5llu %7llu %8llu %8llu %11.2f %7.1f %8.1f %5.1f%%\n",
        db.name.c_str(), static_cast<unsigned long long>(db.entries),
        static_cast<unsigned long long>(db.depth), static_cast<unsigned long long>(db.branch_pages),
        static_cast<unsigned long long>(db.leaf_pages),
        static_cast<unsigned long long>(db.overflow_pages),
        static_cast<double>(db.pages()) * psize / n,
        entries == 0 ? 0 : static_cast<double>(db.key_bytes) / entries,
        entries == 0 ? 0 : static_cast<double>(db.value_bytes) / entries, fill);
    out << line;
  }
  std::snprintf(line, sizeof line, "  %-14s %9s %5s %7s %8llu %8s %11.2f\n", "(no database)", "",
                "", "", static_cast<unsigned long long>(b.sizes.free_pages), "",
                static_cast<double>(b.sizes.free_pages) * psize / n);
  out << line;
  return out.str();
}

boost::json::object to_json(const Built& b) {
  boost::json::array dbs;
  for (const DbSize& db : b.sizes.databases) {
    dbs.push_back({{"name", db.name},
                   {"entries", db.entries},
                   {"depth", db.depth},
                   {"branch_pages", db.branch_pages},
                   {"leaf_pages", db.leaf_pages},
                   {"overflow_pages", db.overflow_pages},
                   {"key_bytes", db.key_bytes},
                   {"value_bytes", db.value_bytes},
                   {"node_bytes", db.node_bytes}});
  }
  return {{"file_bytes", b.file_bytes},
          {"compact_bytes", b.compact_bytes},
          {"requests_held", b.requests_held},
          {"page_size", b.sizes.page_size},
          {"pages_in_file", b.sizes.pages_in_file},
          {"pages_in_no_database", b.sizes.free_pages},
          {"databases", std::move(dbs)}};
}

}  // namespace

Result<Report> run_size(const SizeArgs& args) {
  const std::uint64_t n = args.events;
  Progress progress;
  progress.note("generating " + grouped(n) + " events");
  const Workload w = Workload::generate(WorkloadSpec{n, args.templates, args.live_forks});
  // The default count with no minimum age: this writes the ids within
  // seconds, and a minute's worth at that rate would be all of them. A daemon
  // writing a few hundred ids a second or fewer, whose window the count
  // bounds, reaches this steady state.
  const RequestWindow window{.min_age = std::chrono::milliseconds(0)};
  const std::vector<Variant> variants{
      {"no_ids", "journal, no request ids", false, window},
      {"ids_window",
       "journal, a request id per event, window of " + grouped(window.max_count) + " ids", true,
       window},
      {"ids_unbounded", "journal, a request id per event, no window", true,
       RequestWindow{.max_count = 0}},
  };

  Report r;
  r.command = "size";
  r.title = "forkjournal-bench size: " + grouped(n) + " events, " + grouped(args.per_commit) +
            " per transaction";
  r.parameters = {{"events", n},
                  {"per_commit", args.per_commit},
                  {"templates", args.templates},
                  {"live_forks", args.live_forks},
                  {"request_window", window.max_count}};
  auto dir = TempDir::create("size");
  if (!dir) return dir.error();
  const std::string sqlite_path = dir->sub("sqlite.db");
  boost::json::object extra;
  for (const Variant& v : variants) {
    progress.note("building: " + v.what);
    auto built = build(w, v, args.per_commit, dir->sub(v.name), v.request_ids ? "" : sqlite_path);
    if (!built) return built.error();
    const double nd = static_cast<double>(n);
    r.figures.push_back(figure("bytes_per_event_" + v.name, "bytes",
                               {static_cast<double>(built->file_bytes) / nd},
                               v.what + ": data.mdb / events"));
    r.figures.push_back(figure("compact_bytes_per_event_" + v.name, "bytes",
                               {static_cast<double>(built->compact_bytes) / nd},
                               v.what + ": compacted copy (copy_to) / events"));
    r.extra_text += breakdown(v.what, *built, n) + "\n";
    extra[v.name] = to_json(*built);
  }
  auto sqlite_bytes = file_size(sqlite_path);
  if (!sqlite_bytes) return sqlite_bytes.error();
  r.figures.push_back(figure("bytes_per_event_sqlite", "bytes",
                             {static_cast<double>(*sqlite_bytes) / static_cast<double>(n)},
                             "SQLite events(seq INTEGER PRIMARY KEY, record BLOB), WAL "
                             "checkpointed: file / events"));
  r.extra_text += sqlite_breakdown(sqlite_path, n);
  extra["sqlite_bytes"] = *sqlite_bytes;
  r.extra["size"] = std::move(extra);
  const auto median = [&](const char* name) { return r.find(name)->value.median; };
  r.ratios = {
      {"bytes_per_event_no_ids / bytes_per_event_sqlite",
       median("bytes_per_event_no_ids") / median("bytes_per_event_sqlite")},
      {"compact_bytes_per_event_no_ids / bytes_per_event_sqlite",
       median("compact_bytes_per_event_no_ids") / median("bytes_per_event_sqlite")},
      {"bytes_per_event_ids_window / bytes_per_event_no_ids",
       median("bytes_per_event_ids_window") / median("bytes_per_event_no_ids")},
  };
  progress.note("done");
  return r;
}

}  // namespace fj::bench
