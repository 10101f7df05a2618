// A VM manager embedding the forkjournal service: one io_context thread, the
// service's writer thread, and the three kinds of Asio completion token.
//
//   embed JOURNAL_DIR
#include "daemon/service.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <iostream>
#include <thread>

namespace asio = boost::asio;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: embed JOURNAL_DIR\n";
    return 2;
  }
  asio::io_context io;
  fj::service::ServiceOptions options;
  options.journal = argv[1];
  options.log = [](const std::string& line) { std::cerr << "service: " << line << '\n'; };
  auto service = fj::service::Service::start(io.get_executor(), options);
  if (!service) {
    std::cerr << "embed: " << service.error().message << '\n';
    return 2;
  }
  fj::service::Service& journal = **service;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });

  // 1. A callback.
  std::promise<bool> registered;
  journal.async_execute({fj::RegisterTemplate{"tpl0web", "src0web", "web"}, "register-web"},
                        [&](fj::Result<fj::Outcome> r) {
                          if (r) std::cout << "registered at seq " << r->last_seq << '\n';
                          registered.set_value(r || r.error().code == fj::Errc::already_exists);
                        });
  if (!registered.get_future().get()) return 1;

  // 2. A future: the VM manager records the fork before creating it.
  fj::Result<fj::Outcome> forked =
      journal.async_execute({fj::AddFork{"tpl0web", "frk0web1"}, "fork-frk0web1"}, asio::use_future)
          .get();
  if (!forked) {
    std::cerr << "embed: " << forked.error().message << '\n';
    return 1;
  }
  std::cout << "fork recorded at seq " << forked->last_seq << (forked->replayed ? " (retried)" : "")
            << '\n';

  // 3. A coroutine: read the count, then try to delete the template.
  std::promise<int> done;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto count = co_await journal.async_read(
            [](const fj::Projection& p) { return p.find("tpl0web")->forks; }, asio::use_awaitable);
        std::cout << "tpl0web has " << *count << " live fork(s)\n";
        // Named, not a temporary inside co_await: GCC 12 may destroy such
        // temporaries twice (see daemon/service.h).
        fj::Request retire_request{fj::RetireTemplate{"tpl0web"}, ""};
        auto retire =
            co_await journal.async_execute(std::move(retire_request), asio::use_awaitable);
        if (!retire && retire.error().code == fj::Errc::in_use) {
          std::cout << "delete refused while forks live: " << retire.error().message << '\n';
          done.set_value(0);
        } else {
          done.set_value(1);
        }
      },
      asio::detached);
  const int code = done.get_future().get();

  journal.stop();
  work.reset();
  runner.join();
  return code;
}
