// forkjournal-bench scan: how long fj::gc::scan takes over a VM manager's data
// root of N instances (bench/data_root.h), with warm caches and after the
// system's page cache, dentries and inodes are dropped.
#include "bench/commands.h"
#include "bench/data_root.h"
#include "bench/platform.h"
#include "gc/reconciler.h"
#include "gc/scanner.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace fj::bench {
namespace {

// What one scan found, checked against what the root holds.
struct Found {
  std::uint64_t present = 0;
  std::uint64_t instances = 0;
  std::uint64_t unreadable = 0;
  std::uint64_t templates = 0;
  std::uint64_t forks = 0;
  std::uint64_t sources = 0;
};

boost::json::object to_json(const Found& f) {
  return {{"present", f.present},     {"instances", f.instances}, {"unreadable", f.unreadable},
          {"templates", f.templates}, {"forks", f.forks},         {"template_sources", f.sources}};
}

Result<Found> check(const gc::ScanResult& s, const DataRootCounts& want) {
  Found f{s.present.size(), s.instances.size(), s.unreadable.size(), s.templates.size(), 0, 0};
  for (const gc::Instance& i : s.instances) {
    f.forks += i.fork_of.empty() ? 0 : 1;
    f.sources += i.is_template ? 1 : 0;
  }
  if (f.present == want.instances && f.instances == want.instances && f.unreadable == 0 &&
      f.templates == want.templates && f.forks == want.forks && f.sources == want.templates) {
    return f;
  }
  std::string message = "the scan found " + grouped(f.present) + " entries, " +
                        grouped(f.instances) + " instances (" + grouped(f.forks) + " forks, " +
                        grouped(f.sources) + " template sources), " + grouped(f.templates) +
                        " templates and " + grouped(f.unreadable) + " unreadable";
  if (!s.unreadable.empty()) {
    const gc::UnreadableFile& u = s.unreadable.front();
    message += " (first: " + u.id + ", " + std::string(gc::unreadable_name(u.reason)) + ", " +
               u.detail + ")";
  }
  message += "; the root holds " + grouped(want.instances) + " instances (" + grouped(want.forks) +
             " forks) and " + grouped(want.templates) + " templates";
  return make_error(Errc::invalid_argument, message);
}

// One timed fj::gc::scan on `threads` threads; the check runs after the
// clock stops.
Result<double> time_scan(const std::string& root, unsigned threads, const DataRootCounts& want,
                         Found& found) {
  gc::ScanOptions options;
  options.threads = threads;
  Stopwatch clock;
  auto result = gc::scan(root, options);
  const double seconds = clock.seconds();
  if (!result) return result.error();
  auto checked = check(*result, want);
  if (!checked) return checked.error();
  found = *checked;
  return seconds;
}

// One timed plan_reconcile of `scan` against a journal that agrees with it
// (every template registered, every fork live): what a daemon's periodic
// reconcile costs once the scan is done. It must find nothing to correct.
Result<double> time_plan(const gc::ScanResult& scan) {
  Projection state;
  std::uint64_t seq = 0;
  for (const gc::TemplateRecord& t : scan.templates) {
    Event e;
    e.type = EventType::template_registered;
    e.template_id = t.id;
    e.source = t.source;
    e.name = t.name;
    state.apply(++seq, view(e));
  }
  for (const gc::Instance& in : scan.instances) {
    if (in.fork_of.empty()) continue;
    Event e;
    e.type = EventType::fork_added;
    e.template_id = in.fork_of;
    e.fork = in.id;
    state.apply(++seq, view(e));
  }
  Stopwatch clock;
  const gc::ReconcilePlan plan = gc::plan_reconcile(state, scan, 1);
  const double seconds = clock.seconds();
  if (!plan.corrections.empty() || !plan.sweeps.empty() || plan.needs_attention()) {
    return make_error(Errc::invalid_argument,
                      "plan_reconcile over the generated root found " +
                          grouped(plan.corrections.size()) + " corrections and " +
                          grouped(plan.sweeps.size()) + " sweeps; want none");
  }
  return seconds;
}

}  // namespace

