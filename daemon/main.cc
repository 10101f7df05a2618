// forkjournald: serves a fork journal to VM managers over a Unix socket
// (newline-delimited JSON, docs/protocol.md), with group commit.
#include "daemon/dispatcher.h"
#include "daemon/internal/open_journal.h"
#include "daemon/metrics.h"
#include "daemon/service.h"
#include "fleet/ship_host.h"
#include "fleet/shipper.h"
#include "journal/internal/clock.h"
#include "journal/internal/format.h"
#include "present/duration.h"
#include "present/render.h"
#include "present/sync_option.h"
#include "present/usage_errors.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <chrono>
#include <cstring>
#include <future>
#include <iostream>
#include <limits>
#include <optional>
#include <string_view>
#include <tuple>

#ifndef FJ_VERSION
#define FJ_VERSION "unknown"
#endif

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::local::stream_protocol;

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

// --- the socket this process bound ----------------------------------------------------

// Set once the socket is bound: a start that fails later, and a clean exit,
// remove it. The file's identity is kept so that only this process's own
// socket is ever removed, never a file that replaced it at that path.
struct BoundSocket {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
};
std::optional<BoundSocket> g_bound;

void remember_bound_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) g_bound = BoundSocket{path, st.st_dev, st.st_ino};
}

void remove_bound_socket() {
  if (!g_bound) return;
  struct stat st {};
  if (::lstat(g_bound->path.c_str(), &st) == 0 && st.st_dev == g_bound->dev &&
      st.st_ino == g_bound->ino) {
    ::unlink(g_bound->path.c_str());
  }
  g_bound.reset();
}

// Logs one line and exits 2 (a startup error, as --help says), removing the
// socket if this process bound it.
[[noreturn]] void fail(const std::string& message) {
  log_line("error: " + message);
  remove_bound_socket();
  std::exit(2);
}

// --- arguments -------------------------------------------------------------------

// Whether the command line asks for --log-format json, read from argv
// itself: a usage error is logged like every other start error, but the
// parse that failed may not have stored the option.
bool json_logs_asked(int argc, char** argv) {
  std::string_view format;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--log-format" && i + 1 < argc) format = argv[++i];
    if (arg.starts_with("--log-format=")) format = arg.substr(arg.find('=') + 1);
  }
  return format == "json";
}

// Parses the decimal value of option `name` (digits only: no sign, no
// spaces) as a count from `min` (0 or 1) up to `max`; anything else fails
// with one line naming the option.
std::uint64_t parse_count(const std::string& name, const std::string& text, std::uint64_t min,
                          std::uint64_t max) {
  const std::string kind = min == 0 ? "a non-negative integer" : "a positive integer";
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    fail(name + ": '" + text + "' is not " + kind);
  }
  std::uint64_t n = 0;
  // Digits only, so from_chars fails only when the value overflows.
  const bool fits = std::from_chars(text.data(), text.data() + text.size(), n).ec == std::errc();
  if (!fits || n > max) {
    fail(name + ": '" + text + "' is out of range (at most " + std::to_string(max) + ")");
  }
  if (n < min) fail(name + ": '" + text + "' is not " + kind);
  return n;
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

// The longest socket path: sockaddr_un's sun_path holds it and its NUL.
constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;

// Binds and listens on `path`, replacing a stale socket there; fails (one
// line, exit 2) when another daemon serves it or a file that is not a socket
// is in the way. Once bound, fail() removes the socket again.
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
  remember_bound_socket(path);
  if (::chmod(path.c_str(), mode) != 0) fail("cannot chmod " + path + ": " + std::strerror(errno));
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("cannot listen on " + path + ": " + ec.message());
  return acceptor;
}

// Empty when this process may open a TCP socket (IPv4 or IPv6); else why not.
// A service manager can forbid it (the packaged unit allows Unix sockets
// only), and the shipper would then retry for ever, its log saying only that
// no server is available.
std::string why_no_tcp() {
  int error = 0;
  for (const int family : {AF_INET, AF_INET6}) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      ::close(fd);
      return {};
    }
    error = errno;
  }
  return std::strerror(error);
}

