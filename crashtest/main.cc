// forkjournal-crashtest: a seeded kill -9 loop against the embeddable service.
//
// Each iteration forks a child that boots fj::service::Service on the journal
// (full sync) and appends a random mix of register/fork/unfork/retire
// requests from several client threads at once (group commit), writing every
// acknowledged request to a pipe with the seq it got. With --with-reconcile
// the child also runs reconciles against a data root the parent fills with
// drift. The parent SIGKILLs the child at a random moment, reopens the
// journal and checks (invariants.h holds the checks the tests share):
//
//  - the audit of what the child appended finds nothing: it starts at the
//    head, chain value and projection the previous iteration verified
//    (AuditOptions::from), and checks the new records' checksums, versions
//    and types, their seqs with no gap, the hash chain extended from the
//    verified value against the stored checkpoints and head (which a
//    recomputed rewrite of the verified history would change), no replay
//    anomaly on the projection extended by the new events, and the newest
//    snapshot equal to it;
//  - every acknowledged seq is present, holds the acknowledged event, lies
//    after everything verified before and is claimed by one request only;
//  - a request id acknowledged by an earlier child and retried by this one
//    returns the original seqs;
//  - fj::load (snapshot + tail) equals that incremental projection, and no
//    stored snapshot is ignored;
//  - a reconcile run is all there or not at all: every correction and sweep
//    sits in one block directly before a reconcile_run marker whose counts
//    match it, and every acknowledged run is in the log as acknowledged;
//  - a snapshot can be written at the head and loaded back.
//
// Each iteration's check so costs what the child appended, not the journal's
// length. What it cannot see, an edit of the verified history that leaves
// the stored chain values alone, the full check finds: every
// --full-check-every iterations and after the last, the audit from seq 1
// against the history verified before and a full fj::replay, which must end
// at the same chain value and equal the incremental projection and load().
//
// The parent creates a missing journal before the first child, unless
// --child-creates lets the first child create it: then a kill can land inside
// Journal::create, before its first commit, and the next child's boot must
// create the journal over what it left.
//
// The kill moments and every client's command stream derive from --seed, so
// a failing seed replays the same schedule (the exact interleaving still
// depends on timing). Exit 0 when every check passed, 1 on the first
// violation (with the seed and iteration), 2 on a usage or setup error.
#include "crashtest/cli_checks.h"
#include "crashtest/dash.h"
#include "crashtest/invariants.h"
#include "crashtest/power_loss/command.h"
#include "crashtest/seed_mix.h"
#include "crashtest/waiter.h"
#include "daemon/service.h"
#include "gc/internal/fd.h"
#include "journal/internal/format.h"
#include "present/usage_errors.h"
#include "projector/audit.h"
#include "projector/ledger.h"

#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#ifndef FJ_VERSION
#define FJ_VERSION "unknown"
#endif

namespace {

using fj::crashtest::dash;
using fj::crashtest::mix;
using fj::crashtest::undash;
using fj::crashtest::whole_number;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using fj::Waiter;

// Templates registered per iteration: t<iteration>-<k>.
constexpr int kTemplatesPerIteration = 4;
// Disk instances the parent plants per iteration (reconcile variant).
constexpr int kDiskForksPerIteration = 5;
// A child that is not killed within this time reports a failure.
constexpr auto kChildLifetime = std::chrono::seconds(30);
// A child that has not booted by then is killed anyway.
constexpr auto kBootWait = std::chrono::seconds(5);

struct Config {
  std::string journal;
  std::string data_root;
  std::uint64_t iterations = 100;
  std::uint64_t seed = 0;
  bool with_reconcile = false;
  int clients = 3;
  int max_kill_ms = 100;
  bool verbose = false;
  bool child_creates = false;
  // Every this many iterations the check also audits and replays from seq 1.
  std::uint64_t full_check_every = 500;
};

std::string tpl_id(std::uint64_t iteration, int k) {
  return "t" + std::to_string(iteration) + "-" + std::to_string(k);
}
std::string source_id(std::uint64_t iteration, int k) {
  return "s" + std::to_string(iteration) + "-" + std::to_string(k);
}
std::string disk_fork_id(std::uint64_t iteration, int j) {
  return "d" + std::to_string(iteration) + "-" + std::to_string(j);
}

// One acknowledged request, as the child reports it and the parent checks it.
struct Ack {
  std::uint64_t seq = 0;
  fj::EventType type{};
  std::string template_id;
  std::string fork;    // "-" on the wire when empty
  std::string source;  // "-" on the wire when empty
  std::string request_id;
};

using RunAck = fj::invariants::AckedRun;

// A request id acknowledged earlier, retried by the next child.
struct Retry {
  Ack original;
};

fj::Command command_of(const Ack& a) {
  switch (a.type) {
    case fj::EventType::template_registered:
      return fj::RegisterTemplate{a.template_id, a.source, ""};
    case fj::EventType::fork_added:
      return fj::AddFork{a.template_id, a.fork};
    case fj::EventType::fork_removed:
      return fj::RemoveFork{a.template_id, a.fork};
    default:
      return fj::RetireTemplate{a.template_id};
  }
}

// ---------------------------------------------------------------------------
// The child.

// Lines to the parent, each in one write(2) (atomic on a pipe below PIPE_BUF),
// so a kill never leaves half a line.
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void line(std::string s) const {
    if (s.size() > 1000) s.resize(1000);
    s += '\n';
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(5);  // the parent is gone
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    line("E " + what);
    ::_exit(3);
  }

