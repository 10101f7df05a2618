#include "daemon/service.h"

#include "daemon/internal/open_journal.h"
#include "gc/internal/scheduler.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace fj::service {
namespace {

using Clock = std::chrono::steady_clock;

// A queued unit of work: a write request (batched with its neighbours) or a
// job that runs alone.
struct Item {
  std::optional<Request> request;
  std::function<void(Result<Outcome>)> done;
  std::function<void(Ledger&)> job;
  Clock::time_point queued = Clock::now();
};

std::int64_t ticks(Clock::time_point t) {
  return t.time_since_epoch().count();
}

double seconds_since(std::int64_t then, Clock::time_point now) {
  return std::chrono::duration<double>(now - Clock::time_point(Clock::duration(then))).count();
}

EventType event_type(const Command& c) {
  constexpr EventType kTypes[] = {EventType::template_registered, EventType::fork_added,
                                  EventType::fork_removed, EventType::template_retired};
  static_assert(std::size(kTypes) == std::variant_size_v<Command>);
  return kTypes[c.index()];
}

ReconcileSummary summarize(const gc::ReconcileReport& r) {
  const gc::ReconcilePlan& p = r.plan;
  ReconcileSummary s;
  s.based_on_seq = p.based_on_seq;
  s.last_seq = r.committed ? r.last_seq : 0;
  s.needs_attention = p.needs_attention();
  s.unreadable = p.unreadable.size();
  s.leftovers = p.leftovers.size() + p.kept_leftovers.size();
  s.half_made = p.half_made.size();
  s.dangling = p.dangling.size();
  s.kept = p.kept.size();
  s.kept_forks = p.kept_forks.size();
  s.link_mismatches = p.link_mismatches.size();
  s.stuck_flags = p.stuck_flags.size();
  s.held = p.held.size();
  s.skipped = p.skipped.size();
  return s;
}

// One line carrying every count that can make the run need a person.
std::string summary(const gc::ReconcileReport& r) {
  std::size_t swept = 0;
  for (const Event& e : r.appended) swept += e.type == EventType::template_retired;
  std::string line = "reconcile against seq " + std::to_string(r.plan.based_on_seq) + ": " +
                     std::to_string(r.plan.scanned) + " scanned, " +
                     std::to_string(r.appended.size() - swept) + " corrections, " +
                     std::to_string(swept) + " swept";
  for (const gc::ReconcilePlan::Finding& f : r.plan.findings()) {
    line += ", " + std::to_string(f.count) + " " + f.name;
  }
  return line + (r.committed ? ", appended seqs " + std::to_string(r.first_seq) + "-" +
                                   std::to_string(r.last_seq)
                             : ", nothing appended");
}

}  // namespace

struct Service::Impl {
  explicit Impl(ServiceOptions o) : options(std::move(o)) {
    if (!options.log) options.log = [](const std::string&) {};
  }

  ServiceOptions options;
  std::optional<Journal> journal;
  std::optional<Ledger> ledger;
  BootReport boot;
  Clock::time_point started = Clock::now();

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;  // guarded by mu
  bool stopping = false;   // guarded by mu
  std::thread writer;

  std::atomic<std::uint64_t> head{0}, requests{0}, appended{0}, commits{0}, snapshots{0},
      reconciles{0}, snapshot_seq{0}, map_used{0}, map_size{0};
  // Write requests in the batches counted in commits (average_batch).
  std::atomic<std::uint64_t> committed_requests{0};
  // Clock ticks (ticks()); 0: none yet / the writer is idle.
  std::atomic<std::int64_t> last_commit{0}, busy_since{0};

  mutable std::mutex summary_mu;
  std::optional<ReconcileSummary> last_reconcile;  // guarded by summary_mu
  Clock::time_point last_reconcile_at;             // guarded by summary_mu

  // The oldest reader last seen and since when (a pid and LMDB's snapshot id
  // identify one read transaction).
  mutable std::mutex readers_mu;
  std::optional<OldestReader> oldest_reader;  // guarded by readers_mu
  Clock::time_point oldest_reader_since;      // guarded by readers_mu
  Clock::time_point readers_sampled;          // guarded by readers_mu
  // Whether the last sample failed: a failure is logged when it starts,
  // not on every sample (stats calls sample too).
  bool readers_failing = false;  // guarded by readers_mu

