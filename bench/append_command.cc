// forkjournal-bench append: what an event costs to record, in big batches, one
// durable commit at a time, and with the mutable-counter file registry this
// project replaces.
#include "bench/commands.h"
#include "bench/file_registry.h"
#include "bench/platform.h"
#include "bench/workload.h"
#include "daemon/service.h"
#include "journal/journal.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace fj::bench {
namespace {

// Seconds spent in Journal::append writing the first `count` events of `w` to
// a fresh journal, `batch` events per transaction.
Result<double> time_appends(const Workload& w, std::uint64_t count, std::size_t batch,
                            SyncMode sync) {
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

struct GroupCommitRun {
  double seconds = 0;
  double events_per_commit = 0;
};

// `clients` concurrent clients record forks through the embeddable service in
// full-sync mode, `count` acknowledged forks in all. Each client is a chain of
// asynchronous calls on one io_context thread, as in an Asio daemon (and in
// forkjournald, whose connections are such chains): a client issues its next
// fork from the completion of the previous one, so it has one request in
// flight at a time.
Result<GroupCommitRun> time_group_commit(std::uint64_t count, std::uint32_t clients) {
  auto dir = TempDir::create("group");
  if (!dir) return dir.error();
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  service::ServiceOptions options;
  options.journal = dir->sub("journal");
  options.snapshot_every = 0;
  auto started = service::Service::start(io.get_executor(), options);
  if (!started) {
    work.reset();
    runner.join();
    return started.error();
  }
  service::Service& svc = **started;
  std::promise<Result<Outcome>> registered;
  svc.async_execute(Request{RegisterTemplate{"tpl0bench", "src0bench", "bench"}, ""},
                    [&](Result<Outcome> r) { registered.set_value(std::move(r)); });
  const auto registration = registered.get_future().get();

  // Touched only on the io_context thread, except `all_done`.
  std::uint32_t finished = 0;
  bool ok = true;
  std::promise<void> all_done;
  struct Client {
    service::Service* svc;
    std::uint64_t next;  // this client's next fork number
    std::uint64_t count;
    std::uint32_t clients;  // also the stride between one client's forks
    std::uint32_t* finished;
    bool* ok;
    std::promise<void>* all_done;

    void operator()() {
      if (next >= count || !*ok) {
        if (++*finished == clients) all_done->set_value();
        return;
      }
      const std::uint64_t i = next;
      next += clients;
      svc->async_execute(Request{AddFork{"tpl0bench", "frk" + std::to_string(i)}, ""},
                         [self = *this](Result<Outcome> r) mutable {
                           if (!r) *self.ok = false;
                           self();
                         });
    }
  };
  Stopwatch clock;
  if (registration) {
    for (std::uint32_t c = 0; c < clients; ++c) {
      boost::asio::post(io, Client{&svc, c, count, clients, &finished, &ok, &all_done});
    }
    all_done.get_future().wait();
  }
  GroupCommitRun run{clock.seconds(), 0};
  const auto stats = svc.stats();
  run.events_per_commit = stats.commits > 1 ? static_cast<double>(stats.requests - 1) /
                                                  static_cast<double>(stats.commits - 1)
                                            : 0;
  svc.stop();
  work.reset();
  runner.join();
  if (!registration) return registration.error();
  if (!ok) return make_error(Errc::io_error, "a group-commit append failed");
  return run;
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
  auto batch = repeat(reps, [&] { return time_appends(w, n, kAppendBatch, SyncMode::none); });
  if (!batch) return batch.error();
  progress.note("durable single appends (one event per transaction, full sync)");
  auto single = repeat(reps, [&] { return time_appends(w, durable, 1, SyncMode::full); });
  if (!single) return single.error();
  progress.note("file registry (write-temp, fsync, rename per event)");
  auto registry = repeat(reps, [&] { return time_registry(w, durable); });
  if (!registry) return registry.error();

  r.figures = {
      figure("batch_append_eps", "events/s", rates(n, *batch),
             "Journal::append, " + grouped(kAppendBatch) + " events per transaction, no sync"),
      figure("durable_single_eps", "events/s", rates(durable, *single),
             "Journal::append, one event per transaction, fsync per commit"),
      figure("registry_file_eps", "events/s", rates(durable, *registry),
             "one JSON file per template, fork_count rewritten: write temp, fsync, rename"),
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
    auto runs = repeat(reps, [&]() -> Result<double> {
      auto run = time_group_commit(count, clients);
      if (!run) return run.error();
      per_commit.push_back(run->events_per_commit);
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
    r.figures.push_back(figure(name.substr(0, name.size() - 4) + "_events_per_commit", "events",
                               per_commit, "acknowledged appends per commit"));
  }
  r.ratios.push_back({"group_commit_eps / durable_single_eps",
                      median("group_commit_eps") / median("durable_single_eps")});
  r.bars.push_back(Bar{
      "group_commit_eps at " + std::to_string(args.clients) + " clients >= 10x durable_single_eps",
      median("group_commit_eps") / median("durable_single_eps"), 10, true});
  progress.note("done");
  return r;
}

}  // namespace fj::bench