 private:
  int fd_;
};

struct ChildPlan {
  std::uint64_t iteration = 0;
  std::uint64_t seed = 0;
  std::uint64_t snapshot_every = 0;
  std::vector<Retry> retries;
};

class Client {
 public:
  Client(fj::service::Service& service, const Reporter& out, const Config& cfg,
         const ChildPlan& plan, int index)
      : service_(service),
        out_(out),
        cfg_(cfg),
        plan_(plan),
        index_(index),
        rng_(mix(plan.seed, 1000 + static_cast<std::uint64_t>(index))) {}

  void retry_earlier_requests() {
    for (const Retry& r : plan_.retries) {
      fj::Request request{command_of(r.original), r.original.request_id};
      Waiter<fj::Result<fj::Outcome>> done;
      service_.async_execute(std::move(request), done.callback());
      auto outcome = done.future.get();
      if (!outcome) {
        out_.line("P " + r.original.request_id + " error " +
                  std::string(fj::code_name(outcome.error().code)) + ": " +
                  outcome.error().message);
        continue;
      }
      out_.line("P " + r.original.request_id + " " + std::to_string(outcome->first_seq) + " " +
                std::to_string(outcome->last_seq) + " " + (outcome->replayed ? "1" : "0"));
    }
  }

  [[noreturn]] void run() {
    if (index_ == 0) retry_earlier_requests();
    for (;;) {
      const int burst = 1 + static_cast<int>(rng_() % 6);
      std::vector<Ack> planned;
      std::vector<std::future<fj::Result<fj::Outcome>>> pending;
      for (int i = 0; i < burst; ++i) {
        Ack a = next_command();
        a.request_id = "r" + std::to_string(plan_.iteration) + "." + std::to_string(index_) + "." +
                       std::to_string(++sent_);
        fj::Request request{command_of(a), a.request_id};
        Waiter<fj::Result<fj::Outcome>> done;
        service_.async_execute(std::move(request), done.callback());
        pending.push_back(std::move(done.future));
        planned.push_back(std::move(a));
      }
      for (std::size_t i = 0; i < pending.size(); ++i) settle(planned[i], pending[i].get());
    }
  }

 private:
  std::string some_template() {
    // The current iteration's templates, and sometimes the previous one's.
    const std::uint64_t it =
        plan_.iteration > 0 && rng_() % 4 == 0 ? plan_.iteration - 1 : plan_.iteration;
    return tpl_id(it, static_cast<int>(rng_() % kTemplatesPerIteration));
  }

  Ack next_command() {
    Ack a;
    const unsigned roll = static_cast<unsigned>(rng_() % 100);
    if (roll < 8) {
      const int k = static_cast<int>(rng_() % kTemplatesPerIteration);
      a.type = fj::EventType::template_registered;
      a.template_id = tpl_id(plan_.iteration, k);
      a.source = source_id(plan_.iteration, k);
    } else if (roll < 55) {
      a.type = fj::EventType::fork_added;
      a.template_id = some_template();
      if (cfg_.with_reconcile && rng_() % 8 == 0) {
        // A fork the data root knows, perhaps under another template.
        a.fork = disk_fork_id(plan_.iteration, static_cast<int>(rng_() % kDiskForksPerIteration));
      } else {
        a.fork = "f" + std::to_string(plan_.iteration) + "-" + std::to_string(index_) + "-" +
                 std::to_string(++forks_);
      }
    } else if (roll < 92 && !mine_.empty()) {
      const std::size_t pick = rng_() % mine_.size();
      a.type = fj::EventType::fork_removed;
      a.template_id = mine_[pick].first;
      a.fork = mine_[pick].second;
      mine_.erase(mine_.begin() + static_cast<std::ptrdiff_t>(pick));
    } else if (roll < 92) {
      a.type = fj::EventType::fork_removed;  // refused: not a live fork
      a.template_id = some_template();
      a.fork = "f-none";
    } else {
      a.type = fj::EventType::template_retired;
      a.template_id = some_template();
    }
    return a;
  }

