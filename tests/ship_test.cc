// The shipper (fleet/shipper.h) in-process against real nats-server
// processes: every event exactly once and in order with the contract's
// headers, across node failures and whole-cluster outages, several journals
// in one stream, and the refusals (no stream, a stream that disagrees).
#include "fleet/internal/nats.h"
#include "fleet/internal/stream_read.h"
#include "fleet/shipper.h"
#include "fleet/stream.h"
#include "fleet/stream_setup.h"
#include "journal/hex.h"
#include "support/nats_server.h"
#include "support/ship_checks.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fj::testing {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<fleet::Shipper> ship(const Journal& journal, const std::string& urls,
                                     const std::string& host = "host-a") {
  fleet::ShipOptions o;
  o.urls = urls;
  o.host = host;
  auto s = fleet::Shipper::start(journal, o);
  EXPECT_TRUE(s) << s.error().message;
  return std::move(*s);
}

// Collects a shipper's log lines (its thread and the NATS client's).
struct LogLines {
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  std::function<void(const std::string&)> sink() {
    return [lines = lines, mu = mu](const std::string& line) {
      std::lock_guard lock(*mu);
      lines->push_back(line);
    };
  }
  std::vector<std::string> all() const {
    std::lock_guard lock(*mu);
    return *lines;
  }
  std::size_t with(const std::string& part) const {
    std::size_t n = 0;
    for (const std::string& line : all()) n += line.find(part) != std::string::npos;
    return n;
  }
  std::string joined() const {
    std::string out;
    for (const std::string& line : all()) out += line + "\n";
    return out;
  }
};

TEST(Ship, HundredThousandEventsExactlyOnceInOrder) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  Journal journal = make_journal(dir.sub("journal"));
  constexpr std::uint64_t kEvents = 100'000;
  append_forks(journal, kEvents);

  const auto began = std::chrono::steady_clock::now();
  auto shipper = ship(journal, server.url());
  shipper->notify(kEvents);
  ASSERT_TRUE(wait_shipped(*shipper, kEvents, 80s));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::cout << "shipped " << kEvents << " events in " << seconds << " s ("
            << double(kEvents) / seconds << " events/s)\n";
  const auto state = shipper->state();
  EXPECT_EQ(state.published, kEvents);
  EXPECT_EQ(state.lag_events, 0u);
  EXPECT_EQ(state.lag_seconds, 0.0);
  EXPECT_TRUE(state.connected);
  EXPECT_EQ(state.last_error, "");
  shipper->stop();
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
}

TEST(Ship, ResumesFromTheStreamAfterARestartWithoutDuplicates) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 300);
  {
    auto first = ship(journal, server.url());
    ASSERT_TRUE(wait_shipped(*first, 300, 20s));
  }
  append_forks(journal, 200, 300);
  auto second = ship(journal, server.url());
  ASSERT_TRUE(wait_shipped(*second, 500, 20s));
  EXPECT_EQ(second->state().published, 200u);  // nothing before 301 again
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
}

TEST(Ship, RefusesAMissingStreamAndShipsOnceItExists) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 50);
  auto shipper = ship(journal, server.url());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shipper->state().last_error.empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const auto refused = shipper->state();
  EXPECT_NE(refused.last_error.find("stream FORKJOURNAL does not exist"), std::string::npos)
      << refused.last_error;
  EXPECT_NE(refused.last_error.find("forkjournal fleet init"), std::string::npos);
  EXPECT_EQ(refused.shipped_seq, 0u);
  EXPECT_EQ(refused.lag_events, 50u);
  EXPECT_GT(refused.lag_seconds, 0.0);
  EXPECT_FALSE(refused.halted);
  // Nothing was created behind the operator's back.
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn);
  jsStreamInfo* info = nullptr;
  jsErrCode jerr = jsErrCode(0);
  EXPECT_NE(js_GetStreamInfo(&info, conn->js(), "FORKJOURNAL", nullptr, &jerr), NATS_OK);
  EXPECT_EQ(jerr, JSStreamNotFoundErr);

  const auto made = fleet::init_stream(server.url(), 1);
  ASSERT_TRUE(made) << made.error().message;
  ASSERT_TRUE(wait_shipped(*shipper, 50, 20s));
  EXPECT_EQ(shipper->state().last_error, "");
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
}