  // Writer-thread state.
  std::uint64_t since_snapshot = 0;
  Clock::time_point last_alive{};

  // Periodic reconciles (reconcile_every): the scheduler's timer has a thread
  // of its own, and each run waits for its reconcile job on the writer
  // thread, so the period runs from the end of one reconcile to the start of
  // the next. The embedder's executor stays free of a timer that would keep
  // its io_context from running out of work.
  std::optional<boost::asio::io_context> timer_io;
  std::optional<gc::ReconcileScheduler> scheduler;
  std::thread timer_thread;

  // Declared after the journal, so destroyed before it.
  std::unique_ptr<fleet::Shipper> shipper;

  Result<void> boot_up();
  void run();
  void write_batch(std::vector<Item>& items);
  void housekeeping(bool idle);
  void measure_map();
  void writer_alive();
  void tell_head();
  std::optional<ReaderSummary> sample_readers(Clock::time_point now);
  Result<std::uint64_t> snapshot(const char* why);
  Result<gc::ReconcileReport> reconcile(bool dry_run, const char* why);
  // Queues a job for the writer thread; false once stopping.
  bool push(Item item);
  void start_periodic();
  void periodic_reconcile();
  void stop_periodic();
};

Result<void> Service::Impl::boot_up() {
  auto opened =
      open_or_create(options.journal, options.sync, options.max_map_size, options.request_window);
  if (!opened) return opened.error();
  boot.created = opened->created;
  journal.emplace(std::move(opened->journal));
  options.log(std::string(boot.created ? "created" : "opened") + " journal " + options.journal +
              " (id " + journal->info().journal_id + ")");

  auto loaded = Ledger::open(*journal);
  if (!loaded) return loaded.error();
  ledger.emplace(std::move(*loaded));
  boot.load = ledger->load_report();
  for (const IgnoredSnapshot& why : boot.load.ignored) options.log("ignored " + why.text());
  options.log("loaded seq " + std::to_string(ledger->projection().seq()) + " (snapshot at seq " +
              std::to_string(boot.load.snapshot_seq) + " + " + std::to_string(boot.load.replayed) +
              " events replayed)");

  if (!options.data_root.empty()) {
    auto report = reconcile(false, "boot");
    if (!report) return report.error();
    boot.reconcile = std::move(*report);
  }
  auto seq = snapshot("boot");
  if (!seq) return seq.error();
  boot.snapshot_seq = *seq;
  head = ledger->projection().seq();
  measure_map();
  return {};
}

void Service::Impl::measure_map() {
  if (auto size = journal->file_size()) map_used = *size;
  map_size = journal->map_size();
}

std::optional<ReaderSummary> Service::Impl::sample_readers(Clock::time_point now) {
  std::lock_guard lock(readers_mu);
  readers_sampled = now;
  auto found = journal->oldest_reader();
  if (!found) {
    if (!readers_failing) {
      options.log("reading the reader table failed: " + found.error().message +
                  "; keeping the last sample");
    }
    readers_failing = true;
  } else {
    if (readers_failing) options.log("reading the reader table works again");
    readers_failing = false;
    const auto& r = *found;
    const bool same =
        r && oldest_reader && r->pid == oldest_reader->pid && r->txnid == oldest_reader->txnid;
    if (!same) oldest_reader_since = now;
    oldest_reader = r;
  }
  if (!oldest_reader) return std::nullopt;
  return ReaderSummary{oldest_reader->pid, oldest_reader->txn_lag,
                       std::chrono::duration<double>(now - oldest_reader_since).count()};
}

void Service::Impl::tell_head() {
  const std::uint64_t seq = head;
  if (shipper) shipper->notify(seq);
  for (const auto& observer : options.observers) observer->on_head(seq);
}