  void settle(Ack& a, fj::Result<fj::Outcome> outcome) {
    if (!outcome) {
      if (outcome.error().refusal()) return;
      out_.fail("request " + a.request_id + " failed: " +
                std::string(fj::code_name(outcome.error().code)) + ": " + outcome.error().message);
    }
    if (outcome->replayed) out_.fail("fresh request id " + a.request_id + " reported as a retry");
    if (outcome->first_seq == 0) return;  // an unfork of a fork a reconcile lost: a no-op
    if (outcome->last_seq != outcome->first_seq) {
      out_.fail("request " + a.request_id + " appended seqs " + std::to_string(outcome->first_seq) +
                "-" + std::to_string(outcome->last_seq) + ", expected one event");
    }
    a.seq = outcome->first_seq;
    out_.line("A " + std::to_string(a.seq) + " " + std::to_string(static_cast<int>(a.type)) + " " +
              a.template_id + " " + dash(a.fork) + " " + dash(a.source) + " " + a.request_id);
    if (a.type == fj::EventType::fork_added) mine_.emplace_back(a.template_id, a.fork);
  }

  fj::service::Service& service_;
  const Reporter& out_;
  const Config& cfg_;
  const ChildPlan& plan_;
  int index_;
  std::mt19937_64 rng_;
  std::uint64_t sent_ = 0;
  std::uint64_t forks_ = 0;
  std::vector<std::pair<std::string, std::string>> mine_;  // acknowledged live forks
};

[[noreturn]] void reconcile_loop(fj::service::Service& service, const Reporter& out,
                                 std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (;;) {
    out.line("Q");
    Waiter<fj::Result<fj::gc::ReconcileReport>> done;
    service.async_reconcile(false, done.callback());
    auto report = done.future.get();
    if (!report) {
      out.fail("reconcile failed: " + std::string(fj::code_name(report.error().code)) + ": " +
               report.error().message);
    }
    if (report->committed) {
      std::uint32_t swept = 0;
      for (const fj::Event& e : report->appended) {
        swept += e.type == fj::EventType::template_retired;
      }
      const auto corrections = static_cast<std::uint32_t>(report->appended.size()) - swept;
      out.line("R " + std::to_string(report->first_seq) + " " + std::to_string(report->last_seq) +
               " " + std::to_string(corrections) + " " + std::to_string(swept));
    } else {
      out.line("N");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 8000));
  }
}

[[noreturn]] void run_child(const Config& cfg, const ChildPlan& plan, int fd) {
  const Reporter out(fd);
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });

  fj::service::ServiceOptions options;
  options.journal = cfg.journal;
  options.sync = fj::SyncMode::full;
  options.snapshot_every = plan.snapshot_every;
  if (cfg.with_reconcile) options.data_root = cfg.data_root;
  auto service = fj::service::Service::start(io.get_executor(), options);
  if (!service) {
    out.fail("Service::start: " + std::string(fj::code_name(service.error().code)) + ": " +
             service.error().message);
  }
  out.line("B " + std::to_string((*service)->stats().head_seq));

  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::thread> threads;
  for (int c = 0; c < cfg.clients; ++c) {
    clients.push_back(std::make_unique<Client>(**service, out, cfg, plan, c));
  }
  for (auto& c : clients) threads.emplace_back([&c] { c->run(); });
  if (cfg.with_reconcile) {
    threads.emplace_back([&] { reconcile_loop(**service, out, mix(plan.seed, 7)); });
  }
  std::this_thread::sleep_for(kChildLifetime);
  out.fail("the child was not killed within " + std::to_string(kChildLifetime.count()) + " s");
}

// ---------------------------------------------------------------------------
// The parent.

struct ChildReport {
  bool booted = false;
  std::vector<Ack> acks;
  std::vector<RunAck> runs;
  std::vector<std::string> retries;  // "P ..." lines, unparsed
  std::vector<std::string> errors;   // "E ..." lines and unreadable lines
  int reconciles_queued = 0;         // "Q": a reconcile was requested
  int reconciles_done = 0;           // "R" or "N": it completed
};