// Publishes a message on the journal's subject as another history would.
void publish_foreign(const std::string& url, const Journal& journal, std::uint64_t seq,
                     const std::string& chain_hex) {
  auto conn = fleet::nats::Connection::open(url);
  ASSERT_TRUE(conn);
  const std::string id = journal.info().journal_id, subject = fleet::subject_for(id);
  natsMsg* raw = nullptr;
  ASSERT_EQ(natsMsg_Create(&raw, subject.c_str(), nullptr, "x", 1), NATS_OK);
  fleet::nats::MsgPtr msg(raw);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Seq", std::to_string(seq).c_str()), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Journal", id.c_str()), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Chain", chain_hex.c_str()), NATS_OK);
  auto published = fleet::nats::publish(*conn, raw, fleet::message_id(id, seq), 0);
  ASSERT_TRUE(published) << published.error().message;
}

TEST(Ship, HaltsWhenTheStreamDisagreesWithTheJournal) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 20);
  publish_foreign(server.url(), journal, 7, std::string(64, 'a'));

  auto shipper = ship(journal, server.url());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!shipper->state().halted && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const auto s = shipper->state();
  ASSERT_TRUE(s.halted) << s.last_error;
  EXPECT_NE(s.last_error.find("disagrees with the local journal at seq 7, the one seq compared"),
            std::string::npos)
      << s.last_error;
  EXPECT_NE(s.last_error.find("audit --witness"), std::string::npos) << s.last_error;
  EXPECT_EQ(s.published, 0u);
  EXPECT_EQ(s.lag_events, 20u);
  // The stream keeps what it had: the shipper never overwrote it.
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn);
  auto last = fleet::nats::last_message(*conn, fleet::kStreamName,
                                        fleet::subject_for(journal.info().journal_id));
  ASSERT_TRUE(last && *last);
  EXPECT_EQ(natsMsg_GetSequence(last->value().get()), 1u);
}

// Shortens the stream's duplicate window to `window`, so that a test can
// outlive it without waiting the server's default 2 minutes.
void shorten_duplicate_window(const std::string& url, std::chrono::milliseconds window) {
  auto conn = fleet::nats::Connection::open(url);
  ASSERT_TRUE(conn) << conn.error().message;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_GetStreamInfo(&si, conn->js(), fleet::kStreamName.data(), nullptr, &jerr), NATS_OK);
  fleet::nats::StreamInfoPtr info(si);
  info->Config->Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(window).count();
  jsStreamInfo* updated = nullptr;
  ASSERT_EQ(js_UpdateStream(&updated, conn->js(), info->Config, nullptr, &jerr), NATS_OK) << jerr;
  fleet::nats::StreamInfoPtr keep(updated);
  ASSERT_EQ(updated->Config->Duplicates, info->Config->Duplicates);
}

// The Fj-Seq of every message on the journal's subject, in stream order, read
// without the subject's last message (which nats-server 2.9 loses when it is
// deleted).
std::vector<std::uint64_t> fj_seqs(const std::string& url, const Journal& journal) {
  std::vector<std::uint64_t> out;
  auto conn = fleet::nats::Connection::open(url);
  EXPECT_TRUE(conn) << conn.error().message;
  if (!conn) return out;
  auto read = fleet::nats::for_each_in_stream(
      *conn, fleet::kStreamName, fleet::subject_for(journal.info().journal_id),
      [&](natsMsg* msg, std::uint64_t) -> Result<void> {
        const auto seq = fleet::nats::header(msg, "Fj-Seq");
        out.push_back(seq ? std::stoull(std::string(*seq)) : 0);
        return {};
      });
  EXPECT_TRUE(read) << read.error().message;
  return out;
}