void Service::Impl::writer_alive() {
  if (!options.on_writer_alive || options.alive_every.count() <= 0) return;
  const auto now = Clock::now();
  // At most twice per period under load; once per idle wake otherwise.
  if (now - last_alive < options.alive_every / 2) return;
  last_alive = now;
  options.on_writer_alive();
}

Result<std::uint64_t> Service::Impl::snapshot(const char* why) {
  auto seq = ledger->snapshot();
  if (!seq) {
    options.log(std::string(why) + " snapshot failed: " + seq.error().message);
    return seq;
  }
  ++snapshots;
  snapshot_seq = *seq;
  since_snapshot = 0;
  // An empty journal has no state to store (Ledger::snapshot stores none):
  // say so, as `forkjournal snapshot` does, rather than name a seq 0.
  options.log(*seq == 0 ? std::string(why) + " snapshot: the journal is empty, none stored"
                        : std::string(why) + " snapshot at seq " + std::to_string(*seq));
  return seq;
}

Result<gc::ReconcileReport> Service::Impl::reconcile(bool dry_run, const char* why) {
  if (options.data_root.empty()) {
    return make_error(Errc::invalid_argument, "no data root configured");
  }
  gc::ReconcileOptions reconcile_options;
  reconcile_options.dry_run = dry_run;
  reconcile_options.fork_grace = options.fork_grace;
  reconcile_options.remove_template_files = options.remove_template_files;
  auto report = gc::reconcile(*ledger, options.data_root, reconcile_options);
  if (!report) {
    options.log(std::string(why) + " reconcile failed: " + report.error().message);
    return report;
  }
  head = ledger->projection().seq();
  if (report->committed) {
    last_commit = ticks(Clock::now());
    measure_map();
  }
  for (const auto& observer : options.observers) {
    if (report->committed) {
      for (const Event& e : report->appended) observer->on_appended(e.type, 1);
      observer->on_appended(EventType::reconcile_run, 1);
    }
    observer->on_reconcile(*report);
  }
  if (report->committed) tell_head();
  if (!dry_run) {
    std::lock_guard lock(summary_mu);
    last_reconcile = summarize(*report);
    last_reconcile_at = Clock::now();
  }
  options.log(std::string(why) + (dry_run ? " dry-run " : " ") + summary(*report));
  // Last: a reader that sees the count finds this run's observers told, its
  // summary stored and its log line written.
  ++reconciles;
  return report;
}

bool Service::Impl::push(Item item) {
  std::lock_guard lock(mu);
  if (stopping) return false;
  queue.push_back(std::move(item));
  cv.notify_one();
  return true;
}

void Service::Impl::start_periodic() {
  if (options.data_root.empty() || options.reconcile_every.count() <= 0) return;
  timer_io.emplace(1);
  scheduler.emplace(timer_io->get_executor(), options.reconcile_every,
                    [this] { periodic_reconcile(); });
  scheduler->start();
  timer_thread = std::thread([this] {
    auto guard = boost::asio::make_work_guard(*timer_io);
    timer_io->run();
  });
}

void Service::Impl::periodic_reconcile() {
  // Shared with the job: the writer may still be inside set_value when this
  // thread returns.
  auto finished = std::make_shared<std::promise<void>>();
  auto done = finished->get_future();
  // The writer drains its queue before it stops, so a queued job always runs.
  if (!push(Item{std::nullopt, nullptr, [this, finished](Ledger&) {
                   (void)reconcile(false, "periodic");
                   finished->set_value();
                 }})) {
    return;
  }
  done.wait();
}

void Service::Impl::stop_periodic() {
  if (!timer_thread.joinable()) return;
  scheduler->stop();
  timer_io->stop();
  timer_thread.join();
}