ChildReport parse(const std::string& text) {
  ChildReport report;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (lines.eof() && !text.empty() && text.back() != '\n') break;  // a torn last line
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "B") {
      report.booted = true;
    } else if (tag == "A") {
      Ack a;
      int type = 0;
      in >> a.seq >> type >> a.template_id >> a.fork >> a.source >> a.request_id;
      a.type = static_cast<fj::EventType>(type);
      a.fork = undash(a.fork);
      a.source = undash(a.source);
      if (!in || a.seq == 0) {
        report.errors.push_back("unreadable line from the child: " + line);
        continue;
      }
      report.acks.push_back(std::move(a));
    } else if (tag == "R") {
      RunAck r;
      in >> r.first >> r.last >> r.corrections >> r.swept;
      if (!in) {
        report.errors.push_back("unreadable line from the child: " + line);
        continue;
      }
      report.runs.push_back(r);
      ++report.reconciles_done;
    } else if (tag == "Q") {
      ++report.reconciles_queued;
    } else if (tag == "N") {
      ++report.reconciles_done;
    } else if (tag == "P") {
      report.retries.push_back(line.substr(2));
    } else {
      report.errors.push_back(tag == "E" ? line.substr(std::min<std::size_t>(2, line.size()))
                                         : "unreadable line from the child: " + line);
    }
  }
  return report;
}

struct Totals {
  std::uint64_t iterations = 0;
  std::uint64_t kills = 0;
  std::uint64_t boots = 0;  // children that booted before the kill
  std::uint64_t acknowledged = 0;
  std::uint64_t mid_reconcile = 0;  // kills while a requested reconcile had not completed
  std::uint64_t runs_acknowledged = 0;
  std::uint64_t runs_in_log = 0;
  std::uint64_t corrections_in_log = 0;
  std::uint64_t retries_matched = 0;
  std::uint64_t full_checks = 0;  // audits and replays from seq 1, the final one included
  std::uint64_t first_head = 0;
  std::uint64_t head = 0;
};

class Violation {
 public:
  explicit Violation(std::string what) : what_(std::move(what)) {}
  const std::string& what() const { return what_; }

 private:
  std::string what_;
};

// The run cannot be made (exit 2): nothing was checked yet.
class SetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string describe(const fj::Error& e) {
  return std::string(fj::code_name(e.code)) + ": " + e.message;
}

template <class T>
T must(fj::Result<T> r, const std::string& what) {
  if (!r) throw Violation(what + ": " + describe(r.error()));
  return std::move(*r);
}

// A broken invariant ends the run like any other violation.
template <class T>
T hold(fj::invariants::Checked<T> c) {
  if (!c) throw Violation(c.error().what);
  return std::move(*c);
}
void hold(fj::invariants::Checked<> c) {
  if (!c) throw Violation(c.error().what);
}

class Parent {
 public:
  Parent(Config cfg, std::string report_command)
      : cfg_(std::move(cfg)), rerun_(std::move(report_command)) {}

