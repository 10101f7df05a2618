#include "bench/group_commit.h"

#include "bench/measure.h"
#include "bench/platform.h"
#include "daemon/service.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <string>
#include <thread>

namespace fj::bench {

Result<GroupCommitRun> time_group_commit(std::uint64_t count, std::uint32_t clients,
                                         const std::optional<fleet::ShipOptions>& ship) {
  auto dir = TempDir::create("group");
  if (!dir) return dir.error();
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  service::ServiceOptions options;
  options.journal = dir->sub("journal");
  options.snapshot_every = 0;
  options.ship = ship;
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
  const double cpu_before = process_cpu_seconds();
  if (registration) {
    for (std::uint32_t c = 0; c < clients; ++c) {
      boost::asio::post(io, Client{&svc, c, count, clients, &finished, &ok, &all_done});
    }
    all_done.get_future().wait();
  }
  GroupCommitRun run{clock.seconds(), 0, process_cpu_seconds() - cpu_before, 0};
  const auto stats = svc.stats();
  if (stats.ship) run.shipped = stats.ship->shipped_seq;
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

}  // namespace fj::bench