// --- descriptors -------------------------------------------------------------------

// Descriptors kept for everything but connections: stdio, the journal's
// LMDB files, the lock file, the listening socket, Asio's reactor, and the
// directories a reconcile reads.
constexpr std::size_t kReservedFds = 64;

// Raises the soft RLIMIT_NOFILE to the hard limit and returns how many
// connections fit under it beside kReservedFds.
std::size_t connections_that_fit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
    fail(std::string("getrlimit: ") + std::strerror(errno));
  if (limit.rlim_cur != limit.rlim_max) {
    rlimit raised = limit;
    // Unlimited is not a count of descriptors; the kernel's nr_open is at
    // most 2^20 by default.
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_max;
    if (raised.rlim_cur > limit.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      limit = raised;
  }
  return limit.rlim_cur > kReservedFds ? limit.rlim_cur - kReservedFds : 0;
}

// --- connections ---------------------------------------------------------------------

// Accepts connections and hands each to the dispatcher.
class Server {
 public:
  Server(fj::service::Dispatcher& dispatcher, stream_protocol::acceptor acceptor)
      : dispatcher_(dispatcher), acceptor_(std::move(acceptor)) {}

  asio::awaitable<void> accept_loop() {
    asio::steady_timer backoff(acceptor_.get_executor());
    std::size_t failures = 0;
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping_) co_return;
        // Out of descriptors (EMFILE, ENFILE) or memory, accept fails again
        // at once until something closes: back off instead of spinning, and
        // log the first failure of a run only.
        if (failures++ == 0) log_line("accept failed: " + ec.message() + "; retrying every 100 ms");
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (failures != 0) {
        log_line("accepting again after " + std::to_string(failures) + " failed accepts");
        failures = 0;
      }
      ucred peer{};
      socklen_t len = sizeof peer;
      const bool known =
          ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0;
      if (dispatcher_.serve(std::move(socket)) && known) {
        log_line("connection from uid " + std::to_string(peer.uid) + " pid " +
                 std::to_string(peer.pid));
      }
    }
  }

  // Stops accepting and ends every connection once its current request is
  // answered.
  void stop() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    dispatcher_.stop();
  }

 private:
  fj::service::Dispatcher& dispatcher_;
  stream_protocol::acceptor acceptor_;
  bool stopping_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  fj::service::ServiceOptions options;
  std::string socket_path, reconcile_every, mode_text = "0660", log_format = "text";
  std::string fork_grace = "10m";  // gc::kDefaultForkGrace
  fj::service::DispatcherOptions limits;
  // Counts are read as text and parsed by parse_count: CLI11's own checks
  // print unreadable ranges and accept negative or overflowing values.
  std::string snapshot_every = "100000", max_connections = std::to_string(limits.max_connections),
              max_output = std::to_string(limits.max_output), max_map_size = "0",
              request_window = std::to_string(options.request_window.max_count);
  std::string write_timeout = "30s", line_timeout = "10s", idle_timeout = "300s";
  std::string metrics_address, stuck_after = "30s", reader_after = "10m", ship_urls, ship_host;
  std::string request_max_age, request_min_age = "60s";
  bool metrics_any_address = false;
  // The map's size at open: a smaller --max-map-size could never apply.
  const std::size_t min_map_size = fj::JournalOptions{}.initial_map_size;

  CLI::App app{
      "forkjournald: serves a fork journal to VM managers over a Unix socket.\n"
      "Newline-delimited JSON requests; an append is acknowledged only once durable.\n"
      "Protocol: docs/protocol.md in the source, /usr/share/doc/forkjournal/protocol.md.gz\n"
      "in the Debian package. Exit codes: 0 clean shutdown, 2 startup error (one line;\n"
      "options are checked before the socket is bound or the journal touched).",
      "forkjournald"};
  app.set_version_flag("--version", std::string("forkjournald ") + FJ_VERSION +
                                        " (journal format version " +
                                        std::to_string(fj::kFormatVersion) + ")");
  app.add_option("--journal", options.journal, "Journal directory (created if missing or empty)")
      ->envname("FORKJOURNAL_DIR")
      ->required();
  app.add_option(
         "--socket", socket_path,
         "Unix socket path to serve on (at most " + std::to_string(kMaxSocketPath) + " bytes)")
      ->required();
  app.add_option("--data-root", options.data_root,
                 "VM manager data root to reconcile against at boot and periodically");
  app.add_option(
      "--reconcile-every", reconcile_every,
      "Reconcile period, e.g. 30s, 5m, 1h (needs --data-root; default: boot and SIGHUP only)");
  app.add_option("--fork-grace", fork_grace,
                 "How long a recorded fork may have no directory before a reconcile declares it "
                 "lost, e.g. 10m (0: at once)")
      ->default_val(fork_grace);
  app.add_option("--snapshot-every", snapshot_every, "Events between snapshots (0: never)")
      ->type_name("N")
      ->default_val(snapshot_every);
  fj::add_sync_option(app, options.sync);
  app.add_option("--socket-mode", mode_text, "Permissions of the socket, octal (default 0660)");
  app.add_option("--log-format", log_format, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--max-connections", max_connections,
                 "Connections served at once, at least 1; past it a new one gets a busy error and "
                 "is closed (kept below the descriptor limit)")
      ->type_name("N")
      ->default_val(max_connections);
  app.add_option("--max-output", max_output,
                 "Bytes of unwritten replies per connection, at least 1, before its requests are "
                 "no longer read")
      ->type_name("BYTES")
      ->default_val(max_output);
  app.add_option("--write-timeout", write_timeout,
                 "Close a connection whose peer does not take a pending reply within this long")
      ->default_val(write_timeout);
  app.add_option("--line-timeout", line_timeout,
                 "Close a connection (timeout error) whose started request line is not completed "
                 "within this long")
      ->default_val(line_timeout);
  app.add_option("--idle-timeout", idle_timeout,
                 "Close a connection that sends no request for this long (durations: 500ms, 30s, "
                 "5m, 1h)")
      ->default_val(idle_timeout);
  app.add_option("--max-map-size", max_map_size,
                 "Bytes the LMDB map may grow to, at least " + std::to_string(min_map_size) +
                     " (64 MiB, its size at open; a smaller value is refused); past it appends "
                     "fail (journal_full) and health is degraded above 80% (default and 0: no "
                     "limit)")
      ->type_name("BYTES");
  app.add_option(
         "--request-window", request_window,
         "Request ids kept for retries; storing a new one deletes the oldest beyond "
         "this many once older than --request-min-age, and a retry past them is executed anew "
         "(docs/protocol.md; 0: keep all)")
      ->type_name("N")
      ->default_val(request_window);
  app.add_option("--request-max-age", request_max_age,
                 "Also delete request ids stored longer ago than this, whatever "
                 "--request-min-age says (durations: 30s, 5m, 24h; default: no age limit)");
  app.add_option("--request-min-age", request_min_age,
                 "Keep request ids stored less long ago than this beyond --request-window, so "
                 "that a client still retrying gets its stored outcome (0: the window's count "
                 "alone decides; the default is off when --request-max-age is shorter, and a "
                 "value given may not exceed it)")
      ->default_val(request_min_age);
  app.add_option("--metrics", metrics_address,
                 "Serve Prometheus metrics at http://HOST:PORT/metrics (numeric loopback host, "
                 "e.g. 127.0.0.1:9464; default: off)");
  app.add_flag("--metrics-any-address", metrics_any_address,
               "Allow --metrics on a non-loopback address (the metrics are unauthenticated)");
  app.add_option("--stuck-after", stuck_after,
                 "Health reports the writer stuck when work has waited on it this long")
      ->default_val(stuck_after);
  app.add_option("--reader-after", reader_after,
                 "Health reports a read transaction (of any process) open this long: it keeps "
                 "the journal's file from reusing pages")
      ->default_val(reader_after);
  app.add_option("--ship", ship_urls,
                 "Ship every event exactly once to the fleet stream on these NATS servers "
                 "(nats://HOST:PORT[,...]; the stream comes from 'forkjournal fleet init')");
  app.add_option("--ship-host", ship_host,
                 "Host name the shipped events carry (Fj-Host; 1-255 bytes of letters, digits, "
                 "'-', '.' and '_'; default: gethostname)");
  const auto usage = [&](const std::string& line) {
    g_json_logs = json_logs_asked(argc, argv);
    fail(line + " (see 'forkjournald --help')");
  };
  if (const auto empty = fj::empty_option_value(app, argc, argv)) usage(*empty);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    usage(fj::usage_error(app, e));
  }
  g_json_logs = log_format == "json";
  options.log = log_line;

  // --- every argument is checked before anything is bound, opened or created.
  // An empty path would get as far as bind (Linux then autobinds an
  // abstract socket, and chmod fails on "") or creating the journal ("cannot
  // create : Invalid argument").
  if (options.journal.empty()) fail("--journal: the path is empty");
  if (socket_path.empty()) fail("--socket: the path is empty");
  constexpr auto kMaxSize = std::numeric_limits<std::size_t>::max();
  constexpr auto kMaxU64 = std::numeric_limits<std::uint64_t>::max();
  options.snapshot_every = parse_count("--snapshot-every", snapshot_every, 0, kMaxU64);
  limits.max_connections = parse_count("--max-connections", max_connections, 1, kMaxSize);
  limits.max_output = parse_count("--max-output", max_output, 1, kMaxSize);
  options.max_map_size = parse_count("--max-map-size", max_map_size, 0, kMaxSize);
  if (options.max_map_size != 0 && options.max_map_size < min_map_size) {
    fail("--max-map-size: '" + max_map_size + "' is below the minimum of " +
         std::to_string(min_map_size) + " bytes (64 MiB, the map's size at open; 0: no limit)");
  }
  options.request_window.max_count = parse_count("--request-window", request_window, 0, kMaxU64);
  if (!reconcile_every.empty()) {
    auto every = fj::render::parse_duration(reconcile_every);
    if (!every || every->count() == 0)
      fail("--reconcile-every: '" + reconcile_every + "' is not a duration like 30s, 5m or 1h");
    if (options.data_root.empty()) fail("--reconcile-every needs --data-root");
    options.reconcile_every = *every;
  }
  if (auto grace = fj::render::parse_duration(fork_grace); !grace) {
    fail("--fork-grace: '" + fork_grace + "' is not a duration like 30s, 10m or 0");
  } else {
    options.fork_grace = *grace;
  }
  for (auto [name, text, field] :
       {std::tuple{"--write-timeout", &write_timeout, &limits.write_timeout},
        std::tuple{"--line-timeout", &line_timeout, &limits.line_timeout},
        std::tuple{"--idle-timeout", &idle_timeout, &limits.idle_timeout},
        std::tuple{"--stuck-after", &stuck_after, &limits.health.stuck_after},
        std::tuple{"--reader-after", &reader_after, &limits.health.reader_after}}) {
    auto d = fj::render::parse_duration(*text);
    if (!d || d->count() == 0)
      fail(std::string(name) + ": '" + *text + "' is not a duration like 500ms, 30s or 5m");
    *field = *d;
  }
  if (!request_max_age.empty()) {
    auto age = fj::render::parse_duration(request_max_age);
    if (!age || age->count() == 0)
      fail("--request-max-age: '" + request_max_age + "' is not a duration like 30s, 5m or 24h");
    options.request_window.max_age = *age;
  }
  if (auto age = fj::render::parse_duration(request_min_age); !age) {
    fail("--request-min-age: '" + request_min_age + "' is not a duration like 30s, 5m or 0");
  } else {
    options.request_window.min_age = *age;
  }
  if (options.request_window.max_age.count() > 0 &&
      options.request_window.min_age > options.request_window.max_age) {
    if (app.count("--request-min-age") != 0) {
      fail("--request-min-age " + request_min_age + " is longer than --request-max-age " +
           request_max_age + ": lower one or raise the other");
    }
    // The default yields to an age limit the operator chose: the count and
    // that age decide, as they did before there was a minimum.
    options.request_window.min_age = std::chrono::milliseconds(0);
  }
  limits.log = log_line;
  // An explicit empty --ship or --ship-host is a mistake, not "off" or
  // "the default".
  if (app.count("--ship") != 0) {
    options.ship.emplace();
    options.ship->urls = ship_urls;
    if (app.count("--ship-host") != 0) {
      if (ship_host.empty())
        fail("--ship-host: the host name is empty (leave the option out to use gethostname)");
      if (auto ok = fj::fleet::check_ship_host(ship_host); !ok)
        fail("--ship-host: " + ok.error().message);
    }
    options.ship->host = ship_host;
    if (auto ok = fj::fleet::check_ship_options(*options.ship); !ok) {
      fail("--ship: " + ok.error().message);
    }
    if (const std::string why = why_no_tcp(); !why.empty()) {
      fail("--ship: this process may not open a TCP socket (" + why +
           "); under systemd, RestrictAddressFamilies= must allow AF_INET or AF_INET6");
    }
  } else if (app.count("--ship-host") != 0) {
    fail("--ship-host needs --ship");
  }
  if (!metrics_address.empty()) {
    if (auto ok = fj::service::Metrics::check_address(metrics_address, metrics_any_address); !ok)
      fail(ok.error().message);
  }
  if (mode_text.empty() || mode_text.size() > 4 ||
      mode_text.find_first_not_of("01234567") != std::string::npos) {
    fail("--socket-mode: '" + mode_text + "' is not an octal mode like 0660");
  }
  const auto mode = static_cast<unsigned>(std::stoul(mode_text, nullptr, 8));
  if (socket_path.size() > kMaxSocketPath) {
    fail("--socket: '" + socket_path + "' is " + std::to_string(socket_path.size()) +
         " bytes; a Unix socket path holds at most " + std::to_string(kMaxSocketPath) +
         " (sun_path, with its NUL)");
  }
  if (!options.data_root.empty()) {
    // The boot reconcile would fail on it only after the journal exists.
    const int fd = ::open(options.data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("--data-root: cannot open " + options.data_root + ": " + std::strerror(errno));
    ::close(fd);
  }
  if (const std::size_t fit = connections_that_fit(); fit < limits.max_connections) {
    if (fit == 0) fail("the descriptor limit (RLIMIT_NOFILE) leaves no room for connections");
    log_line("--max-connections " + std::to_string(limits.max_connections) + " lowered to " +
             std::to_string(fit) + " to stay under the descriptor limit (RLIMIT_NOFILE), with " +
             std::to_string(kReservedFds) + " kept for the daemon's own files");
    limits.max_connections = fit;
  }

  // Under systemd's WatchdogSec=, the writer thread pings at half the
  // interval: a writer stuck in a syscall stops the pings and gets restarted.
  if (std::uint64_t usec = 0; sd_watchdog_enabled(0, &usec) > 0 && usec != 0) {
    options.alive_every =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::microseconds(usec / 2));
    if (options.alive_every.count() == 0) options.alive_every = std::chrono::milliseconds(1);
    options.on_writer_alive = [] { sd_notify(0, "WATCHDOG=1"); };
    log_line("watchdog: the writer pings every " + std::to_string(options.alive_every.count()) +
             " ms");
  }

  // --- the listeners, before the journal: a second daemon, a path in use or
  // an address that cannot be bound fails before the journal is touched
  // (docs/protocol.md, Lifecycle). From here on fail() removes the socket.
  asio::io_context io;
  // Subscribers wake when the head moves (daemon/head_signal.h).
  limits.heads = std::make_shared<fj::service::HeadSignal>(io.get_executor());
  options.observers.push_back(limits.heads);
  std::optional<asio::signal_set> signals;
  std::optional<stream_protocol::acceptor> acceptor;
  try {
    // Registered before the socket exists: a signal during boot is queued
    // and handled once serving starts, never the default (abrupt)
    // termination.
    signals.emplace(io, SIGTERM, SIGINT, SIGHUP);
    acceptor.emplace(open_socket(io, socket_path, mode));
  } catch (const boost::system::system_error& e) {
    // open_socket reports what it foresees itself; Asio throws for the rest.
    fail("cannot serve on " + socket_path + ": " + e.code().message());
  }

  std::shared_ptr<fj::service::Metrics> metrics;
  if (!metrics_address.empty()) {
    auto served = fj::service::Metrics::serve(metrics_address, metrics_any_address);
    if (!served) fail(served.error().message);
    metrics = std::move(*served);
    options.observers.push_back(metrics);
    limits.on_request = [m = metrics.get()](std::string_view op, std::string_view result) {
      m->on_request(op, result);
    };
    limits.on_closed = [m = metrics.get()](std::string_view reason) { m->on_closed(reason); };
    log_line("metrics on http://" + metrics->address() + "/metrics");
  }

  // Create the journal (if needed) so that the lock file can live in it;
  // the handle is closed before the service opens the journal again.
  //
  // A start that fails after this point leaves a journal it created behind
  // (docs/operations.md, Install): it is not removed, because from its
  // creation on another process (forkjournal, a racing forkjournald that
  // then took the writer role) may have opened it or written to it, and no
  // check before deleting its files could exclude a write right after the
  // check. A journal left so is empty or holds what was written to it, and
  // the next start opens it as it is.
  {
    auto opened = fj::service::open_or_create(options.journal, options.sync, options.max_map_size);
    if (!opened) fail(opened.error().message);
    if (opened->created) {
      log_line("created journal " + options.journal + " (id " + opened->journal.info().journal_id +
               ")");
    }
  }
  take_writer_role(options.journal);

  auto service = fj::service::Service::start(io.get_executor(), options);
  if (!service) fail(service.error().message);
  if (metrics) {
    fj::service::Service* svc = service->get();
    metrics->set_sources(
        {[svc] { return svc->stats(); },
         [svc]() -> std::optional<fj::service::Metrics::ProjectionCounts> {
           auto count = [](const fj::Projection& p) {
             fj::service::Metrics::ProjectionCounts c;
             c.live_forks = p.live_fork_count();
             for (const fj::Template* t : p.templates()) {
               ++(t->state == fj::TemplateState::active ? c.active_templates : c.retired_templates);
             }
             return c;
           };
           // The writer runs the count between batches; a stuck writer leaves
           // these gauges out instead of hanging the scrape.
           auto counted = svc->async_read(std::move(count), asio::use_future);
           if (counted.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
             return std::nullopt;
           }
           auto c = counted.get();
           if (!c) return std::nullopt;
           return *c;
         }});
  }
  fj::service::Dispatcher dispatcher(io.get_executor(), **service, FJ_VERSION, limits);
  Server server(dispatcher, std::move(*acceptor));
  asio::co_spawn(io, server.accept_loop(), asio::detached);

  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          if (options.data_root.empty()) {
            // The service refuses a reconcile without a data root (and logs
            // nothing), so say here that nothing happens.
            log_line("SIGHUP: no --data-root, so there is nothing to reconcile against");
          } else {
            // The reconcile logs its own line (or "requested reconcile failed").
            log_line("SIGHUP: reconciling");
            (*service)->async_reconcile(false, [](fj::Result<fj::gc::ReconcileReport>) {});
          }
          signals->async_wait(on_signal);
          return;
        }
        log_line(std::string(signo == SIGTERM ? "SIGTERM" : "SIGINT") +
                 ": draining and shutting down");
        sd_notify(0, "STOPPING=1");
        server.stop();
      };
  signals->async_wait(on_signal);

  log_line("serving " + options.journal + " on " + socket_path + " (sync " +
           std::string(fj::sync_mode_name(options.sync)) + ")");
  sd_notify(0, "READY=1");
  io.run();  // returns once no connection, request or completion is left

  (*service)->stop();             // finishes queued work and writes the shutdown snapshot
  if (metrics) metrics->close();  // its sources read the service
  remove_bound_socket();
  log_line("exited cleanly");
  return 0;
}
