// forkjournald's refusals at start leave nothing behind: every option is
// checked (one line, exit 2) before the socket is bound or the journal is
// created, opened or appended to, and a socket or metrics address that cannot
// be served fails before the journal is touched, removing the socket it bound.
#include "support/daemon_fixture.h"
#include "support/journal_reader.h"
#include "support/text.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace fj::testing;

// A refused start: exit 2 and exactly one line on stderr that says `why`.
::testing::AssertionResult refused(const Exited& r, const std::string& why) {
  if (r.exit_code != 2) return ::testing::AssertionFailure() << "not exit 2: " << r;
  if (!contains(r.err, why)) return ::testing::AssertionFailure() << "no '" << why << "': " << r;
  if (std::count(r.err.begin(), r.err.end(), '\n') != 1) {
    return ::testing::AssertionFailure() << "not one line: " << r;
  }
  return ::testing::AssertionSuccess();
}

bool exists(const std::string& path) {
  return fs::exists(fs::symlink_status(path));
}

// --- the socket path -------------------------------------------------------------------

TEST_F(DaemonTest, ASocketPathTooLongForSunPathExits2BeforeCreatingAnything) {
  ASSERT_LT(tmp_.path().size(), 90u) << "the temp dir leaves no room for the test's paths";
  const std::string long_socket = tmp_.sub(std::string(120, 's'));
  const Exited r = run_daemon({"--journal", journal(), "--socket", long_socket});
  EXPECT_TRUE(refused(r, long_socket));
  EXPECT_TRUE(contains(r.err, "at most 107")) << r;
  EXPECT_FALSE(exists(journal())) << "the journal was created";
  EXPECT_FALSE(exists(long_socket));

  // 107 bytes is the longest path served.
  std::string fits = tmp_.path() + "/";
  fits += std::string(107 - fits.size(), 'f');
  ASSERT_EQ(fits.size(), 107u);
  Daemon& d = launch({}, journal(), fits);
  EXPECT_TRUE(d.wait_ready());
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

TEST_F(DaemonTest, AnEmptySocketOrJournalPathExits2NamingTheOptionBeforeAnyWork) {
  const Exited no_socket = run_daemon({"--journal", journal(), "--socket", ""});
  EXPECT_TRUE(refused(no_socket, "--socket: the path is empty"));
  EXPECT_FALSE(exists(journal())) << "the journal was created";

  const Exited no_journal = run_daemon({"--journal", "", "--socket", socket()});
  EXPECT_TRUE(refused(no_journal, "--journal: the path is empty"));
  EXPECT_FALSE(exists(socket())) << "the socket was bound";
}

// --- options checked before any work ---------------------------------------------------

// The boot reconcile against the sample data root appends corrections and a
// snapshot: a bad option must be refused before it, on a new journal (nothing
// created) and on an existing one (nothing appended).
TEST_F(DaemonDataRootTest, BadShipAndMetricsOptionsAreRefusedBeforeTheBootReconcile) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"--ship", "garbage"}, "'garbage' is not a NATS URL"},
      {{"--ship", "nats://a:4222,garbage"}, "'garbage' is not a NATS URL"},
      {{"--ship", ""}, "is not a NATS URL"},
      {{"--ship", "nats://127.0.0.1:4222", "--ship-host", ""}, "--ship-host"},
      {{"--ship-host", "h1"}, "--ship-host needs --ship"},
      // CR and LF would become spaces in the Fj-Host header; the error names
      // the byte, never echoes it (one line).
      {{"--ship", "nats://127.0.0.1:4222", "--ship-host", "evil\r\nFj-Seq: 999"},
       "--ship-host: the host name has byte 0x0D at offset 4"},
      {{"--ship", "nats://127.0.0.1:4222", "--ship-host", "a host"}, "byte 0x20 at offset 1"},
      {{"--ship", "nats://127.0.0.1:4222", "--ship-host", std::string(5000, 'h')},
       "--ship-host: the host name is 5000 bytes long; at most 255"},
      {{"--ship", "nats://127.0.0.1:4222", "--ship-host", std::string(256, 'h')},
       "is 256 bytes long"},
      {{"--metrics", "localhost"}, "not HOST:PORT"},
      {{"--metrics", "10.0.0.1:9464"}, "not a loopback address"},
      {{"--fork-grace", "soon"}, "--fork-grace: 'soon' is not a duration like 30s, 10m or 0"},
  };
  for (const bool existing : {false, true}) {
    if (existing) {
      ASSERT_EQ(cli({"init"}).exit_code, 0);
    }
    for (const auto& [flags, why] : bad) {
      std::vector<std::string> args{"--journal", journal(),     "--socket",
                                    socket(),    "--data-root", root_};
      args.insert(args.end(), flags.begin(), flags.end());
      const Exited r = run_daemon(args);
      EXPECT_TRUE(refused(r, why)) << flags[0] << (existing ? " (existing journal)" : "");
      EXPECT_FALSE(exists(socket())) << flags[0];
      if (!existing) {
        EXPECT_FALSE(exists(journal())) << flags[0] << ": the journal was created";
      } else {
        const Replayed j = replay_journal(journal());
        EXPECT_EQ(j.head, 0u) << flags[0] << ": the boot reconcile ran";
        EXPECT_EQ(j.newest_snapshot, 0u) << flags[0] << ": a boot snapshot was written";
      }
    }
  }
}