void Service::Impl::write_batch(std::vector<Item>& items) {
  std::vector<Request> batch;
  batch.reserve(items.size());
  for (Item& item : items) batch.push_back(std::move(*item.request));
  const std::uint64_t before = ledger->projection().seq();
  const auto began = Clock::now();
  auto results = ledger->execute_batch(batch, Origin::api);
  const auto ended = Clock::now();
  if (!results) {
    options.log("write of " + std::to_string(items.size()) +
                " requests failed: " + results.error().message);
    for (Item& item : items) item.done(results.error());
    return;
  }
  requests += items.size();
  // Only a batch that stored something is a commit: one whose requests were
  // all refused or replayed wrote nothing (LMDB commits such a transaction
  // without writing), so it moves neither the commit count nor its age.
  bool stored = false;
  std::uint64_t mine = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& r = (*results)[i];
    if (!r || r->replayed) continue;
    // A no-op (unfork of a fork already recorded lost) stores its request id.
    if (!batch[i].request_id.empty()) stored = true;
    if (r->first_seq == 0) continue;
    stored = true;
    const std::uint64_t n = r->last_seq - r->first_seq + 1;
    mine += n;
    for (const auto& observer : options.observers) {
      observer->on_appended(event_type(batch[i].command), n);
    }
  }
  appended += mine;
  since_snapshot += ledger->projection().seq() - before;
  head = ledger->projection().seq();
  measure_map();
  if (stored) {
    ++commits;
    committed_requests += items.size();
    last_commit = ticks(ended);
    const double seconds = std::chrono::duration<double>(ended - began).count();
    for (const auto& observer : options.observers) observer->on_commit(seconds, items.size());
  }
  if (head != before) tell_head();
  for (std::size_t i = 0; i < items.size(); ++i) items[i].done(std::move((*results)[i]));
}

void Service::Impl::housekeeping(bool idle) {
  if (idle) {
    const std::uint64_t before = ledger->projection().seq();
    if (auto ok = ledger->catch_up(); !ok) options.log("catch-up failed: " + ok.error().message);
    since_snapshot += ledger->projection().seq() - before;
    head = ledger->projection().seq();
    if (head != before) tell_head();
  }
  const auto now = Clock::now();
  bool sample = false;
  {
    std::lock_guard lock(readers_mu);
    sample = now - readers_sampled >= std::chrono::seconds(1);
  }
  if (sample) (void)sample_readers(now);
  if (options.snapshot_every != 0 && since_snapshot >= options.snapshot_every) {
    (void)snapshot("periodic");
  }
}

