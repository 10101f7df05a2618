#include "bench/first_pass.h"

#include "bench/lmdb_scan.h"
#include "bench/measure.h"
#include "bench/platform.h"
#include "bench/sqlite_log.h"
#include "journal/journal.h"
#include "projector/audit.h"
#include "projector/replay.h"

#include <boost/json.hpp>

#include <array>
#include <cstdio>

namespace fj::bench {
namespace {

constexpr std::array kAll{FirstPass::replay, FirstPass::scan, FirstPass::audit,
                          FirstPass::sqlite_replay};

Result<Journal> open_read_only(const std::string& dir) {
  JournalOptions o;
  o.read_only = true;
  return Journal::open(dir, o);
}

// Opens what `what` reads and reads all of it; returns the records read.
Result<std::uint64_t> read_once(FirstPass what, const std::string& path) {
  switch (what) {
    case FirstPass::replay: {
      auto journal = open_read_only(path);
      if (!journal) return journal.error();
      auto state = replay(*journal);
      if (!state) return state.error();
      return state->seq();
    }
    case FirstPass::scan: {
      auto scan = LmdbScan::open(path);
      if (!scan) return scan.error();
      auto r = scan->scan();
      if (!r) return r.error();
      return r->records;
    }
    case FirstPass::audit: {
      auto journal = open_read_only(path);
      if (!journal) return journal.error();
      auto report = audit(*journal);
      if (!report) return report.error();
      if (!report->ok()) {
        return make_error(Errc::invalid_argument, "the audit of an intact corpus found " +
                                                      std::to_string(report->findings.size()) +
                                                      " problems, the first " +
                                                      report->findings.front().kind + " at seq " +
                                                      std::to_string(report->findings.front().seq));
      }
      return report->records;
    }
    case FirstPass::sqlite_replay: {
      auto db = SqliteLog::open(path);
      if (!db) return db.error();
      auto state = db->replay();
      if (!state) return state.error();
      return state->seq();
    }
  }
  return make_error(Errc::invalid_argument, "unknown first pass");
}

}  // namespace

std::string_view first_pass_name(FirstPass what) noexcept {
  switch (what) {
    case FirstPass::replay:
      return "replay";
    case FirstPass::scan:
      return "scan";
    case FirstPass::audit:
      return "audit";
    case FirstPass::sqlite_replay:
      return "sqlite-replay";
  }
  return "unknown";
}

Result<FirstPassRun> run_first_pass(FirstPass what, const std::string& path) {
  const std::vector<std::string> argv{
      self_path(), "first-pass", "--what", std::string(first_pass_name(what)), "--path", path};
  auto output = run_program(argv);
  if (!output) return output.error();
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(*output, ec);
  if (ec || !v.is_object() || !v.as_object().contains("seconds") ||
      !v.as_object().contains("records")) {
    return make_error(Errc::io_error, "first-pass printed no result: " + *output);
  }
  const auto& o = v.as_object();
  return FirstPassRun{boost::json::value_to<double>(o.at("seconds")),
                      boost::json::value_to<std::uint64_t>(o.at("records"))};
}

int first_pass_child(const std::string& what, const std::string& path) {
  for (FirstPass w : kAll) {
    if (first_pass_name(w) != what) continue;
    Stopwatch clock;
    auto records = read_once(w, path);
    const double seconds = clock.seconds();
    if (!records) {
      std::fprintf(stderr, "forkjournal-bench first-pass: %s\n", records.error().message.c_str());
      return 2;
    }
    std::printf("{\"seconds\": %.9f, \"records\": %llu}\n", seconds,
                static_cast<unsigned long long>(*records));
    return 0;
  }
  std::fprintf(stderr, "forkjournal-bench first-pass: unknown --what %s\n", what.c_str());
  return 2;
}

}  // namespace fj::bench
