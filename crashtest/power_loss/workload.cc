#include "crashtest/power_loss/workload.h"

#include "crashtest/dash.h"
#include "crashtest/waiter.h"
#include "daemon/service.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

namespace fj::power_loss {
namespace {

using fj::crashtest::dash;

namespace fs = std::filesystem;

constexpr int kTemplates = 5;
constexpr int kDiskForks = 4;

std::string tpl(int k) {
  return "t" + std::to_string(k);
}
std::string source(int k) {
  return "s" + std::to_string(k);
}

using MarkFn = void (*)(const char*, std::size_t);

class Marks {
 public:
  explicit Marks(MarkFn fn) : fn_(fn) {}
  void event(std::uint64_t seq, const Event& e) const {
    const std::string line = "A " + std::to_string(seq) + " " +
                             std::to_string(static_cast<int>(e.type)) + " " +
                             std::to_string(static_cast<int>(e.origin)) + " " +
                             dash(e.template_id) + " " + dash(e.fork) + " " + dash(e.source);
    fn_(line.data(), line.size());
  }
  void snapshot(std::uint64_t seq) const {
    const std::string line = "S " + std::to_string(seq);
    fn_(line.data(), line.size());
  }

 private:
  MarkFn fn_;
};

Event event_of(const Command& c) {
  Event e;
  std::visit(
      [&](const auto& cmd) {
        using T = std::decay_t<decltype(cmd)>;
        e.template_id = cmd.template_id;
        if constexpr (std::is_same_v<T, RegisterTemplate>) {
          e.type = EventType::template_registered;
          e.source = cmd.source;
        } else if constexpr (std::is_same_v<T, AddFork>) {
          e.type = EventType::fork_added;
          e.fork = cmd.fork;
        } else if constexpr (std::is_same_v<T, RemoveFork>) {
          e.type = EventType::fork_removed;
          e.fork = cmd.fork;
        } else {
          e.type = EventType::template_retired;
        }
      },
      c);
  return e;
}

// A committed reconcile's corrections and sweeps, then its marker.
void mark_run(const Marks& marks, const gc::ReconcileReport& report) {
  if (!report.committed) return;
  std::uint64_t seq = report.first_seq;
  for (const Event& e : report.appended) marks.event(seq++, e);
  Event run;
  run.type = EventType::reconcile_run;
  run.origin = Origin::reconcile;
  marks.event(report.last_seq, run);
}

class Workload {
 public:
  Workload(service::Service& service, const Marks& marks, const WorkloadOptions& options)
      : service_(service), marks_(marks), options_(options), rng_(options.seed) {}

  bool run() {
    int sent = 0;
    bool snapshot_done = false, reconcile_done = false;
    while (sent < options_.requests) {
      if (!snapshot_done && sent >= options_.requests / 3) {
        snapshot_done = true;
        if (!snapshot()) return false;
      }
      if (!reconcile_done && sent >= 2 * options_.requests / 3) {
        reconcile_done = true;
        if (!reconcile()) return false;
      }
      const int burst = 1 + static_cast<int>(rng_() % 4);
      std::vector<Command> commands;
      std::vector<std::future<Result<Outcome>>> pending;
      for (int i = 0; i < burst && sent < options_.requests; ++i, ++sent) {
        commands.push_back(next_command());
        Waiter<Result<Outcome>> done;
        service_.async_execute(Request{commands.back(), "w" + std::to_string(sent)},
                               done.callback());
        pending.push_back(std::move(done.future));
      }
      for (std::size_t i = 0; i < pending.size(); ++i) {
        if (!settle(commands[i], pending[i].get())) return false;
      }
    }
    return true;
  }