void Service::Impl::run() {
  constexpr std::chrono::milliseconds kIdle{1000};
  // Woken at least every alive_every to tell the watchdog, when it is shorter.
  const std::chrono::milliseconds tick = options.on_writer_alive && options.alive_every.count() > 0
                                             ? std::min(kIdle, options.alive_every)
                                             : kIdle;
  Clock::time_point last_active = Clock::now();
  writer_alive();
  std::unique_lock lock(mu);
  for (;;) {
    cv.wait_for(lock, tick, [&] { return !queue.empty() || stopping; });
    if (queue.empty()) {
      if (stopping) break;
      lock.unlock();
      // Idle for a second: catch up on what other processes appended.
      const bool idle = Clock::now() - last_active >= kIdle;
      if (idle) last_active = Clock::now();
      housekeeping(idle);
      writer_alive();
      lock.lock();
      continue;
    }
    busy_since = ticks(queue.front().queued);
    std::vector<Item> items;
    if (queue.front().request) {
      while (!queue.empty() && queue.front().request && items.size() < options.max_batch) {
        items.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    } else {
      items.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    lock.unlock();
    if (items.front().request) {
      write_batch(items);
    } else {
      items.front().job(*ledger);
    }
    housekeeping(false);
    last_active = Clock::now();
    writer_alive();
    lock.lock();
    busy_since = queue.empty() ? 0 : ticks(queue.front().queued);
  }
  lock.unlock();
  (void)snapshot("shutdown");
}

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Service>> Service::start(boost::asio::any_io_executor executor,
                                                ServiceOptions options) {
  // Refused before boot_up, which creates the journal and appends the boot
  // reconcile's events and a snapshot: bad options must leave no trace.
  if (options.ship) {
    if (auto ok = fleet::check_ship_options(*options.ship); !ok) return ok.error();
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  if (auto ok = impl->boot_up(); !ok) return ok.error();
  if (impl->options.ship) {
    fleet::ShipOptions ship = *impl->options.ship;
    if (!ship.log) ship.log = impl->options.log;
    Impl* raw = impl.get();
    if (!ship.writer_busy) ship.writer_busy = [raw] { return raw->busy_since.load() != 0; };
    auto shipper = fleet::Shipper::start(*impl->journal, std::move(ship));
    if (!shipper) return shipper.error();
    impl->shipper = std::move(*shipper);
    impl->shipper->notify(impl->head);
  }
  std::unique_ptr<Service> service(new Service(std::move(impl)));
  service->executor_ = std::move(executor);
  Impl* raw = service->impl_.get();
  raw->writer = std::thread([raw] { raw->run(); });
  raw->start_periodic();
  return service;
}

Service::~Service() {
  stop();
}

void Service::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_one();
  impl_->stop_periodic();
  if (impl_->writer.joinable()) impl_->writer.join();
  if (impl_->shipper) impl_->shipper->stop();
  impl_->options.log("stopped at seq " + std::to_string(impl_->head.load()));
}

const Journal& Service::journal() const {
  return *impl_->journal;
}

const BootReport& Service::boot_report() const {
  return impl_->boot;
}

ServiceStats Service::stats() const {
  ServiceStats s;
  s.head_seq = impl_->head;
  s.requests = impl_->requests;
  s.appended = impl_->appended;
  s.commits = impl_->commits;
  s.snapshots = impl_->snapshots;
  s.reconciles = impl_->reconciles;
  s.average_batch = s.commits == 0 ? 0 : static_cast<double>(impl_->committed_requests) / s.commits;
  const auto now = Clock::now();
  s.uptime_seconds = std::chrono::duration<double>(now - impl_->started).count();
  s.snapshot_seq = impl_->snapshot_seq;
  s.map_used_bytes = impl_->map_used;
  s.map_size_bytes = impl_->map_size;
  if (const std::size_t limit = impl_->options.max_map_size; limit != 0) {
    // The map never shrinks below its size at open, which may exceed the limit.
    s.map_limit_bytes = std::max<std::uint64_t>(limit, s.map_size_bytes);
  }
  if (const auto t = impl_->last_commit.load(); t != 0)
    s.last_commit_age_seconds = seconds_since(t, now);
  {
    std::lock_guard lock(impl_->mu);
    std::int64_t oldest = impl_->busy_since;
    if (oldest == 0 && !impl_->queue.empty()) oldest = ticks(impl_->queue.front().queued);
    if (oldest != 0) s.oldest_wait_seconds = seconds_since(oldest, now);
  }
  s.oldest_reader = impl_->sample_readers(now);
  {
    std::lock_guard lock(impl_->summary_mu);
    if (impl_->last_reconcile) {
      s.last_reconcile = impl_->last_reconcile;
      s.last_reconcile->age_seconds =
          std::chrono::duration<double>(now - impl_->last_reconcile_at).count();
    }
  }
  if (impl_->shipper) s.ship = impl_->shipper->state();
  return s;
}

Error Service::stopped_error() {
  return make_error(
      Errc::stopping,
      "the service is stopping: the request was not applied; send it to the next one");
}

void Service::enqueue_write(Request request, std::function<void(Result<Outcome>)> done) {
  if (!impl_->push(Item{std::move(request), done, nullptr})) done(stopped_error());
}

void Service::enqueue_job(Job job, std::function<void(Error)> refuse) {
  if (!impl_->push(Item{std::nullopt, nullptr, std::move(job)})) refuse(stopped_error());
}

void Service::enqueue_reconcile(bool dry_run,
                                std::function<void(Result<gc::ReconcileReport>)> done) {
  Impl* impl = impl_.get();
  enqueue_job([impl, dry_run, done](Ledger&) { done(impl->reconcile(dry_run, "requested")); },
              [done](Error e) { done(std::move(e)); });
}

void Service::enqueue_snapshot(std::function<void(Result<std::uint64_t>)> done) {
  Impl* impl = impl_.get();
  enqueue_job([impl, done](Ledger&) { done(impl->snapshot("requested")); },
              [done](Error e) { done(std::move(e)); });
}

}  // namespace fj::service