Result<Report> run_scan(const ScanArgs& args) {
  DataRootSpec spec;
  spec.instances = args.instances;
  spec.templates = args.templates;
  if (args.links == "symlink") {
    spec.links = MemoryLinks::symlink;
  } else if (args.links == "hardlink") {
    spec.links = MemoryLinks::hardlink;
  } else {
    return make_error(Errc::invalid_argument,
                      "--links must be symlink or hardlink, not " + args.links);
  }
  auto plan = plan_data_root(spec);
  if (!plan) return plan.error();
  const int reps = args.repetitions;
  Progress progress;

  auto dir = TempDir::create("scan");
  if (!dir) return dir.error();
  char resolved[PATH_MAX];
  if (::realpath(dir->path().c_str(), resolved) == nullptr) {
    return errno_error("realpath " + dir->path(), errno);
  }
  const std::string root = resolved;  // absolute: the symlinks' targets start with it
  progress.note("building a data root in " + root + ": " + grouped(plan->instances) +
                " instances (" + grouped(plan->templates) + " templates with their sources, " +
                grouped(plan->forks) + " forks with " + args.links + "ed memory, " +
                grouped(plan->plain) + " plain)");
  Stopwatch build_clock;
  auto counts = build_data_root(root, spec, progress);
  if (!counts) return counts.error();
  ::sync();  // so that writeback does not run under the timed scans
  const double build_seconds = build_clock.seconds();

  Found found;
  const unsigned threads = args.threads;
  const std::string on_threads = " on " + std::to_string(threads) + " threads";
  progress.note("fj::gc::scan, warm, on 1 and" + on_threads + ": 1 warm-up + " +
                std::to_string(reps) + " runs each");
  auto warm = repeat(reps, [&] { return time_scan(root, threads, *counts, found); });
  if (!warm) return warm.error();
  auto warm_1 = repeat(reps, [&] { return time_scan(root, 1, *counts, found); });
  if (!warm_1) return warm_1.error();

  progress.note("plan_reconcile of the scan against an agreeing journal: 1 warm-up + " +
                std::to_string(reps) + " runs");
  auto scanned = gc::scan(root);
  if (!scanned) return scanned.error();
  auto planning = repeat(reps, [&] { return time_plan(*scanned); });
  if (!planning) return planning.error();
  scanned->instances.clear();  // the cold runs below want the memory back
  scanned->memory.clear();

  std::vector<double> cold, cold_1;
  std::string cold_error;
  progress.note("fj::gc::scan, cold: sync + drop_caches before each of " + std::to_string(reps) +
                " runs, alternating 1 thread and" + on_threads);
  for (int i = 0; i < 2 * reps; ++i) {
    if (auto dropped = drop_system_caches(); !dropped) {
      if (i > 0) return dropped.error();
      cold_error = dropped.error().message;
      progress.note("cold runs skipped: " + cold_error);
      break;
    }
    const bool one = i % 2 == 0;
    auto seconds = time_scan(root, one ? 1 : threads, *counts, found);
    if (!seconds) return seconds.error();
    (one ? cold_1 : cold).push_back(*seconds);
  }

  const std::uint64_t n = counts->instances;
  Report r;
  r.command = "scan";
  r.title = "forkjournal-bench scan: fj::gc::scan over " + grouped(n) + " instances (" +
            grouped(counts->templates) + " templates, " + grouped(counts->forks) + " forks with " +
            args.links + "ed memory, " + grouped(counts->plain) + " plain)";
  r.parameters = {{"instances", n},      {"templates", counts->templates}, {"links", args.links},
                  {"repetitions", reps}, {"forks", counts->forks},         {"plain", counts->plain},
                  {"threads", threads}};
  r.figures.push_back(figure("scan_warm_s", "s", *warm,
                             "fj::gc::scan of the whole root" + on_threads + ", caches warm"));
  r.figures.push_back(figure("scan_warm_instances_per_s", "instances/s", rates(n, *warm),
                             "instances / scan_warm_s"));
  r.figures.push_back(figure("scan_warm_1_thread_s", "s", *warm_1, "the same on 1 thread"));
  r.figures.push_back(figure("plan_s", "s", *planning,
                             "plan_reconcile of one scan against a journal that agrees with it"));
  const std::string cold_note =
      "each run (no warm-up) after sync + echo 3 > /proc/sys/vm/drop_caches";
  const auto nan = std::numeric_limits<double>::quiet_NaN();
  const auto median = [&](const char* name) { return r.find(name)->value.median; };
  r.ratios.push_back({"scan_warm_1_thread_s / scan_warm_s",
                      median("scan_warm_1_thread_s") / median("scan_warm_s")});
  if (cold_error.empty()) {
    r.figures.push_back(figure("scan_cold_s", "s", cold, "scan_warm_s, " + cold_note));
    r.figures.push_back(figure("scan_cold_instances_per_s", "instances/s", rates(n, cold),
                               "instances / scan_cold_s"));
    r.figures.push_back(
        figure("scan_cold_1_thread_s", "s", cold_1, "scan_warm_1_thread_s, " + cold_note));
    r.ratios.push_back(
        {"scan_cold_s / scan_warm_s", median("scan_cold_s") / median("scan_warm_s")});
    r.ratios.push_back({"scan_cold_1_thread_s / scan_cold_s",
                        median("scan_cold_1_thread_s") / median("scan_cold_s")});
  } else {
    for (const char* name : {"scan_cold_s", "scan_cold_1_thread_s"}) {
      r.figures.push_back(unavailable_figure(name, "s", "needs root", cold_note));
    }
    r.figures.push_back(unavailable_figure("scan_cold_instances_per_s", "instances/s", "needs root",
                                           "instances / scan_cold_s"));
    r.ratios.push_back({"scan_cold_s / scan_warm_s", nan});
    r.ratios.push_back({"scan_cold_1_thread_s / scan_cold_s", nan});
    r.notes.push_back("no cold figures: " + cold_error);
  }
  r.figures.push_back(figure("build_root_s", "s", {build_seconds},
                             "creating the data root, then sync (context, not a scan figure)"));

  const bool in_memory = on_memory_file_system(root);
  if (in_memory && cold_error.empty()) {
    r.notes.push_back(
        "the data root is on tmpfs, which drop_caches cannot evict: the cold "
        "figures are warm ones; set TMPDIR to a disk-backed directory");
  }
  r.extra["scan"] = to_json(found);
  r.extra["cold_cache"] = {
      {"available", cold_error.empty()},
      {"error", cold_error.empty() ? boost::json::value(nullptr) : boost::json::value(cold_error)},
      {"data_root_on_tmpfs", in_memory}};
  r.extra_text = "every scan found " + grouped(found.present) + " entries under guests/, " +
                 grouped(found.instances) + " instances (" + grouped(found.forks) + " forks, " +
                 grouped(found.sources) + " template sources), " + grouped(found.templates) +
                 " templates, " + grouped(found.unreadable) + " unreadable\n";
  progress.note("done; removing the data root");
  return r;
}

}  // namespace fj::bench
