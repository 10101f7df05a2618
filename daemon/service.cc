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
};

std::string summary(const gc::ReconcileReport& r) {
  std::size_t swept = 0;
  for (const Event& e : r.appended) swept += e.type == EventType::template_retired;
  return "reconcile against seq " + std::to_string(r.plan.based_on_seq) + ": " +
         std::to_string(r.plan.scanned) + " scanned, " + std::to_string(r.plan.unreadable.size()) +
         " unreadable, " + std::to_string(r.plan.leftovers.size()) + " leftover, " +
         std::to_string(r.plan.half_made.size()) + " half-made, " +
         std::to_string(r.appended.size() - swept) + " corrections, " + std::to_string(swept) +
         " swept, " + std::to_string(r.plan.held.size()) + " held, " +
         std::to_string(r.plan.dangling.size()) + " dangling, " +
         std::to_string(r.plan.kept.size()) + " kept" +
         (r.committed
              ? ", appended seqs " + std::to_string(r.first_seq) + "-" + std::to_string(r.last_seq)
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
      reconciles{0};

  // Writer-thread state.
  std::uint64_t since_snapshot = 0;

  // Periodic reconciles (reconcile_every): the scheduler's timer has a thread
  // of its own, and each run waits for its reconcile job on the writer
  // thread, so the period runs from the end of one reconcile to the start of
  // the next. The embedder's executor stays free of a timer that would keep
  // its io_context from running out of work.
  std::optional<boost::asio::io_context> timer_io;
  std::optional<gc::ReconcileScheduler> scheduler;
  std::thread timer_thread;

  Result<void> boot_up();
  void run();
  void write_batch(std::vector<Item>& items);
  void housekeeping(bool idle);
  Result<std::uint64_t> snapshot(const char* why);
  Result<gc::ReconcileReport> reconcile(bool dry_run, const char* why);
  // Queues a job for the writer thread; false once stopping.
  bool push(Item item);
  void start_periodic();
  void periodic_reconcile();
  void stop_periodic();
};

Result<void> Service::Impl::boot_up() {
  auto opened = open_or_create(options.journal, options.sync);
  if (!opened) return opened.error();
  boot.created = opened->created;
  journal.emplace(std::move(opened->journal));
  options.log(std::string(boot.created ? "created" : "opened") + " journal " + options.journal +
              " (id " + journal->info().journal_id + ")");

  auto loaded = Ledger::open(*journal);
  if (!loaded) return loaded.error();
  ledger.emplace(std::move(*loaded));
  boot.load = ledger->load_report();
  for (const std::string& why : boot.load.ignored) options.log("ignored " + why);
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
  return {};
}

Result<std::uint64_t> Service::Impl::snapshot(const char* why) {
  auto seq = ledger->snapshot();
  if (!seq) {
    options.log(std::string(why) + " snapshot failed: " + seq.error().message);
    return seq;
  }
  ++snapshots;
  since_snapshot = 0;
  options.log(std::string(why) + " snapshot at seq " + std::to_string(*seq));
  return seq;
}

Result<gc::ReconcileReport> Service::Impl::reconcile(bool dry_run, const char* why) {
  if (options.data_root.empty()) {
    return make_error(Errc::invalid_argument, "no data root configured");
  }
  gc::ReconcileOptions reconcile_options;
  reconcile_options.dry_run = dry_run;
  auto report = gc::reconcile(*ledger, options.data_root, reconcile_options);
  if (!report) {
    options.log(std::string(why) + " reconcile failed: " + report.error().message);
    return report;
  }
  ++reconciles;
  head = ledger->projection().seq();
  options.log(std::string(why) + (dry_run ? " dry-run " : " ") + summary(*report));
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
  auto results = ledger->execute_batch(batch, Origin::api);
  if (!results) {
    options.log("write of " + std::to_string(items.size()) +
                " requests failed: " + results.error().message);
    for (Item& item : items) item.done(results.error());
    return;
  }
  ++commits;
  requests += items.size();
  std::uint64_t mine = 0;
  for (const auto& r : *results) {
    if (r && r->first_seq != 0 && !r->replayed) mine += r->last_seq - r->first_seq + 1;
  }
  appended += mine;
  since_snapshot += ledger->projection().seq() - before;
  head = ledger->projection().seq();
  for (std::size_t i = 0; i < items.size(); ++i) items[i].done(std::move((*results)[i]));
}

void Service::Impl::housekeeping(bool idle) {
  if (idle) {
    const std::uint64_t before = ledger->projection().seq();
    if (auto ok = ledger->catch_up(); !ok) options.log("catch-up failed: " + ok.error().message);
    since_snapshot += ledger->projection().seq() - before;
    head = ledger->projection().seq();
  }
  if (options.snapshot_every != 0 && since_snapshot >= options.snapshot_every) {
    (void)snapshot("periodic");
  }
}

void Service::Impl::run() {
  std::unique_lock lock(mu);
  for (;;) {
    // Idle for a second: catch up on what other processes appended.
    const bool woke =
        cv.wait_for(lock, std::chrono::seconds(1), [&] { return !queue.empty() || stopping; });
    if (queue.empty()) {
      if (stopping) break;
      lock.unlock();
      housekeeping(!woke);
      lock.lock();
      continue;
    }
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
    lock.lock();
  }
  lock.unlock();
  (void)snapshot("shutdown");
}

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Service>> Service::start(boost::asio::any_io_executor executor,
                                                ServiceOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (auto ok = impl->boot_up(); !ok) return ok.error();
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
  impl_->options.log("stopped at seq " + std::to_string(impl_->head.load()));
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
  s.average_batch = s.commits == 0 ? 0 : static_cast<double>(s.requests) / s.commits;
  s.uptime_seconds = std::chrono::duration<double>(Clock::now() - impl_->started).count();
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