// Deleting a subject's last message makes nats-server 2.9 report no last
// message at all while the subject still holds the others. The shipper finds
// the last one left (seq 4) and offers seq 5 again, but within the duplicate
// window the stream answers "duplicate" of a message it no longer holds. The
// shipper says so and retries, storing nothing, until the window has passed;
// then it ships seq 5 again and goes on.
TEST(Ship, WaitsOutTheDuplicateWindowWhenTheSubjectsLastMessageWasDeleted) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  shorten_duplicate_window(server.url(), 3s);
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 5);
  fleet::ShipOptions o;
  o.urls = server.url();
  o.host = "host-a";
  o.backoff_max = 200ms;
  {
    auto first = fleet::Shipper::start(journal, o);
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_TRUE(wait_shipped(**first, 5, 30s));
  }
  LogLines log;
  o.log = log.sink();
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_DeleteMsg(conn->js(), fleet::kStreamName.data(), 5, nullptr, &jerr), NATS_OK)
      << jerr;
  append_forks(journal, 3, 100);

  auto started = fleet::Shipper::start(journal, o);
  ASSERT_TRUE(started) << started.error().message;
  fleet::Shipper& again = **started;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (again.state().last_error.empty() && again.state().shipped_seq < 8 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  const auto waiting = again.state();
  EXPECT_NE(waiting.last_error.find("until its duplicate window has passed"), std::string::npos)
      << waiting.last_error;
  EXPECT_FALSE(waiting.halted);
  EXPECT_EQ(waiting.published, 0u);
  EXPECT_EQ(waiting.shipped_seq, 4u);

  ASSERT_TRUE(wait_shipped(again, 8, 30s));
  const auto done = again.state();
  EXPECT_FALSE(done.halted) << done.last_error;
  EXPECT_EQ(done.last_error, "");
  EXPECT_EQ(done.published, 4u) << "seqs 5 to 8, nothing before";
  again.stop();
  // One line when the wait starts and one when it ends, not a few per try
  // (a try every 100-200 ms for the 3 s window).
  EXPECT_EQ(log.with("until its duplicate window has passed"), 1u) << log.joined();
  EXPECT_EQ(log.with("waited out the duplicate window"), 1u) << log.joined();
  EXPECT_LE(log.all().size(), 6u) << log.joined();
  EXPECT_EQ(fj_seqs(server.url(), journal), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
}

// Past the duplicate window, a subject whose last message was deleted looks
// empty to the last-message lookup (nats-server 2.9) and takes a publish
// expecting no message: a shipper that believed it would ship the journal
// again from seq 1. It finds the subject's true last message instead and
// ships the lost tail after it, once.
TEST(Ship, ResumesAfterTheTrueLastWhenTheLastMessageWasDeletedPastTheDuplicateWindow) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  shorten_duplicate_window(server.url(), 1s);
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 4);
  {
    auto first = ship(journal, server.url());
    ASSERT_TRUE(wait_shipped(*first, 4, 30s));
    first->stop();
  }
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_DeleteMsg(conn->js(), fleet::kStreamName.data(), 4, nullptr, &jerr), NATS_OK)
      << jerr;
  // The server forgets message ids some time after the window: wait well past it.
  std::this_thread::sleep_for(3s);
  append_forks(journal, 1, 100);

  auto again = ship(journal, server.url());
  ASSERT_TRUE(wait_shipped(*again, 5, 30s));
  const auto st = again->state();
  EXPECT_FALSE(st.halted) << st.last_error;
  EXPECT_EQ(st.last_error, "");
  EXPECT_EQ(st.published, 2u) << "seq 4 (the deleted tail) and seq 5, nothing before";
  again->stop();
  EXPECT_EQ(fj_seqs(server.url(), journal), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
}

