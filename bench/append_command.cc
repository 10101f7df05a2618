// forkjournal-bench append: what an event costs to record, in big batches, one
// durable commit at a time, and with the mutable-counter file registry this
// project replaces.
#include "bench/commands.h"
#include "bench/file_registry.h"
#include "bench/group_commit.h"
#include "bench/platform.h"
#include "bench/workload.h"
#include "journal/journal.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace fj::bench {
namespace {

// Seconds spent in Journal::append writing the first `count` events of `w` to
// a fresh journal, `batch` events per transaction. Progress lines fall
// outside the time measured.
Result<double> time_appends(const Workload& w, std::uint64_t count, std::size_t batch,
                            SyncMode sync, Progress& progress, std::string_view what) {
  auto dir = TempDir::create("append");
  if (!dir) return dir.error();
  JournalOptions jo;
  jo.sync = sync;
  auto journal = Journal::create(dir->sub("journal"), jo);
  if (!journal) return journal.error();
  std::vector<EventView> views;
  views.reserve(batch);
  double seconds = 0;
  for (std::uint64_t i = 0; i < count;) {
    views.clear();
    for (; i < count && views.size() < batch; ++i) views.push_back(w.event(i));
    Stopwatch clock;
    auto appended = journal->append(views);
    seconds += clock.seconds();
    if (!appended) return appended.error();
    progress.every_2s(what, i, count);
  }
  return seconds;
}

// Seconds for a file registry to record the first `count` events of `w`.
Result<double> time_registry(const Workload& w, std::uint64_t count) {
  auto dir = TempDir::create("registry");
  if (!dir) return dir.error();
  auto registry = FileRegistry::open(dir->path());
  if (!registry) return registry.error();
  Stopwatch clock;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (auto ok = registry->apply(w.event(i)); !ok) return ok.error();
  }
  return clock.seconds();
}

}  // namespace

Result<Report> run_append(const AppendArgs& args) {
  const CommonArgs& a = args.common;
  const std::uint64_t n = args.events;
  const std::uint64_t durable = std::min(args.durable_events, n);
  const int reps = a.repetitions;
  Progress progress;
  progress.note("generating " + grouped(n) + " events");
  const Workload w = Workload::generate(WorkloadSpec{n, a.templates, a.live_forks});

  Report r;
  r.command = "append";
  r.title = "forkjournal-bench append: " + grouped(n) + " events in batches of " +
            grouped(kAppendBatch) + "; " + grouped(durable) + " durable single appends";
  r.parameters = {{"events", n},
                  {"durable_events", durable},
                  {"batch", kAppendBatch},
                  {"clients", args.clients},
                  {"templates", a.templates},
                  {"live_forks", a.live_forks},
                  {"repetitions", a.repetitions}};

  progress.note("batch appends (" + grouped(kAppendBatch) + " events per transaction, no sync)");
  auto batch = repeat(
      reps, [&] { return time_appends(w, n, kAppendBatch, SyncMode::none, progress, "batch"); });
  if (!batch) return batch.error();
  progress.note("durable single appends (one event per transaction, full sync)");
  auto single = repeat(reps, [&] {
    return time_appends(w, durable, 1, SyncMode::full, progress, "durable single appends");
  });
  if (!single) return single.error();
  progress.note("file registry (write-temp, fsync, rename per event)");
  auto registry = repeat(reps, [&] { return time_registry(w, durable); });
  if (!registry) return registry.error();

  // One durable single append is one commit with its fsync: the cost an
  // append's CPU is set against below.
  std::vector<double> single_us;
  for (double seconds : *single) single_us.push_back(seconds / static_cast<double>(durable) * 1e6);
  r.figures = {
      figure("batch_append_eps", "events/s", rates(n, *batch),
             "Journal::append, " + grouped(kAppendBatch) + " events per transaction, no sync"),
      figure("durable_single_eps", "events/s", rates(durable, *single),
             "Journal::append, one event per transaction, fsync per commit"),
      figure("registry_file_eps", "events/s", rates(durable, *registry),
             "one JSON file per template, fork_count rewritten: write temp, fsync, rename"),
      figure("durable_single_us", "us", single_us,
             "one durable single append: a commit and its fsync"),
  };
  const auto median = [&](const char* name) { return r.find(name)->value.median; };
  r.ratios = {
      {"batch_append_eps / durable_single_eps",
       median("batch_append_eps") / median("durable_single_eps")},
      {"durable_single_eps / registry_file_eps",
       median("durable_single_eps") / median("registry_file_eps")},
  };
  // Group commit through the embeddable service, full sync: 1, 8 and C clients.
  std::vector<std::uint32_t> client_counts{1, 8, args.clients};
  std::sort(client_counts.begin(), client_counts.end());
  client_counts.erase(std::unique(client_counts.begin(), client_counts.end()), client_counts.end());
  for (std::uint32_t clients : client_counts) {
    const std::uint64_t count = std::max<std::uint64_t>(durable, 8ull * clients);
    progress.note("group commit, " + std::to_string(clients) + " clients, full sync");
    std::vector<double> per_commit;
    std::vector<double> cpu_us;
    bool warm = false;  // repeat() discards its first run
    auto runs = repeat(reps, [&]() -> Result<double> {
      auto run = time_group_commit(count, clients);
      if (!run) return run.error();
      per_commit.push_back(run->events_per_commit);
      if (warm) cpu_us.push_back(run->cpu_seconds / static_cast<double>(count) * 1e6);
      warm = true;
      return run->seconds;
    });
    if (!runs) return runs.error();
    const std::string name = clients == args.clients
                                 ? std::string("group_commit_eps")
                                 : "group_commit_" + std::to_string(clients) + "_eps";
    r.figures.push_back(figure(name, "events/s", rates(count, *runs),
                               std::to_string(clients) +
                                   " clients through the service, one request each at a time, "
                                   "fsync per commit"));
    const std::string stem = name.substr(0, name.size() - 4);
    r.figures.push_back(figure(stem + "_events_per_commit", "events", per_commit,
                               "acknowledged appends per commit"));
    r.figures.push_back(figure(stem + "_cpu_us_per_event", "us", cpu_us,
                               "process CPU (user + system, all threads) per acknowledged append"));
  }
  r.ratios.push_back({"group_commit_eps / durable_single_eps",
                      median("group_commit_eps") / median("durable_single_eps")});
  r.ratios.push_back({"group_commit_cpu_us_per_event / durable_single_us",
                      median("group_commit_cpu_us_per_event") / median("durable_single_us")});
  r.bars.push_back(Bar{
      "group_commit_eps at " + std::to_string(args.clients) + " clients >= 10x durable_single_eps",
      median("group_commit_eps") / median("durable_single_eps"), 10, true});
  progress.note("done");
  return r;
}

}  // namespace fj::bench