  int run() {
    std::cout << "crashtest: seed " << cfg_.seed << ", " << cfg_.iterations << " iterations, "
              << cfg_.clients << " clients, kill after 0-" << cfg_.max_kill_ms << " ms"
              << (cfg_.with_reconcile ? ", with reconciles against " + cfg_.data_root : "")
              << ", journal " << cfg_.journal << std::endl;
    const auto started = Clock::now();
    try {
      start();
      for (iteration_ = 0; iteration_ < cfg_.iterations; ++iteration_) one_iteration();
      final_check();
    } catch (const SetupError& e) {
      std::cerr << "forkjournal-crashtest: " << e.what() << std::endl;
      return 2;
    } catch (const Violation& v) {
      std::cout << "VIOLATION (seed " << cfg_.seed << ", iteration " << iteration_
                << "): " << v.what() << "\n  journal kept at " << cfg_.journal
                << "\n  reproduce: " << rerun_ << std::endl;
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "forkjournal-crashtest: " << e.what() << std::endl;
      return 2;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::cout << "crashtest: seed " << cfg_.seed << ": " << totals_.iterations << " iterations, "
              << totals_.kills << " kills (" << totals_.boots << " after boot), "
              << totals_.head - totals_.first_head << " events, " << totals_.acknowledged
              << " acknowledged, " << totals_.retries_matched << " retries matched, "
              << totals_.full_checks << " full checks";
    if (cfg_.with_reconcile) {
      std::cout << ", " << totals_.mid_reconcile << " kills mid-reconcile, " << totals_.runs_in_log
                << " reconcile runs in the log (" << totals_.runs_acknowledged << " acknowledged, "
                << totals_.corrections_in_log << " corrections and sweeps)";
    }
    std::cout << ", head seq " << totals_.head << ", " << static_cast<int>(seconds)
              << " s: nothing lost" << std::endl;
    return 0;
  }

 private:
  // The journal directory is missing or empty (main checked): the run
  // starts from an empty journal, which it creates.
  void start() {
    std::error_code ec;
    if (!cfg_.child_creates) {
      // Created here, not by the first child (--child-creates exercises a
      // kill inside Journal::create instead).
      auto created = fj::Journal::create(cfg_.journal);
      if (!created) throw SetupError("cannot create the journal: " + describe(created.error()));
    }
    if (fs::exists(fs::path(cfg_.journal) / "data.mdb", ec)) {
      // The first head the checks trust: the new journal's seed.
      auto journal = must(fj::Journal::open(cfg_.journal), "opening the journal");
      auto report = must(fj::audit(journal), "audit before the first iteration");
      if (!report.ok()) throw Violation("the journal has audit findings before the first kill");
      verified_ = fj::AuditPoint{fj::ChainPoint{report.head_seq, report.chain_head},
                                 std::move(*report.state)};
    }
    totals_.first_head = totals_.head = verified_.chain.seq;
    if (cfg_.with_reconcile) {
      fs::create_directories(fs::path(cfg_.data_root) / "guests", ec);
      if (!ec) fs::create_directories(fs::path(cfg_.data_root) / "templates", ec);
      if (ec) {
        throw SetupError("cannot create the data root " + cfg_.data_root + ": " + ec.message());
      }
    }
  }

  // The data root drifts every iteration: sources of some templates and
  // forks the journal never saw appear, older ones vanish, and now and then
  // a torn metadata file blocks the sweep.
  void prepare_data_root(std::mt19937_64& rng) {
    const fs::path guests = fs::path(cfg_.data_root) / "guests";
    const auto instance = [&](const std::string& id, const std::string& fork_of) {
      fs::create_directories(guests / id);
      std::ofstream(guests / id / "metadata.json", std::ios::trunc)
          << "{\"Id\": \"" << id << "\", \"IsTemplate\": false, \"TemplateID\": \"\", "
          << "\"ForkOfTemplate\": \"" << fork_of << "\"}";
    };
    const std::uint64_t it = iteration_;
    for (int k = 0; k < kTemplatesPerIteration; ++k) {
      if (rng() % 4 != 0) instance(source_id(it, k), "");  // the others get swept
    }
    for (int j = 0; j < kDiskForksPerIteration; ++j) {
      const std::uint64_t owner = it > 0 && rng() % 3 == 0 ? it - 1 : it;
      instance(disk_fork_id(it, j),
               tpl_id(owner, static_cast<int>(rng() % kTemplatesPerIteration)));
    }
    if (it >= 2) {
      for (int k = 0; k < kTemplatesPerIteration; ++k)
        fs::remove_all(guests / source_id(it - 2, k));
      for (int j = 0; j < kDiskForksPerIteration; ++j) {
        if (rng() % 2 == 0) fs::remove_all(guests / disk_fork_id(it - 2, j));
      }
    }
    fs::remove_all(guests / "torn");
    if (rng() % 5 == 0) {
      fs::create_directories(guests / "torn");
      std::ofstream(guests / "torn" / "metadata.json", std::ios::trunc)
          << "{\"Id\": \"torn\", \"Fork";
    }
  }

  void one_iteration() {
    std::mt19937_64 rng(mix(cfg_.seed, iteration_));
    ChildPlan plan;
    plan.iteration = iteration_;
    plan.seed = rng();
    plan.snapshot_every = 32 + rng() % 256;
    plan.retries = retries_;
    // Most kills land while requests flow (timed from the child's boot);
    // some during boot (timed from the fork).
    const bool during_boot = rng() % 8 == 0;
    const auto kill_after = std::chrono::microseconds(
        during_boot ? static_cast<int>(rng() % 20'000)
                    : 1000 + static_cast<int>(rng() % (cfg_.max_kill_ms * 1000)));
    if (cfg_.with_reconcile) prepare_data_root(rng);

    int fds[2];
    if (::pipe(fds) != 0) throw Violation(std::string("pipe: ") + std::strerror(errno));
    fj::gc::Fd read_end(fds[0]), write_end(fds[1]);
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = ::fork();
    if (pid < 0) throw Violation(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      read_end.reset();
      run_child(cfg_, plan, write_end.get());
    }
    write_end.reset();
    std::string text;
    const auto forked = Clock::now();
    std::optional<Clock::time_point> deadline;
    if (during_boot) deadline = forked + kill_after;
    std::optional<Clock::time_point> booted;
    bool killed = false, eof = false;
    while (!eof) {
      if (!booted && text.starts_with("B ")) {
        booted = Clock::now();
        if (!deadline) deadline = *booted + kill_after;
      }
      // A child that does not boot is killed anyway after a while.
      const Clock::time_point when = deadline ? *deadline : forked + kBootWait;
      int timeout = -1;
      if (!killed) {
        const auto left =
            std::chrono::duration_cast<std::chrono::microseconds>(when - Clock::now()).count();
        if (left <= 0) {
          ::kill(pid, SIGKILL);
          killed = true;
        } else {
          timeout = static_cast<int>((left + 999) / 1000);
        }
      }
      pollfd p{read_end.get(), POLLIN, 0};
      const int ready = ::poll(&p, 1, timeout);
      if (ready < 0 && errno != EINTR)
        throw Violation(std::string("poll: ") + std::strerror(errno));
      if (ready <= 0) continue;
      char buf[1 << 16];
      const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof = true;
      } else {
        text.append(buf, static_cast<std::size_t>(n));
      }
    }
    read_end.reset();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ChildReport report = parse(text);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      std::string why = WIFSIGNALED(status)
                            ? "died of signal " + std::to_string(WTERMSIG(status))
                            : "exited with status " + std::to_string(WEXITSTATUS(status));
      for (const std::string& e : report.errors) why += "; " + e;
      throw Violation("the child " + why + " before the kill");
    }
    if (!report.errors.empty()) throw Violation("the child reported: " + report.errors.front());
    ++totals_.kills;
    totals_.boots += report.booted;
    totals_.mid_reconcile += report.reconciles_queued > report.reconciles_done;
    check(report);
    ++totals_.iterations;
    if (cfg_.verbose) {
      const auto ms = [](auto d) {
        const auto tenths = std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 100;
        return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
      };
      std::cout << "iteration " << iteration_ << ": "
                << (booted ? "booted after " + ms(*booted - forked) + " ms, "
                           : std::string("killed during boot, "))
                << "killed " << ms(kill_after) << " ms after "
                << (during_boot ? "the fork" : "boot") << ", " << report.acks.size()
                << " acknowledged, " << report.runs.size() << " reconcile runs, head seq "
                << verified_.chain.seq << std::endl;
    }
  }

