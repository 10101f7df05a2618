// forkjournal-bench ship: what shipping to a NATS JetStream stream costs and
// how fast it goes, against a real local nats-server (bench/nats_process.h):
// a Shipper catching up a journal of N events, and group commit through the
// embeddable service with shipping on and off, alternated in the same run.
#include "bench/commands.h"
#include "bench/group_commit.h"
#include "bench/nats_process.h"
#include "bench/platform.h"
#include "bench/workload.h"
#include "fleet/shipper.h"
#include "journal/journal.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace fj::bench {
namespace {

// Seconds a new Shipper takes to ship the N events of a journal holding
// them all (its own subject: a new journal id per call).
Result<double> time_catch_up(const Workload& w, const std::string& url, Progress& progress,
                             const std::string& what) {
  auto dir = TempDir::create("ship");
  if (!dir) return dir.error();
  auto journal = Journal::create(dir->sub("journal"), JournalOptions{.sync = SyncMode::none});
  if (!journal) return journal.error();
  std::vector<EventView> views;
  for (std::uint64_t i = 0; i < w.size();) {
    views.clear();
    for (; i < w.size() && views.size() < kAppendBatch; ++i) views.push_back(w.event(i));
    if (auto appended = journal->append(views); !appended) return appended.error();
  }
  fleet::ShipOptions options;
  options.urls = url;
  options.host = "bench";
  Stopwatch clock;
  auto shipper = fleet::Shipper::start(*journal, options);
  if (!shipper) return shipper.error();
  (*shipper)->notify(w.size());
  for (;;) {
    const auto state = (*shipper)->state();
    progress.fraction(what, state.shipped_seq, w.size());
    if (state.shipped_seq >= w.size()) break;
    if (state.halted) return make_error(Errc::io_error, "the shipper halted: " + state.last_error);
    if (clock.seconds() > 60 + double(w.size()) / 1000) {
      return make_error(Errc::unavailable,
                        "shipping " + grouped(w.size()) + " events timed out at seq " +
                            std::to_string(state.shipped_seq) + ": " + state.last_error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return clock.seconds();
}

}  // namespace

Result<Report> run_ship(const ShipArgs& args) {
  const CommonArgs& a = args.common;
  const std::uint64_t n = args.events;
  const int reps = a.repetitions;
  Progress progress;
  auto dir = TempDir::create("nats");
  if (!dir) return dir.error();
  progress.note("starting nats-server -js and creating the stream");
  auto server = NatsProcess::start(dir->path());
  if (!server) return server.error();

  progress.note("generating " + grouped(n) + " events");
  const Workload w = Workload::generate(WorkloadSpec{n, a.templates, a.live_forks});
  Report r;
  r.command = "ship";
  r.title = "forkjournal-bench ship: " + grouped(n) + " events caught up into a local " +
            "nats-server; group commit of " + grouped(args.group_events) + " forks by " +
            std::to_string(args.clients) + " clients, shipping on vs off";
  r.parameters = {{"events", n},
                  {"group_events", args.group_events},
                  {"clients", args.clients},
                  {"templates", a.templates},
                  {"live_forks", a.live_forks},
                  {"repetitions", a.repetitions}};

  progress.note("catch-up: a shipper ships " + grouped(n) +
                " events, one acknowledged publish each");
  int run = 0;
  auto catch_up = repeat(reps, [&] {
    ++run;
    const std::string what =
        run == 1 ? "catch-up warm-up"
                 : "catch-up " + std::to_string(run - 1) + "/" + std::to_string(reps);
    return time_catch_up(w, server->url(), progress, what);
  });
  if (!catch_up) return catch_up.error();

  // On and off alternate, so that a machine getting busier or quieter during
  // the run weighs on both alike.
  progress.note("group commit, full sync, shipping on and off in turn");
  std::vector<double> off, on, per_commit_off, per_commit_on, shipped_on;
  fleet::ShipOptions ship;
  ship.urls = server->url();
  ship.host = "bench";
  for (int i = 0; i <= reps; ++i) {
    // Which goes first alternates too: a run pays for the previous one's
    // journal being removed (its unlink and the filesystem's journal commit
    // meet the next run's first fsyncs).
    Result<GroupCommitRun> shipping = make_error(Errc::invalid_argument, "not run");
    Result<GroupCommitRun> plain = make_error(Errc::invalid_argument, "not run");
    for (int turn = 0; turn < 2; ++turn) {
      if ((turn == 0) == (i % 2 == 0)) {
        shipping = time_group_commit(args.group_events, args.clients, ship);
        if (!shipping) return shipping.error();
      } else {
        plain = time_group_commit(args.group_events, args.clients);
        if (!plain) return plain.error();
      }
    }
    if (i == 0) continue;  // warm-up
    off.push_back(plain->seconds);
    on.push_back(shipping->seconds);
    per_commit_off.push_back(plain->events_per_commit);
    per_commit_on.push_back(shipping->events_per_commit);
    // The registration counts too: group_events + 1 events in the journal.
    shipped_on.push_back(100.0 * double(shipping->shipped) / double(args.group_events + 1));
  }

  r.figures = {
      figure("ship_eps", "events/s", rates(n, *catch_up),
             "a Shipper catching up a journal: one publish per event, each acknowledged"),
      figure("catch_up_seconds", "s", *catch_up,
             "for the " + grouped(n) + " events, from Shipper::start to the last ack"),
      figure("group_commit_ship_off_eps", "events/s", rates(args.group_events, off),
             std::to_string(args.clients) + " clients through the service, fsync per commit"),
      figure("group_commit_ship_on_eps", "events/s", rates(args.group_events, on),
             "the same with the service's shipper publishing beside the writer"),
      figure("group_commit_ship_off_events_per_commit", "events", per_commit_off,
             "acknowledged appends per commit, shipping off"),
      figure("group_commit_ship_on_events_per_commit", "events", per_commit_on,
             "acknowledged appends per commit, shipping on"),
  };
  // Percent of the events shipped by the time the last client was answered:
  // 0 would mean shipping was not running at all, and is no figure.
  bool shipped_any = false;
  for (double v : shipped_on) shipped_any = shipped_any || v > 0;
  if (shipped_any) {
    r.figures.push_back(figure("shipped_percent_at_last_commit", "%", shipped_on,
                               "of the events, shipped when the clients were done"));
  } else {
    r.figures.push_back(unavailable_figure("shipped_percent_at_last_commit", "%",
                                           "nothing shipped during the runs",
                                           "of the events, shipped when the clients were done"));
  }
  const auto median = [&](const char* name) { return r.find(name)->value.median; };
  const double ratio = median("group_commit_ship_on_eps") / median("group_commit_ship_off_eps");
  r.ratios = {{"ship_on_over_off", ratio}};
  r.bars.push_back(
      Bar{"ship_on_over_off (group commit with shipping on / off) >= 0.9", ratio, 0.9, true});
  progress.note("done");
  return r;
}

}  // namespace fj::bench