 private:
  Command next_command() {
    const unsigned roll = static_cast<unsigned>(rng_() % 100);
    const int k = static_cast<int>(rng_() % kTemplates);
    if (roll < 10) return RegisterTemplate{tpl(k), source(k), ""};
    if (roll < 60 || live_.empty()) {
      return AddFork{tpl(k), "f" + std::to_string(++forks_)};
    }
    if (roll < 95) {
      const std::size_t pick = rng_() % live_.size();
      auto [t, f] = live_[pick];
      live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(pick));
      return RemoveFork{t, f};
    }
    return RetireTemplate{tpl(k)};
  }

  bool settle(const Command& c, Result<Outcome> outcome) {
    if (!outcome) {
      if (outcome.error().refusal()) return true;
      std::cerr << "power-loss workload: a request failed: " << code_name(outcome.error().code)
                << ": " << outcome.error().message << "\n";
      return false;
    }
    if (outcome->first_seq == 0) return true;  // a no-op
    const Event e = event_of(c);
    marks_.event(outcome->first_seq, e);
    if (e.type == EventType::fork_added) live_.emplace_back(e.template_id, e.fork);
    return true;
  }

  bool snapshot() {
    Waiter<Result<std::uint64_t>> done;
    service_.async_snapshot(done.callback());
    auto seq = done.future.get();
    if (!seq) {
      std::cerr << "power-loss workload: the snapshot failed: " << seq.error().message << "\n";
      return false;
    }
    marks_.snapshot(*seq);
    return true;
  }

  bool reconcile() {
    Waiter<Result<gc::ReconcileReport>> done;
    service_.async_reconcile(false, done.callback());
    auto report = done.future.get();
    if (!report) {
      std::cerr << "power-loss workload: the reconcile failed: " << report.error().message << "\n";
      return false;
    }
    mark_run(marks_, *report);
    return true;
  }

  service::Service& service_;
  const Marks& marks_;
  const WorkloadOptions& options_;
  std::mt19937_64 rng_;
  std::uint64_t forks_ = 0;
  std::vector<std::pair<std::string, std::string>> live_;
};

}  // namespace

void prepare_data_root(const std::string& data_root) {
  const fs::path guests = fs::path(data_root) / "guests";
  const auto instance = [&](const std::string& id, const std::string& fork_of) {
    fs::create_directories(guests / id);
    std::ofstream(guests / id / "metadata.json", std::ios::trunc)
        << "{\"Id\": \"" << id << "\", \"IsTemplate\": false, \"TemplateID\": \"\", "
        << "\"ForkOfTemplate\": \"" << fork_of << "\"}";
  };
  fs::create_directories(fs::path(data_root) / "templates");
  for (int k = 0; k < kTemplates; ++k) instance(source(k), "");
  for (int j = 0; j < kDiskForks; ++j) instance("d" + std::to_string(j), tpl(j % kTemplates));
}

int run_workload(const WorkloadOptions& options) {
  const auto mark = reinterpret_cast<MarkFn>(::dlsym(RTLD_DEFAULT, "fj_record_mark"));
  if (mark == nullptr) {
    std::cerr << "power-loss workload: the write recorder is not loaded (LD_PRELOAD)\n";
    return 1;
  }
  const Marks marks(mark);
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });

  service::ServiceOptions service_options;
  service_options.journal = options.journal;
  service_options.sync = options.sync;
  service_options.snapshot_every = 0;
  service_options.data_root = options.data_root;
  int rc = 0;
  {
    auto service = service::Service::start(io.get_executor(), service_options);
    if (!service) {
      std::cerr << "power-loss workload: the service did not boot: "
                << code_name(service.error().code) << ": " << service.error().message << "\n";
      rc = 1;
    } else {
      // What the boot's reconcile appended is acknowledged too.
      if (const auto& boot = (*service)->boot_report(); boot.reconcile) {
        mark_run(marks, *boot.reconcile);
      }
      Workload workload(**service, marks, options);
      if (!workload.run()) rc = 1;
      (*service)->stop();
    }
  }
  work.reset();
  io_thread.join();
  return rc;
}

}  // namespace fj::power_loss