  void check(const ChildReport& report) {
    const std::uint64_t before = verified_.chain.seq;
    std::error_code ec;
    if (before == 0 && report.acks.empty() && !report.booted &&
        !fs::exists(fs::path(cfg_.journal) / "data.mdb", ec)) {
      return;  // --child-creates: killed before the journal existed; nothing to check
    }
    auto journal = must(fj::Journal::open(cfg_.journal), "reopening the journal after the kill");

    // 1. The audit of what this child appended, from the point verified last
    //    time: the new records, the stored chain after the point, their replay
    //    onto the projection verified there (the incremental projection).
    //    Every --full-check-every iterations also from seq 1, with a full
    //    replay.
    fj::AuditOptions audit_options;
    if (before > 0) {
      audit_options.expect_head = verified_.chain;
      audit_options.from = &verified_;
    }
    auto audited = hold(fj::invariants::clean_audit(journal, audit_options));
    const std::uint64_t head = audited.head_seq;
    if (!audited.state) throw Violation("a clean audit returned no projection");
    if (before > 0 && (totals_.iterations + 1) % cfg_.full_check_every == 0) {
      full_check(journal, audited);
    }

    // 2. Every acknowledged event, where it was acknowledged, claimed once.
    std::vector<fj::invariants::AckedEvent> acked;
    acked.reserve(report.acks.size());
    for (const Ack& a : report.acks) {
      acked.push_back({a.seq, a.type, a.template_id, a.fork, a.source, "request " + a.request_id});
    }
    hold(fj::invariants::acknowledged_present(
        journal, acked, {.after = before, .head = head, .name = "the seqs this child appended"}));
    totals_.acknowledged += report.acks.size();

    // 3. Retried request ids return their original seqs.
    for (const std::string& line : report.retries) {
      std::istringstream in(line);
      std::string id, first;
      in >> id >> first;
      const auto it = std::find_if(retries_.begin(), retries_.end(),
                                   [&](const Retry& r) { return r.original.request_id == id; });
      if (it == retries_.end()) throw Violation("the child retried an unknown request id " + id);
      if (first == "error") throw Violation("retry of request " + id + " failed: " + line);
      std::uint64_t last = 0;
      int replayed = 0;
      in >> last >> replayed;
      if (std::stoull(first) != it->original.seq || last != it->original.seq || replayed != 1) {
        throw Violation("retry of request " + id + " returned seqs " + first + "-" +
                        std::to_string(last) + (replayed ? " (replayed)" : " (executed again)") +
                        ", not the acknowledged seq " + std::to_string(it->original.seq));
      }
      ++totals_.retries_matched;
    }

    // 4. Reconcile runs: all of one or nothing.
    const auto runs =
        hold(fj::invariants::reconcile_runs_whole(journal, before, head, report.runs));
    totals_.runs_acknowledged += report.runs.size();
    totals_.runs_in_log += runs.runs;
    totals_.corrections_in_log += runs.corrections;

    // 5. Snapshot + tail == the incremental projection; no stored snapshot
    //    ignored.
    hold(fj::invariants::load_matches(journal, head, *audited.state));

    // 6. A usable snapshot: written at the head and loaded back.
    hold(fj::invariants::snapshot_round_trip(journal, head, *audited.state));

    verified_ = fj::AuditPoint{fj::ChainPoint{head, audited.chain_head}, std::move(*audited.state)};
    totals_.head = head;

    // The next child retries a few of this child's acknowledged requests.
    retries_.clear();
    for (std::size_t i = report.acks.size(); i > 0 && retries_.size() < 4;
         i -= std::min<std::size_t>(i, 7)) {
      retries_.push_back(Retry{report.acks[i - 1]});
    }
  }