// Real host names pass the --ship-host check: the longest allowed, and one
// with every kind of character allowed. NATS need not be up to start.
TEST_F(DaemonTest, ShipHostNamesOfHostNameCharactersUpTo255BytesAreAccepted) {
  for (const std::string& host :
       {std::string(255, 'h'), std::string("Host-01.rack_7.example.com")}) {
    Daemon& d = launch({"--ship", "nats://127.0.0.1:1", "--ship-host", host}, journal(), socket());
    EXPECT_TRUE(d.wait_ready()) << host.size() << " bytes: " << d.log();
    EXPECT_EQ(d.terminate(), 0) << d.log();
  }
}

TEST_F(DaemonTest, AMissingDataRootIsRefusedBeforeTheJournalIsCreated) {
  const Exited r =
      run_daemon({"--journal", journal(), "--socket", socket(), "--data-root", tmp_.sub("none")});
  EXPECT_TRUE(refused(r, "--data-root: cannot open " + tmp_.sub("none")));
  EXPECT_FALSE(exists(journal()));
  EXPECT_FALSE(exists(socket()));
}

// Every numeric option: a clear line naming the option and the value, never
// CLI11's range text, and never a value silently accepted, wrapped or raised.
TEST_F(DaemonTest, BadNumericOptionsExit2WithOneClearLineAndCreateNothing) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"--max-connections", "0"}, "--max-connections: '0' is not a positive integer"},
      {{"--max-connections", "abc"}, "--max-connections: 'abc' is not a positive integer"},
      {{"--max-connections", "-3"}, "--max-connections: '-3' is not a positive integer"},
      {{"--max-connections", "99999999999999999999"},
       "--max-connections: '99999999999999999999' is out of range (at most 18446744073709551615)"},
      {{"--max-output", "0"}, "--max-output: '0' is not a positive integer"},
      {{"--max-output", "1.5"}, "--max-output: '1.5' is not a positive integer"},
      {{"--max-map-size", "-5"}, "--max-map-size: '-5' is not a non-negative integer"},
      {{"--max-map-size", "1"}, "--max-map-size: '1' is below the minimum of 67108864 bytes"},
      {{"--max-map-size", "67108863"}, "is below the minimum of 67108864"},
      {{"--snapshot-every", "-1"}, "--snapshot-every: '-1' is not a non-negative integer"},
      {{"--snapshot-every", "1e3"}, "--snapshot-every: '1e3' is not a non-negative integer"},
      {{"--snapshot-every", "18446744073709551616"},
       "--snapshot-every: '18446744073709551616' is "
       "out of range"},
      {{"--request-window", " 5"}, "--request-window: ' 5' is not a non-negative integer"},
      {{"--request-window", "99999999999999999999"},
       "--request-window: '99999999999999999999' "
       "is out of range"},
  };
  for (const auto& [flags, why] : bad) {
    std::vector<std::string> args{"--journal", journal(), "--socket", socket()};
    args.insert(args.end(), flags.begin(), flags.end());
    const Exited r = run_daemon(args);
    EXPECT_TRUE(refused(r, why)) << flags[0] << " " << flags[1];
    EXPECT_FALSE(contains(r.err, "not in range")) << r;
    EXPECT_FALSE(exists(journal())) << flags[0] << " " << flags[1];
    EXPECT_FALSE(exists(socket())) << flags[0] << " " << flags[1];
  }
}

// A usage error CLI11 finds is logged like every other start error: as JSON
// with --log-format json, in CLI11's stead plain words, and an option
// written `--name=` never takes the next word as its value.
TEST_F(DaemonTest, UsageErrorsAreLoggedLikeOtherStartErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"--sync", "bogus"},
       "error: --sync: bogus not in {full,nometa,none} (see 'forkjournald --help')"},
      {{"--bogus"}, "error: unknown option '--bogus' (see 'forkjournald --help')"},
      {{"--max-output", "5", "--max-output", "6"},
       "error: --max-output given twice (see 'forkjournald --help')"},
      {{"--data-root="}, "error: --data-root= has no value after '='"},
      {{"--max-output"}, "error: --max-output needs a value (see 'forkjournald --help')"},
  };
  for (const auto& [flags, why] : bad) {
    SCOPED_TRACE(::testing::PrintToString(flags));
    for (const bool json_logs : {false, true}) {
      std::vector<std::string> args{"--journal", journal(), "--socket", socket()};
      if (json_logs) args.insert(args.end(), {"--log-format", "json"});
      args.insert(args.end(), flags.begin(), flags.end());
      const Exited r = run_daemon(args);
      EXPECT_TRUE(refused(r, why)) << json_logs;
      if (json_logs) {
        boost::system::error_code ec;
        const boost::json::value v = boost::json::parse(r.err, ec);
        ASSERT_FALSE(ec) << "not JSON: " << r.err;
        EXPECT_TRUE(v.as_object().contains("time")) << r.err;
        EXPECT_TRUE(v.at("msg").as_string().starts_with(why)) << r.err;
      } else {
        EXPECT_TRUE(contains(r.err, " forkjournald: " + why)) << r.err;  // after the time
      }
      EXPECT_FALSE(exists(journal()));
      EXPECT_FALSE(exists(socket()));
    }
  }
  // --journal= would have taken --socket as the journal's directory.
  const Exited r = run_daemon({"--journal=", "--socket", socket()});
  EXPECT_TRUE(refused(r, "error: --journal= has no value after '='")) << r;
  EXPECT_FALSE(exists(socket()));
  EXPECT_FALSE(exists("--socket"));
}