// A quiet shipper (everything shipped, no new event) still notices that the
// stream was deleted: it reports it missing, and once fleet init creates it
// again it ships the journal again from seq 1, as after a purge, without
// waiting for a local event.
TEST(Ship, AQuietShipperReportsADeletedStreamAndRefillsItsRecreation) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 20);
  fleet::ShipOptions o;
  o.urls = server.url();
  o.host = "host-a";
  o.recheck_every = 200ms;
  o.backoff_max = 200ms;
  auto lines = std::make_shared<std::vector<std::string>>();
  auto lines_mu = std::make_shared<std::mutex>();
  o.log = [lines, lines_mu](const std::string& line) {
    std::lock_guard lock(*lines_mu);
    lines->push_back(line);
  };
  auto started = fleet::Shipper::start(journal, o);
  ASSERT_TRUE(started) << started.error().message;
  fleet::Shipper& shipper = **started;
  ASSERT_TRUE(wait_shipped(shipper, 20, 30s));

  {
    auto conn = fleet::nats::Connection::open(server.url());
    ASSERT_TRUE(conn) << conn.error().message;
    jsErrCode jerr = jsErrCode(0);
    ASSERT_EQ(js_DeleteStream(conn->js(), fleet::kStreamName.data(), nullptr, &jerr), NATS_OK)
        << jerr;
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shipper.state().last_error.empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const auto missing = shipper.state();
  // It had shipped to that stream: not only "create it" is said.
  EXPECT_NE(missing.last_error.find("stream FORKJOURNAL not found"), std::string::npos)
      << missing.last_error;
  EXPECT_NE(missing.last_error.find("although it held seq 20 of this journal: deleted"),
            std::string::npos)
      << missing.last_error;
  EXPECT_FALSE(missing.halted);
  EXPECT_EQ(missing.shipped_seq, 0u) << "the stream holds nothing now";
  EXPECT_EQ(missing.lag_events, 20u);

  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  ASSERT_TRUE(wait_stream_seq(server.url(), journal.info().journal_id, 20, 20s));
  ASSERT_TRUE(wait_shipped(shipper, 20, 10s));
  const auto refilled = shipper.state();
  EXPECT_EQ(refilled.last_error, "");
  EXPECT_EQ(refilled.lag_events, 0u);
  EXPECT_EQ(refilled.published, 40u) << "all 20 again, once";
  shipper.stop();
  bool said_lost = false;
  for (const std::string& line : *lines)
    said_lost |= line.find("although it held seq 20 before") != std::string::npos &&
                 line.find("again from seq 1") != std::string::npos;
  EXPECT_TRUE(said_lost) << "no log line says the stream lost the shipped history";
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
}