  // The check from seq 1: an audit anchored at the point verified before this
  // iteration and a full replay, both ending where the incremental check
  // ended, with the same chain value and projection, and load() equal to the
  // replay.
  void full_check(const fj::Journal& journal, const fj::AuditReport& incremental) {
    fj::AuditOptions options;
    options.expect_head = verified_.chain;
    const auto audited = hold(fj::invariants::clean_audit(journal, options));
    if (audited.head_seq != incremental.head_seq || audited.chain_head != incremental.chain_head) {
      throw Violation("the full audit ends at seq " + std::to_string(audited.head_seq) +
                      " with another chain value than the incremental one at seq " +
                      std::to_string(incremental.head_seq));
    }
    const auto loaded = hold(fj::invariants::load_matches_replay(journal, incremental.head_seq));
    if (!(loaded.replayed == *incremental.state)) {
      throw Violation("the projection built incrementally differs from a full replay to seq " +
                      std::to_string(incremental.head_seq));
    }
    ++totals_.full_checks;
  }

  void final_check() {
    std::error_code ec;
    if (verified_.chain.seq == 0 && !fs::exists(fs::path(cfg_.journal) / "data.mdb", ec)) return;
    auto journal = must(fj::Journal::open(cfg_.journal), "reopening the journal at the end");
    fj::AuditOptions options;
    options.expect_head = verified_.chain;
    auto audited = must(fj::audit(journal, options), "final audit");
    if (!audited.ok()) throw Violation("the final audit has findings");
    if (audited.head_seq != verified_.chain.seq) {
      throw Violation("the head moved after the last check");
    }
    const auto loaded = hold(fj::invariants::load_matches_replay(journal, verified_.chain.seq));
    if (!(loaded.replayed == verified_.state)) {
      throw Violation("the projection built incrementally differs from a full replay to seq " +
                      std::to_string(verified_.chain.seq));
    }
    ++totals_.full_checks;
  }

  Config cfg_;
  std::string rerun_;
  std::uint64_t iteration_ = 0;
  // The head, chain value and projection the last check verified.
  fj::AuditPoint verified_{};
  std::vector<Retry> retries_;
  Totals totals_;
};

