// backup and restore: a compacted, audited copy of one journal into an empty
// directory, staged in DEST/.partial and renamed into place only once the
// copy is durable and audits clean, so DEST never holds a data.mdb that is
// not a good copy.
#include "cli/commands.h"

#include "cli/target_dir.h"
#include "journal/hex.h"
#include "journal/internal/dir_sync.h"
#include "projector/audit.h"

#include <boost/json/serialize.hpp>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fj::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// What a copy created, removed again unless it succeeds. Only that: a DEST
// that held anything, a .partial of another run (killed, or still copying)
// included, is refused before anything is created, and nothing else in DEST
// is ever removed.
class Created {
 public:
  explicit Created(fs::path dest) : dest_(std::move(dest)) {}
  Created(const Created&) = delete;
  Created& operator=(const Created&) = delete;
  ~Created() {
    if (kept_) return;
    std::error_code ec;
    if (made_staging_) fs::remove_all(dest_ / kStaging, ec);
    if (placed_) fs::remove(dest_ / "data.mdb", ec);
    // Only while empty: another run may have started to fill it meanwhile.
    if (made_dest_) fs::remove(dest_, ec);
  }
  void made_dest() { made_dest_ = true; }
  void made_staging() { made_staging_ = true; }
  void placed() { placed_ = true; }
  void keep() { kept_ = true; }

 private:
  fs::path dest_;
  bool made_dest_ = false;
  bool made_staging_ = false;
  bool placed_ = false;
  bool kept_ = false;
};

Error usage(std::string message) {
  return make_error(Errc::invalid_argument, std::move(message));
}

// `what` is "backup" or "restore".
Error staging_left(const fs::path& dest, const std::string& what) {
  return usage(dest.string() + " holds only " + kStaging + ", left by an interrupted " + what +
               " (or one still running): remove " + (dest / kStaging).string() +
               " by hand once no " + what + " into " + dest.string() + " is running");
}

// Checks that dest is an empty directory, or creates it (0700).
Result<void> prepare(const fs::path& dest, const std::string& what, Created& created) {
  for (int attempt = 0;; ++attempt) {
    auto target = inspect_target(dest.string());
    if (!target) return target.error();
    switch (*target) {
      case Target::missing:
        if (::mkdir(dest.c_str(), 0700) == 0) {
          created.made_dest();
          return {};
        }
        // Made by another process just now: look again at what it is.
        if (errno == EEXIST && attempt == 0) continue;
        return errno_error("cannot create the directory " + dest.string(), errno);
      case Target::not_a_directory:
        return usage(dest.string() +
                     " exists and is not a directory: give a new or empty directory");
      case Target::empty:
        return {};
      case Target::only_staging:
        return staging_left(dest, what);
      case Target::holds_files:
        return usage(dest.string() + " is not empty: give a new or empty directory");
    }
  }
}

// Moves the file `from` to the name `to`, which must not exist: never over a
// data.mdb another run placed meanwhile. Returns 0 or the errno (EEXIST: `to`
// exists).
int place(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // A file system without RENAME_NOREPLACE: a hard link is never made over a
  // name either.
  if (::link(from.c_str(), to.c_str()) != 0) return errno;
  // The copy is in place; the staging name goes with the staging directory.
  ::unlink(from.c_str());
  return 0;
}

