// forkjournald: serves a fork journal to VM managers over a Unix socket
// (newline-delimited JSON, docs/protocol.md), with group commit.
#include "daemon/protocol.h"
#include "daemon/service.h"
#include "journal/clock.h"
#include "present/report_json.h"
#include "journal/format.h"
#include "present/render.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <list>
#include <regex>

#ifndef FJ_VERSION
#define FJ_VERSION "unknown"
#endif

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::local::stream_protocol;
using fj::protocol::Op;

// --- logging -------------------------------------------------------------------

bool g_json_logs = false;

void log_line(const std::string& message) {
  const std::string time = fj::render::rfc3339(fj::wall_clock_ns());
  if (g_json_logs) {
    std::cerr << json::serialize(json::object{{"time", time}, {"msg", message}}) << std::endl;
  } else {
    std::cerr << time << " forkjournald: " << message << std::endl;
  }
}

[[noreturn]] void fail(const std::string& message) {
  log_line("error: " + message);
  std::exit(2);
}

// --- arguments -------------------------------------------------------------------

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  static const std::regex re(R"(^(\d{1,9})(ms|s|m|h)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  const long long n = std::stoll(m[1]);
  const std::string unit = m[2];
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  return std::chrono::seconds(n);
}

// --- the writer role and the socket -------------------------------------------------

// Holds an exclusive flock on DIR/daemon.lock for the process's lifetime.
void take_writer_role(const std::string& journal) {
  const std::string path = journal + "/daemon.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    (void)!::pread(fd, pid, sizeof pid - 1, 0);
    fail("another forkjournald holds the journal's writer role (" + path + ", pid " +
         std::string(pid).substr(0, std::string(pid).find('\n')) + ")");
  }
  const std::string mine = std::to_string(::getpid()) + "\n";
  (void)!::ftruncate(fd, 0);
  (void)!::pwrite(fd, mine.data(), mine.size(), 0);
  // The descriptor stays open (and the lock held) until the process exits.
}

stream_protocol::acceptor open_socket(asio::io_context& io, const std::string& path,
                                      unsigned mode) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) fail(path + " exists and is not a socket; refusing to replace it");
    stream_protocol::socket probe(io);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path), ec);
    if (!ec) fail("another daemon is serving on " + path);
    ::unlink(path.c_str());
    log_line("removed stale socket " + path);
  }
  stream_protocol::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(stream_protocol(), ec);
  if (!ec) acceptor.bind(stream_protocol::endpoint(path), ec);
  if (ec) fail("cannot bind " + path + ": " + ec.message());
  if (::chmod(path.c_str(), mode) != 0) fail("cannot chmod " + path + ": " + std::strerror(errno));
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("cannot listen on " + path + ": " + ec.message());
  return acceptor;
}

// --- requests --------------------------------------------------------------------------

json::object outcome_json(const fj::Outcome& o) {
  json::object out{{"seq", o.first_seq != 0 ? o.last_seq : o.already_at}};
  if (o.first_seq == 0) out["noop"] = true;
  if (o.replayed) out["replayed"] = true;
  return out;
}