TEST_F(DaemonTest, NumericOptionsAtTheirLimitsAreServed) {
  Daemon& d = start({"--max-map-size", "67108864", "--snapshot-every", "0", "--max-connections",
                     "18446744073709551615", "--request-window", "0", "--max-output", "1"});
  Client c(socket());
  expect_pong(c, "options at their limits");
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

// --- the socket and metrics before the journal -----------------------------------------

TEST_F(DaemonTest, ASocketServedByAnotherDaemonFailsBeforeTheJournalIsCreated) {
  start();
  const std::string other = tmp_.sub("journal2");
  const Exited r = run_daemon({"--journal", other, "--socket", socket()});
  EXPECT_TRUE(refused(r, "another daemon is serving on " + socket()));
  EXPECT_FALSE(exists(other)) << "the refused daemon created its journal";
  Client c(socket());
  expect_pong(c, "a refused second daemon");
}

TEST_F(DaemonTest, AFileAtTheSocketPathFailsBeforeTheJournalIsCreated) {
  { std::ofstream(socket()) << "precious\n"; }
  const Exited r = run_daemon({"--journal", journal(), "--socket", socket()});
  EXPECT_TRUE(refused(r, "not a socket"));
  EXPECT_FALSE(exists(journal()));
  EXPECT_EQ(file_text(socket()), "precious\n");
}

TEST_F(DaemonTest, ASocketInAMissingDirectoryFailsBeforeTheJournalIsCreated) {
  const std::string missing = tmp_.sub("no/such/dir/fj.sock");
  const Exited r = run_daemon({"--journal", journal(), "--socket", missing});
  EXPECT_TRUE(refused(r, "cannot bind " + missing));
  EXPECT_FALSE(exists(journal()));
}

// The socket is bound before the metrics listener: when the metrics address
// cannot be served, the daemon removes the socket it bound again.
TEST_F(DaemonTest, AMetricsAddressInUseFailsBeforeTheJournalIsCreatedAndRemovesTheSocket) {
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  const Exited r = run_daemon({"--journal", journal(), "--socket", socket(), "--metrics", address});
  ::close(taken);
  EXPECT_TRUE(refused(r, "cannot serve metrics on " + address + ": Address already in use"));
  EXPECT_FALSE(exists(journal())) << "the journal was created";
  EXPECT_FALSE(exists(socket())) << "the socket bound before the failure was left behind";
}

// Under a service manager that allows Unix sockets only (the packaged unit's
// RestrictAddressFamilies=AF_UNIX), --ship and --metrics fail at start and say
// why, instead of a shipper retrying for ever or civetweb's "problem binding".
TEST_F(DaemonTest, WithUnixSocketsOnlyShipAndMetricsFailAtStartSayingWhy) {
  const std::string no_family = "Address family not supported by protocol";
  const struct {
    std::vector<std::string> option;
    std::string why;
  } cases[] = {
      {{"--ship", "nats://127.0.0.1:4222"},
       "--ship: this process may not open a TCP socket (" + no_family + ")"},
      {{"--metrics", "127.0.0.1:0"}, "cannot serve metrics on 127.0.0.1:0: " + no_family},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {
        UNIX_SOCKETS_ONLY_BIN, FORKJOURNALD_BIN, "--journal", journal(), "--socket", socket()};
    argv.insert(argv.end(), c.option.begin(), c.option.end());
    const Exited r = run(argv);
    EXPECT_TRUE(refused(r, c.why)) << c.option[0];
    EXPECT_FALSE(exists(journal())) << c.option[0] << ": the journal was created";
    EXPECT_FALSE(exists(socket())) << c.option[0] << ": the socket was left behind";
  }
}

// A failure after the socket is bound (here: the journal's writer role is
// held) removes that socket, and only it.
TEST_F(DaemonTest, AFailureAfterBindingRemovesTheSocketItBound) {
  Daemon& first = start();
  const std::string other = tmp_.sub("other.sock");
  const Exited r = run_daemon({"--journal", journal(), "--socket", other});
  EXPECT_TRUE(refused(r, "writer role"));
  EXPECT_FALSE(exists(other)) << "the refused daemon left its socket";
  EXPECT_TRUE(exists(socket())) << "the refused daemon removed the first daemon's socket";
  EXPECT_EQ(first.terminate(), 0) << first.log();
}

}  // namespace