// restore's SRC, when it is a directory without a data.mdb. Journal::open
// would say "no journal (create one with 'forkjournal init')", sending the
// user to make a journal of the backup directory.
Result<void> check_backup_dir(const std::string& src) {
  struct stat st {};
  if (::stat(src.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};  // Journal::open says why
  if (::lstat((fs::path(src) / "data.mdb").c_str(), &st) == 0 || errno != ENOENT) return {};
  std::string message = src +
                        " holds no journal to restore (no data.mdb): a backup directory holds the "
                        "data.mdb that 'forkjournal backup' wrote";
  if (::lstat((fs::path(src) / kStaging).c_str(), &st) == 0) {
    message += std::string("; its ") + kStaging +
               " was left by a backup that did not finish and is no copy";
  }
  return make_error(Errc::not_a_journal, std::move(message));
}

struct Copied {
  AuditReport audit;
  std::uint64_t bytes = 0;
};

// Copies the journal at `src` into dest/.partial/data.mdb and audits the
// copy; moves it to dest/data.mdb only when the audit is clean.
Result<Copied> copy_and_audit(const std::string& src, const fs::path& dest, const std::string& what,
                              Created& created) {
  auto source = Journal::open(src, JournalOptions{.read_only = true});
  if (!source) return source.error();
  if (auto ok = prepare(dest, what, created); !ok) return ok.error();
  const fs::path staging = dest / kStaging;
  // Exclusive: of two runs into one DEST, the second finds the first's.
  if (::mkdir(staging.c_str(), 0700) != 0) {
    if (errno == EEXIST) return staging_left(dest, what);
    return errno_error("cannot create the directory " + staging.string(), errno);
  }
  created.made_staging();
  Copied out;
  auto bytes = source->copy_to(staging.string());
  if (!bytes) return bytes.error();
  out.bytes = *bytes;
  {
    // Without a lock file the read-only open creates none and takes no lock:
    // nobody else knows of the staging directory.
    auto copy = Journal::open(staging.string(), JournalOptions{.read_only = true});
    if (!copy) return copy.error();
    auto report = audit(*copy);
    if (!report) return report.error();
    out.audit = std::move(*report);
  }
  if (!out.audit.ok()) return out;
  const fs::path placed = dest / "data.mdb";
  if (const int err = place(staging / "data.mdb", placed); err == EEXIST) {
    return usage(placed.string() + " appeared while copying (another backup or restore into " +
                 dest.string() + "?): left as it is, this copy removed");
  } else if (err != 0) {
    return errno_error("cannot move the copy into " + placed.string(), err);
  }
  created.placed();
  std::error_code ec;
  fs::remove(staging, ec);
  if (ec) return errno_error("cannot remove " + staging.string(), ec.value());
  if (auto ok = sync_directory(dest.string()); !ok) return ok.error();
  fs::path absolute = fs::absolute(dest, ec).lexically_normal();
  if (!absolute.has_filename()) absolute = absolute.parent_path();  // "DEST/"
  if (auto ok = sync_directory(absolute.parent_path().string()); !ok) return ok.error();
  return out;
}

// `verb` starts the report ("copied", "restored"); `what` names the command.
int copy_command(const std::string& src, const std::string& dest_arg, const std::string& verb,
                 const std::string& what, const Options& o) {
  fs::path dest(dest_arg);
  Created created(dest);
  auto copied = copy_and_audit(src, dest, what, created);
  if (!copied) return report(copied.error());
  const AuditReport& a = copied->audit;
  if (!a.ok()) {
    std::cerr << "forkjournal: the copy of " << src << " does not audit clean; nothing kept in "
              << dest_arg << " (run 'forkjournal audit' on " << src << ")\n";
    for (const AuditFinding& f : a.findings) {
      std::cerr << "  seq " << f.seq << "  " << f.kind << ": " << f.detail << '\n';
    }
    return 1;
  }
  created.keep();
  const std::string chain = to_hex(a.chain_head);
  if (o.json) {
    std::cout << json::serialize(json::object{{"dest", dest_arg},
                                              {"head_seq", a.head_seq},
                                              {"chain_head", chain},
                                              {"bytes", copied->bytes},
                                              {"audit", "clean"}})
              << '\n';
    return 0;
  }
  std::cout << verb << " " << src << " to " << (dest / "data.mdb").string() << " (" << copied->bytes
            << " bytes, compacted)\n"
            << "head seq " << a.head_seq << ", chain head " << chain << "\n"
            << "audit: clean (" << a.records << " records)\n"
            << "check a restored journal with: forkjournal --journal DIR audit --expect-head "
            << a.head_seq << ":" << chain << '\n';
  return 0;
}

}  // namespace

int cmd_backup(const Options& o) {
  return copy_command(o.journal, o.dest, "copied", "backup", o);
}

int cmd_restore(const Options& o) {
  if (auto ok = check_backup_dir(o.source); !ok) return report(ok.error());
  return copy_command(o.source, o.journal, "restored", "restore", o);
}

}  // namespace fj::cli