std::string make_temp_dir(const char* prefix) {
  std::string pattern = (fs::temp_directory_path() / (std::string(prefix) + ".XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{
      "forkjournal-crashtest: a seeded kill -9 loop. A child appends through the embeddable\n"
      "service from several clients and reports every acknowledged seq; the parent SIGKILLs it\n"
      "at a random moment, reopens the journal and checks that nothing acknowledged was lost.\n"
      "It creates its own scratch journal (and data root), filled with fake events and guests:\n"
      "a --journal or --data-root that exists and is not empty is refused.\n"
      "Exit codes: 0 every check passed, 1 a violation (seed and iteration printed), 2 a usage\n"
      "error or a run that cannot be made (one line on stderr).\n"
      "With --power-loss: the crash states a power loss may leave instead (see below); exit 0\n"
      "when the --sync mode kept its promise, 1 when it did not, 2 when the run cannot be made.",
      "forkjournal-crashtest"};
  app.set_version_flag("--version", std::string("forkjournal-crashtest ") + FJ_VERSION +
                                        " (journal format version " +
                                        std::to_string(fj::kFormatVersion) + ")");
  bool seeded = false;
  app.add_option("--journal", cfg.journal,
                 "New or empty directory for the test's own scratch journal, kept after a "
                 "violation (default: a temporary directory, removed at the end); one that exists "
                 "and is not empty is refused (exit 2)");
  app.add_option("--iterations", cfg.iterations, "Kills to run")
      ->check(whole_number(1, "POSITIVE"))
      ->capture_default_str();
  app.add_option_function<std::uint64_t>(
         "--seed",
         [&](const std::uint64_t& s) {
           cfg.seed = s;
           seeded = true;
         },
         "Seed of the kill schedule and the workload (default: random, printed)")
      ->check(whole_number(0, ""));
  app.add_option("--data-root", cfg.data_root,
                 "New or empty directory for a scratch VM-manager data root to reconcile "
                 "against, which gets fake guests and drift every iteration (implies "
                 "--with-reconcile); one that exists and is not empty is refused (exit 2)");
  app.add_flag("--with-reconcile", cfg.with_reconcile,
               "The child also runs reconciles; kills land mid-reconcile (data root: a temporary "
               "directory unless --data-root)");
  app.add_option("--clients", cfg.clients, "Concurrent client threads in the child")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  app.add_option("--max-kill-ms", cfg.max_kill_ms,
                 "Kill the child at most this long after forking it")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_flag("--child-creates", cfg.child_creates,
               "Let the first child create the journal through Service::start, so that a kill "
               "can land inside Journal::create");
  app.add_option("--full-check-every", cfg.full_check_every,
                 "Audit and replay the whole journal every N iterations (and at the end); the "
                 "others check only what the last child appended")
      ->check(whole_number(1, "POSITIVE"))
      ->capture_default_str();
  app.add_flag("-v,--verbose", cfg.verbose, "One line per iteration");
  fj::power_loss::PowerLossCli power_loss;
  fj::power_loss::add_power_loss_options(app, power_loss);
  if (const auto empty = fj::empty_option_value(app, argc, argv)) {
    std::cerr << "forkjournal-crashtest: " << *empty << " (see 'forkjournal-crashtest --help')\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes (105, 109, ...) are no usage error's 2.
    std::cerr << "forkjournal-crashtest: " << fj::usage_error(app, e)
              << " (see 'forkjournal-crashtest --help')\n";
    return 2;
  }
  for (const auto& [path, option, what] : {std::tuple{cfg.journal, "--journal", "journal"},
                                           std::tuple{cfg.data_root, "--data-root", "data root"}}) {
    if (path.empty()) continue;
    if (const auto problem = fj::crashtest::scratch_dir_problem(path, option, what)) {
      std::cerr << "forkjournal-crashtest: " << *problem << '\n';
      return 2;
    }
  }

  if (!seeded) cfg.seed = std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32);
  if (power_loss.power_loss || power_loss.workload) {
    return fj::power_loss::run_power_loss(power_loss, cfg.seed);
  }
  if (!cfg.data_root.empty()) cfg.with_reconcile = true;

  std::vector<std::string> remove_at_end;
  if (cfg.journal.empty()) {
    const std::string tmp = make_temp_dir("fjcrash");
    if (tmp.empty()) {
      std::cerr << "forkjournal-crashtest: cannot create a temporary directory\n";
      return 2;
    }
    cfg.journal = tmp + "/journal";
    remove_at_end.push_back(tmp);
  }
  if (cfg.with_reconcile && cfg.data_root.empty()) {
    const std::string tmp = make_temp_dir("fjcrash-root");
    if (tmp.empty()) {
      std::cerr << "forkjournal-crashtest: cannot create a temporary directory\n";
      return 2;
    }
    cfg.data_root = tmp;
    remove_at_end.push_back(tmp);
  }

  std::string rerun =
      std::string(argv[0]) + " --seed " + std::to_string(cfg.seed) + " --iterations " +
      std::to_string(cfg.iterations) + " --clients " + std::to_string(cfg.clients) +
      " --max-kill-ms " + std::to_string(cfg.max_kill_ms) + " --full-check-every " +
      std::to_string(cfg.full_check_every) + (cfg.with_reconcile ? " --with-reconcile" : "") +
      (cfg.child_creates ? " --child-creates" : "");
  Parent parent(cfg, rerun);
  const int rc = parent.run();
  if (rc == 0) {
    std::error_code ec;
    for (const std::string& dir : remove_at_end) fs::remove_all(dir, ec);
  }
  return rc;
}