class Server {
 public:
  Server(asio::io_context& io, fj::service::Service& service, stream_protocol::acceptor acceptor)
      : io_(io), service_(service), acceptor_(std::move(acceptor)) {}

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping_) co_return;
        log_line("accept failed: " + ec.message());
        continue;
      }
      ucred peer{};
      socklen_t len = sizeof peer;
      if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0) {
        log_line("connection from uid " + std::to_string(peer.uid) + " pid " +
                 std::to_string(peer.pid));
      }
      auto it = connections_.insert(connections_.end(), std::move(socket));
      asio::co_spawn(io_, session(it), asio::detached);
    }
  }

  // Stops accepting and ends every connection once its current request is
  // answered (reads see end-of-file; writes still go out).
  void stop() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    for (auto& socket : connections_)
      socket.shutdown(stream_protocol::socket::shutdown_receive, ec);
  }

 private:
  asio::awaitable<void> session(std::list<stream_protocol::socket>::iterator it) {
    stream_protocol::socket& socket = *it;
    std::string buffer;
    for (;;) {
      auto [ec, n] = co_await asio::async_read_until(
          socket, asio::dynamic_buffer(buffer, fj::protocol::kMaxLine + 1), '\n',
          asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::not_found) {
        const std::string reply = fj::protocol::error_response(
            nullptr, "too_large",
            "request line longer than " + std::to_string(fj::protocol::kMaxLine) + " bytes");
        co_await asio::async_write(socket, asio::buffer(reply + "\n"),
                                   asio::as_tuple(asio::use_awaitable));
        break;
      }
      if (ec) break;
      std::string line = buffer.substr(0, n - 1);
      buffer.erase(0, n);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const std::string reply = co_await handle(line) + "\n";
      auto [write_ec, written] = co_await asio::async_write(socket, asio::buffer(reply),
                                                            asio::as_tuple(asio::use_awaitable));
      if (write_ec || stopping_) break;
    }
    boost::system::error_code ignored;
    socket.close(ignored);
    connections_.erase(it);
  }

  asio::awaitable<std::string> handle(std::string_view line) {
    auto parsed = fj::protocol::parse_request(line);
    if (auto* e = std::get_if<fj::protocol::ProtocolError>(&parsed)) {
      co_return fj::protocol::error_response(e->id, e->code, e->message);
    }
    auto& r = std::get<fj::protocol::ParsedRequest>(parsed);
    const auto refuse = [&](const fj::Error& e) {
      return fj::protocol::error_response(r.id, fj::protocol::error_code(e), e.message);
    };
    switch (r.op) {
      case Op::ping:
        co_return fj::protocol::ok_response(r.id, {{"version", FJ_VERSION}});
      case Op::register_template:
      case Op::fork:
      case Op::unfork:
      case Op::retire: {
        auto outcome = co_await service_.async_execute(std::move(r.request), asio::use_awaitable);
        if (!outcome) co_return refuse(outcome.error());
        co_return fj::protocol::ok_response(r.id, outcome_json(*outcome));
      }
      case Op::counts: {
        auto counts = co_await service_.async_read(
            [](const fj::Projection& p) {
              json::array templates;
              for (const fj::Template* t : p.templates())
                templates.push_back(fj::render::template_json(*t));
              return json::object{{"seq", p.seq()}, {"templates", std::move(templates)}};
            },
            asio::use_awaitable);
        if (!counts) co_return refuse(counts.error());
        co_return fj::protocol::ok_response(r.id, std::move(*counts));
      }
      case Op::template_info: {
        // A named callable: GCC 12 mishandles a capturing lambda temporary
        // inside a co_await expression (its captures are destroyed twice).
        auto describe =
            [id = r.template_id](const fj::Projection& p) -> std::optional<json::object> {
          const fj::Template* t = p.find(id);
          if (t == nullptr) return std::nullopt;
          json::object out = fj::render::template_json(*t);
          json::array forks;
          for (const auto& f : p.live_forks(id)) forks.push_back(json::string(f));
          out["live_forks"] = std::move(forks);
          out["last_seq"] = t->last_seq;
          out["seq"] = p.seq();
          return out;
        };
        auto info = co_await service_.async_read(std::move(describe), asio::use_awaitable);
        if (!info) co_return refuse(info.error());
        if (!*info) {
          co_return fj::protocol::error_response(
              r.id, "not_found", "template '" + r.template_id + "' is not registered");
        }
        co_return fj::protocol::ok_response(r.id, std::move(**info));
      }
      case Op::reconcile: {
        auto report = co_await service_.async_reconcile(r.dry_run, asio::use_awaitable);
        if (!report) co_return refuse(report.error());
        co_return fj::protocol::ok_response(r.id, fj::gc::to_json(*report));
      }
      case Op::snapshot: {
        auto seq = co_await service_.async_snapshot(asio::use_awaitable);
        if (!seq) co_return refuse(seq.error());
        co_return fj::protocol::ok_response(r.id, {{"seq", *seq}});
      }
      case Op::stats: {
        const auto s = service_.stats();
        co_return fj::protocol::ok_response(r.id, {{"events", s.head_seq},
                                                   {"head_seq", s.head_seq},
                                                   {"requests", s.requests},
                                                   {"appended", s.appended},
                                                   {"commits", s.commits},
                                                   {"average_batch", s.average_batch},
                                                   {"snapshots", s.snapshots},
                                                   {"reconciles", s.reconciles},
                                                   {"uptime_seconds", s.uptime_seconds}});
      }
    }
    co_return fj::protocol::error_response(r.id, "unknown_op", "unknown op");
  }

  asio::io_context& io_;
  fj::service::Service& service_;
  stream_protocol::acceptor acceptor_;
  std::list<stream_protocol::socket> connections_;
  bool stopping_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  fj::service::ServiceOptions options;
  std::string socket_path, sync = "full", reconcile_every, mode_text = "0660", log_format = "text";
  std::uint64_t snapshot_every = 100'000;

  CLI::App app{
      "forkjournald: serves a fork journal to VM managers over a Unix socket.\n"
      "Newline-delimited JSON requests; an append is acknowledged only once durable.\n"
      "Protocol: docs/protocol.md. Exit codes: 0 clean shutdown, 2 startup error.",
      "forkjournald"};
  app.set_version_flag("--version", std::string("forkjournald ") + FJ_VERSION +
                                        " (journal format version " +
                                        std::to_string(fj::kFormatVersion) + ")");
  app.add_option("--journal", options.journal, "Journal directory (created if missing or empty)")
      ->envname("FORKJOURNAL_DIR")
      ->required();
  app.add_option("--socket", socket_path, "Unix socket path to serve on")->required();
  app.add_option("--data-root", options.data_root,
                 "VM manager data root to reconcile against at boot and periodically");
  app.add_option(
      "--reconcile-every", reconcile_every,
      "Reconcile period, e.g. 30s, 5m, 1h (needs --data-root; default: boot and SIGHUP only)");
  app.add_option("--snapshot-every", snapshot_every, "Events between snapshots (0: never)")
      ->default_val(100000);
  app.add_option("--sync", sync, "full (default), nometa or none (benchmarks only)")
      ->check(CLI::IsMember({"full", "nometa", "none"}));
  app.add_option("--socket-mode", mode_text, "Permissions of the socket, octal (default 0660)");
  app.add_option("--log-format", log_format, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "forkjournald: " << e.what() << " (see 'forkjournald --help')\n";
    return 2;
  }
  g_json_logs = log_format == "json";
  options.sync = sync == "none"     ? fj::SyncMode::none
                 : sync == "nometa" ? fj::SyncMode::nometa
                                    : fj::SyncMode::full;
  options.snapshot_every = snapshot_every;
  options.log = log_line;
  if (!reconcile_every.empty()) {
    auto every = parse_duration(reconcile_every);
    if (!every || every->count() == 0)
      fail("--reconcile-every: '" + reconcile_every + "' is not a duration like 30s, 5m or 1h");
    if (options.data_root.empty()) fail("--reconcile-every needs --data-root");
    options.reconcile_every = *every;
  }
  unsigned mode = 0;
  if (mode_text.empty() || mode_text.size() > 4 ||
      mode_text.find_first_not_of("01234567") != std::string::npos) {
    fail("--socket-mode: '" + mode_text + "' is not an octal mode like 0660");
  }
  mode = static_cast<unsigned>(std::stoul(mode_text, nullptr, 8));

  // Create the journal first (if needed) so that the lock file can live in it.
  {
    std::error_code ec;
    if (!std::filesystem::exists(options.journal, ec) ||
        std::filesystem::is_empty(options.journal, ec) ||
        fj::Journal::interrupted_init(options.journal)) {
      auto created = fj::Journal::create(options.journal, fj::JournalOptions{.sync = options.sync});
      if (!created && created.error().code != fj::Errc::already_a_journal)
        fail(created.error().message);
      if (created) log_line("created journal " + options.journal);
    }
  }
  take_writer_role(options.journal);

  asio::io_context io;
  // Registered before the socket exists: a signal during boot is queued and
  // handled once serving starts, never the default (abrupt) termination.
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  auto acceptor = open_socket(io, socket_path, mode);
  auto service = fj::service::Service::start(io.get_executor(), options);
  if (!service) {
    ::unlink(socket_path.c_str());
    fail(service.error().message);
  }
  Server server(io, **service, std::move(acceptor));
  asio::co_spawn(io, server.accept_loop(), asio::detached);

  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          log_line("SIGHUP: reconciling");
          (*service)->async_reconcile(false, [](fj::Result<fj::gc::ReconcileReport>) {});
          signals.async_wait(on_signal);
          return;
        }
        log_line(std::string(signo == SIGTERM ? "SIGTERM" : "SIGINT") +
                 ": draining and shutting down");
        sd_notify(0, "STOPPING=1");
        server.stop();
      };
  signals.async_wait(on_signal);

  log_line("serving " + options.journal + " on " + socket_path + " (sync " + sync + ")");
  sd_notify(0, "READY=1");
  io.run();  // returns once no connection, request or completion is left

  (*service)->stop();  // finishes queued work and writes the shutdown snapshot
  ::unlink(socket_path.c_str());
  log_line("exited cleanly");
  return 0;
}
