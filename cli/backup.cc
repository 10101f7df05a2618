// backup and restore: a compacted, audited copy of one journal into an empty
// directory, staged in DEST/.partial and renamed into place only once the
// copy is durable and audits clean, so DEST never holds a data.mdb that is
// not a good copy.
#include "cli/commands.h"

#include "journal/hex.h"
#include "journal/internal/dir_sync.h"
#include "projector/audit.h"

#include <boost/json/serialize.hpp>

#include <filesystem>
#include <iostream>

#include <sys/stat.h>

namespace fj::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kStaging = ".partial";

// What a copy created, removed again unless it succeeds.
class Created {
 public:
  explicit Created(fs::path dest) : dest_(std::move(dest)) {}
  Created(const Created&) = delete;
  Created& operator=(const Created&) = delete;
  ~Created() {
    if (kept_) return;
    std::error_code ec;
    fs::remove_all(dest_ / kStaging, ec);
    if (placed_) fs::remove(dest_ / "data.mdb", ec);
    if (made_dest_) fs::remove(dest_, ec);
  }
  void made_dest() { made_dest_ = true; }
  void placed() { placed_ = true; }
  void keep() { kept_ = true; }

 private:
  fs::path dest_;
  bool made_dest_ = false;
  bool placed_ = false;
  bool kept_ = false;
};

Error usage(std::string message) {
  return make_error(Errc::invalid_argument, std::move(message));
}

// Checks that dest is an empty directory, or creates it (0700).
Result<void> prepare(const fs::path& dest, Created& created) {
  std::error_code ec;
  const auto status = fs::symlink_status(dest, ec);
  if (status.type() == fs::file_type::not_found) {
    if (::mkdir(dest.c_str(), 0700) != 0) {
      return errno_error("cannot create the directory " + dest.string(), errno);
    }
    created.made_dest();
    return {};
  }
  if (ec) return usage("cannot inspect " + dest.string() + ": " + ec.message());
  if (!fs::is_directory(dest, ec)) {
    return usage(dest.string() + " exists and is not a directory: give a new or empty directory");
  }
  if (!fs::is_empty(dest, ec) || ec) {
    return usage(dest.string() + " is not empty: give a new or empty directory");
  }
  return {};
}

struct Copied {
  AuditReport audit;
  std::uint64_t bytes = 0;
};

// Copies the journal at `src` into dest/.partial/data.mdb and audits the
// copy; moves it to dest/data.mdb only when the audit is clean.
Result<Copied> copy_and_audit(const std::string& src, const fs::path& dest, Created& created) {
  auto source = Journal::open(src, JournalOptions{.read_only = true});
  if (!source) return source.error();
  if (auto ok = prepare(dest, created); !ok) return ok.error();
  const fs::path staging = dest / kStaging;
  if (::mkdir(staging.c_str(), 0700) != 0) {
    return errno_error("cannot create the directory " + staging.string(), errno);
  }
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
  if (::rename((staging / "data.mdb").c_str(), placed.c_str()) != 0) {
    return errno_error("cannot move the copy into " + placed.string(), errno);
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

int copy_command(const std::string& src, const std::string& dest_arg, const std::string& verb,
                 const Options& o) {
  fs::path dest(dest_arg);
  Created created(dest);
  auto copied = copy_and_audit(src, dest, created);
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
  return copy_command(o.journal, o.dest, "copied", o);
}

int cmd_restore(const Options& o) {
  return copy_command(o.source, o.journal, "restored", o);
}

}  // namespace fj::cli