// The repair operations.md documents for a stream that disagrees with a
// journal: purge the journal's subject, and the shipper ships the journal
// again from seq 1. A purge leaves the message ids of the subject's recent
// messages in the stream's duplicate window, so the first publishes are
// acknowledged as duplicates of messages the stream no longer holds. The
// shipper waits the window out with backoff, logging the wait once, and
// then ships every seq again; it never halts.
TEST(Ship, APurgedSubjectIsShippedAgainFromSeqOneOnceItsDuplicateWindowHasPassed) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  shorten_duplicate_window(server.url(), 3s);
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 20);
  LogLines log;
  fleet::ShipOptions o;
  o.urls = server.url();
  o.host = "host-a";
  o.recheck_every = 200ms;
  o.log = log.sink();
  auto started = fleet::Shipper::start(journal, o);
  ASSERT_TRUE(started) << started.error().message;
  fleet::Shipper& shipper = **started;
  ASSERT_TRUE(wait_shipped(shipper, 20, 30s));
  const std::size_t lines_before = log.all().size();

  {
    auto conn = fleet::nats::Connection::open(server.url());
    ASSERT_TRUE(conn) << conn.error().message;
    const std::string subject = fleet::subject_for(journal.info().journal_id);
    jsOptions po;
    jsOptions_Init(&po);
    po.Stream.Purge.Subject = subject.c_str();
    jsErrCode jerr = jsErrCode(0);
    ASSERT_EQ(js_PurgeStream(conn->js(), fleet::kStreamName.data(), &po, &jerr), NATS_OK) << jerr;
  }
  // The idle shipper notices within recheck_every and starts again at seq 1,
  // whose id the stream still holds.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shipper.state().last_error.empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  const auto waiting = shipper.state();
  EXPECT_NE(waiting.last_error.find("until its duplicate window has passed"), std::string::npos)
      << waiting.last_error;
  EXPECT_FALSE(waiting.halted) << waiting.last_error;

  std::vector<std::uint64_t> all(20);
  for (std::uint64_t i = 0; i < 20; ++i) all[i] = i + 1;
  deadline = std::chrono::steady_clock::now() + 30s;
  while (fj_seqs(server.url(), journal) != all && !shipper.state().halted &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(wait_shipped(shipper, 20, 10s));
  const auto done = shipper.state();
  EXPECT_FALSE(done.halted) << done.last_error;
  EXPECT_EQ(done.last_error, "");
  EXPECT_EQ(done.published, 40u) << "all 20 again, once";
  shipper.stop();
  EXPECT_EQ(fj_seqs(server.url(), journal), all);
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
  // Backoff up to 2 s over a 3 s window: a handful of tries, and the log has
  // the loss, the wait and its end, not a line per try.
  const auto lines = log.all();
  EXPECT_LE(lines.size() - lines_before, 6u) << log.joined();
  EXPECT_EQ(log.with("until its duplicate window has passed"), 1u) << log.joined();
  EXPECT_EQ(log.with("waited out the duplicate window"), 1u) << log.joined();
}

// nats-server 2.9 reports no last message on a subject whose last message
// was deleted, and then takes a publish expecting "no message" whatever the
// subject holds. A quiet shipper positioned in that state (its last message,
// seq 3, found by direct gets) must still notice when seq 3 is deleted too:
// its recheck finds the last message left and ships seq 3 again, and the
// next event lands after it, not after seq 2.
TEST(Ship, AQuietShipperReshipsADeletedLastMessageWithoutAGap) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  shorten_duplicate_window(server.url(), 2s);
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 3);
  {
    auto first = ship(journal, server.url());
    ASSERT_TRUE(wait_shipped(*first, 3, 30s));
  }
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  // A fourth message on the subject, then deleted (stream sequence 4): the
  // server's last-message lookup now finds nothing on the subject.
  {
    const std::string subject = fleet::subject_for(journal.info().journal_id);
    natsMsg* raw = nullptr;
    ASSERT_EQ(natsMsg_Create(&raw, subject.c_str(), nullptr, "x", 1), NATS_OK);
    fleet::nats::MsgPtr msg(raw);
    jsPubAck* ack = nullptr;
    jsErrCode jerr = jsErrCode(0);
    ASSERT_EQ(js_PublishMsg(&ack, conn->js(), raw, nullptr, &jerr), NATS_OK) << jerr;
    fleet::nats::PubAckPtr keep(ack);
    ASSERT_EQ(ack->Sequence, 4u);
    ASSERT_EQ(js_DeleteMsg(conn->js(), fleet::kStreamName.data(), 4, nullptr, &jerr), NATS_OK)
        << jerr;
  }
  LogLines log;
  fleet::ShipOptions o;
  o.urls = server.url();
  o.host = "host-a";
  o.recheck_every = 200ms;
  o.backoff_max = 200ms;
  o.log = log.sink();
  auto started = fleet::Shipper::start(journal, o);
  ASSERT_TRUE(started) << started.error().message;
  fleet::Shipper& shipper = **started;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (log.with("the stream's last-message lookup finds nothing") == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(log.with("the stream's last-message lookup finds nothing"), 1u) << log.joined();
  EXPECT_EQ(shipper.state().shipped_seq, 3u);
  EXPECT_EQ(shipper.state().published, 0u);

  // Now the subject's last message, seq 3, goes too while the journal is quiet.
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_DeleteMsg(conn->js(), fleet::kStreamName.data(), 3, nullptr, &jerr), NATS_OK)
      << jerr;
  deadline = std::chrono::steady_clock::now() + 20s;
  while (shipper.state().published == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(shipper.state().published, 1u) << "seq 3 shipped again\n" << log.joined();
  EXPECT_EQ(fj_seqs(server.url(), journal), (std::vector<std::uint64_t>{1, 2, 3}));

  append_forks(journal, 1, 100);
  shipper.notify(4);
  ASSERT_TRUE(wait_shipped(shipper, 4, 20s));
  const auto done = shipper.state();
  EXPECT_FALSE(done.halted) << done.last_error;
  EXPECT_EQ(done.last_error, "");
  shipper.stop();
  EXPECT_EQ(fj_seqs(server.url(), journal), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
}

TEST(Ship, HaltsWhenTheStreamIsAheadOfTheJournal) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 5);
  publish_foreign(server.url(), journal, 9, std::string(64, 'b'));
  auto shipper = ship(journal, server.url());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!shipper->state().halted && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const auto s = shipper->state();
  ASSERT_TRUE(s.halted);
  EXPECT_NE(s.last_error.find("holds seq 9 but the local journal ends at seq 5"), std::string::npos)
      << s.last_error;
}

TEST(Ship, TwoJournalsShareTheStreamOnSubjectsOfTheirOwn) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  Journal a = make_journal(dir.sub("a")), b = make_journal(dir.sub("b"));
  append_forks(a, 1500);
  append_forks(b, 1200, 5000);
  auto ship_a = ship(a, server.url(), "host-a");
  auto ship_b = ship(b, server.url(), "host-b");
  ASSERT_TRUE(wait_shipped(*ship_a, 1500, 30s));
  ASSERT_TRUE(wait_shipped(*ship_b, 1200, 30s));
  EXPECT_TRUE(stream_matches(server.url(), a, "host-a"));
  EXPECT_TRUE(stream_matches(server.url(), b, "host-b"));
  // The same by direct gets, which skip the other journal's messages.
  EXPECT_TRUE(stream_matches(server.url(), a, "host-a", fleet::nats::Walk::direct));
  EXPECT_TRUE(stream_matches(server.url(), b, "host-b", fleet::nats::Walk::direct));
  EXPECT_FALSE(stream_matches(server.url(), a, "host-b", fleet::nats::Walk::direct));
}

TEST(Ship, ClusterLosesANodeMidShippingAndNothingIsLostOrRepeated) {
  TempDir dir;
  NatsCluster cluster(dir.sub("nats"));
  auto created = fleet::init_stream(cluster.urls(), 3);
  ASSERT_TRUE(created) << created.error().message;
  Journal journal = make_journal(dir.sub("journal"));
  constexpr std::uint64_t kEvents = 15'000;
  append_forks(journal, kEvents);
  auto shipper = ship(journal, cluster.urls());
  ASSERT_TRUE(wait_shipped(*shipper, 1500, 30s));
  cluster.node(0).stop();
  ASSERT_LT(shipper->state().shipped_seq, kEvents) << "shipping ended before the node stopped";
  ASSERT_TRUE(wait_shipped(*shipper, kEvents, 60s));
  EXPECT_TRUE(stream_matches(cluster.urls(), journal, "host-a"));
}

TEST(Ship, ClusterOutageLeavesLocalCommitsAloneAndShippingCatchesUp) {
  TempDir dir;
  NatsCluster cluster(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(cluster.urls(), 3));
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 1000);
  auto shipper = ship(journal, cluster.urls());
  ASSERT_TRUE(wait_shipped(*shipper, 1000, 30s));

  cluster.stop_all();
  // Commits go on at their own pace while NATS is gone.
  const auto began = std::chrono::steady_clock::now();
  append_forks(journal, 2000, 1000);
  shipper->notify(3000);
  EXPECT_LT(std::chrono::steady_clock::now() - began, 5s);
  // Until the shipper has seen the outage and the lag has aged past a second.
  auto down = shipper->state();
  for (const auto deadline = std::chrono::steady_clock::now() + 10s;
       (down.connected || down.lag_seconds <= 1.0) && std::chrono::steady_clock::now() < deadline;
       down = shipper->state()) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(down.shipped_seq, 1000u);
  EXPECT_EQ(down.lag_events, 2000u);
  EXPECT_GT(down.lag_seconds, 1.0);
  EXPECT_FALSE(down.connected);

  cluster.start_all();
  // The stream's own group then elects a leader, with the same timeouts.
  ASSERT_TRUE(wait_shipped(*shipper, 3000, kNatsClusterStartTimeout));
  EXPECT_EQ(shipper->state().last_error, "");
  EXPECT_TRUE(stream_matches(cluster.urls(), journal, "host-a"));
}

// A writer that never goes idle holds each publish for yield_max at most:
// shipping asks before every event and still ships them all.
TEST(Ship, YieldsToABusyWriterButNeverStarves) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  Journal journal = make_journal(dir.sub("journal"));
  constexpr std::uint64_t kEvents = 60;
  append_forks(journal, kEvents);
  auto asked = std::make_shared<std::atomic<std::uint64_t>>(0);
  fleet::ShipOptions o;
  o.urls = server.url();
  o.host = "host-a";
  o.yield_max = 5ms;
  o.writer_busy = [asked] {
    ++*asked;
    return true;
  };
  auto shipper = fleet::Shipper::start(journal, o);
  ASSERT_TRUE(shipper) << shipper.error().message;
  ASSERT_TRUE(wait_shipped(**shipper, kEvents, 30s));
  (*shipper)->stop();
  EXPECT_TRUE(stream_matches(server.url(), journal, "host-a"));
  // Each publish polls until yield_max has passed: several times per event.
  EXPECT_GE(asked->load(), 2 * kEvents);
}

// libnats keeps a thread's last error until the next one it records, and a
// publish that times out records none: an error must not borrow the detail
// of an earlier, unrelated failure ("Timeout: ... stream not found" read as
// a missing stream while the server was only down).
TEST(Ship, APublishTimeoutDoesNotCarryAnEarlierErrorsDetail) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  fleet::nats::ConnectOptions options;
  options.timeout = 500ms;
  auto conn = fleet::nats::Connection::open(server.url(), options);
  ASSERT_TRUE(conn) << conn.error().message;
  // An earlier failure on this thread: a stream that does not exist.
  auto missing = fleet::nats::last_message(*conn, "NOSUCHSTREAM", "forkjournal.events.x");
  ASSERT_FALSE(missing);
  ASSERT_NE(missing.error().message.find("not found"), std::string::npos)
      << missing.error().message;

  server.node().stop();  // SIGTERM
  natsMsg* raw = nullptr;
  const std::string subject = fleet::subject_for(std::string(32, 'a'));
  ASSERT_EQ(natsMsg_Create(&raw, subject.c_str(), nullptr, "x", 1), NATS_OK);
  fleet::nats::MsgPtr msg(raw);
  auto published = fleet::nats::publish(*conn, msg.get(), "a:1", 0);
  ASSERT_FALSE(published);
  EXPECT_EQ(published.error().code, Errc::unavailable) << published.error().message;
  EXPECT_EQ(published.error().message.find("not found"), std::string::npos)
      << published.error().message;
}

TEST(Ship, StopIsPromptWhileNatsIsDown) {
  TempDir dir;
  Journal journal = make_journal(dir.sub("journal"));
  append_forks(journal, 10);
  auto shipper = ship(journal, "nats://127.0.0.1:" + std::to_string(free_port()));
  // Until the first connect has failed (the shipper is then in its backoff).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shipper->state().last_error.empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(shipper->state().connected);
  EXPECT_NE(shipper->state().last_error, "");
  const auto began = std::chrono::steady_clock::now();
  shipper->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 3s);
}

}  // namespace
}  // namespace fj::testing
