// forkjournal fleet counts, fleet verify and audit --witness against a real
// nats-server: journals shipped by the Shipper into one stream, then the
// stream tampered with as someone with write access to it could (deleting
// a message, publishing a changed copy, replacing the last message) or
// purged, and the local journal rewritten or truncated after shipping with
// its chain recomputed, which only the stream as a witness can show.
#include "fleet/internal/nats.h"
#include "fleet/internal/stream_read.h"
#include "fleet/shipper.h"
#include "fleet/stream.h"
#include "fleet/stream_setup.h"
#include "journal/codec.h"
#include "journal/hex.h"
#include "journal/internal/databases.h"
#include "journal/internal/endian.h"
#include "journal/internal/format.h"
#include "journal/internal/lmdb.h"
#include "support/event_samples.h"
#include "support/nats_server.h"
#include "support/process.h"
#include "support/ship_checks.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <functional>
#include <map>

namespace fj::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

Exited cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{FORKJOURNAL_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions options;
  options.timeout = 30s;
  return run(argv, options);
}

// Creates a journal at `dir` holding `events`, ships it to `urls` as `host`
// until the stream holds all of it, and returns its id. The journal is closed
// on return.
std::string shipped_journal(const std::string& dir, const std::vector<Event>& events,
                            const std::string& urls, const std::string& host) {
  auto journal = Journal::create(dir, JournalOptions{.sync = SyncMode::none});
  EXPECT_TRUE(journal) << journal.error().message;
  if (!journal) return {};
  std::vector<EventView> views;
  for (const Event& e : events) views.push_back(view(e));
  EXPECT_TRUE(journal->append(views));
  fleet::ShipOptions options;
  options.urls = urls;
  options.host = host;
  auto shipper = fleet::Shipper::start(*journal, options);
  EXPECT_TRUE(shipper) << shipper.error().message;
  if (!shipper) return {};
  (*shipper)->notify(events.size());
  EXPECT_TRUE(wait_shipped(**shipper, events.size(), 20s));
  return journal->info().journal_id;
}

std::vector<Event> forks_of(const std::string& tpl, int n) {
  std::vector<Event> events{registered(tpl)};
  for (int i = 1; i <= n; ++i) events.push_back(added(tpl, tpl + "-f" + std::to_string(i)));
  return events;
}

// Runs fn(txn, dbs) in a raw LMDB write transaction on the closed journal
// at `dir`, as an attacker with the files would.
void edit(const std::string& dir, const std::function<void(lmdb::Txn&, const JournalDbs&)>& fn) {
  auto env = lmdb::Env::open(dir, lmdb::EnvOptions{});
  ASSERT_TRUE(env);
  auto txn = lmdb::Txn::begin(*env, 0);
  JournalDbs dbs{*txn->open_db(kEventsDb, MDB_INTEGERKEY), *txn->open_db(kMetaDb, 0),
                 *txn->open_db(kSnapshotsDb, MDB_INTEGERKEY), *txn->open_db(kRequestsDb, 0),
                 *txn->open_db(kChainDb, MDB_INTEGERKEY)};
  fn(*txn, dbs);
  ASSERT_TRUE(txn->commit());
}

// Recomputes and stores the chain over seqs 1..head (checkpoints and head):
// what a careful rewriter does so that a local audit passes.
void rechain(lmdb::Txn& txn, const JournalDbs& dbs, const std::string& id, std::uint64_t head) {
  ChainHash chain = chain_seed(id);
  for (std::uint64_t seq = 1; seq <= head; ++seq) {
    chain = chain_next(chain, seq, **txn.get(dbs.events, lmdb::seq_key(seq)));
    if (seq % kChainCheckpointEvery == 0) {
      ASSERT_TRUE(txn.put(dbs.chain, lmdb::seq_key(seq),
                          lmdb::to_val(std::string_view(reinterpret_cast<const char*>(chain.data()),
                                                        chain.size()))));
    }
  }
  std::string stored;
  put_le(stored, head);
  stored.append(reinterpret_cast<const char*>(chain.data()), 32);
  ASSERT_TRUE(txn.put(dbs.meta, lmdb::to_val(kMetaChainHead), lmdb::to_val(stored)));
}

// Publishes a message straight to a journal's subject, with no expectation
// of the last sequence: what anyone allowed to publish there can do.
void publish_raw(const fleet::nats::Connection& c, const std::string& id, std::uint64_t seq,
                 const std::string& body, const std::string& chain_hex,
                 const std::string& msg_id = {}) {
  const std::string subject = fleet::subject_for(id);
  natsMsg* raw = nullptr;
  ASSERT_EQ(natsMsg_Create(&raw, subject.c_str(), nullptr, body.data(), int(body.size())), NATS_OK);
  fleet::nats::MsgPtr msg(raw);
  const std::string seq_text = std::to_string(seq);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Seq", seq_text.c_str()), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Journal", id.c_str()), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Host", "intruder"), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Chain", chain_hex.c_str()), NATS_OK);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  if (!msg_id.empty()) po.MsgId = msg_id.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_PublishMsg(&ack, c.js(), raw, &po, &jerr), NATS_OK) << int(jerr);
  jsPubAck_Destroy(ack);
}

// The stream sequence of a journal's message at `seq`.
std::uint64_t stream_seq_of(const fleet::nats::Connection& c, const std::string& id,
                            std::uint64_t seq) {
  std::uint64_t found = 0;
  auto walked = fleet::nats::for_each_in_stream(
      c, fleet::kStreamName, fleet::subject_for(id),
      [&](natsMsg* msg, std::uint64_t stream_seq) -> Result<void> {
        if (fleet::nats::header(msg, "Fj-Seq") == std::string_view(std::to_string(seq)))
          found = stream_seq;
        return {};
      });
  EXPECT_TRUE(walked) << walked.error().message;
  EXPECT_NE(found, 0u) << "no message for seq " << seq;
  return found;
}

// The templates of one journal in `forkjournal counts --json` or of one
// journal in `fleet counts --json`, as the same JSON.
json::array local_templates(const std::string& dir) {
  const auto counts = cli({"counts", "--journal", dir, "--json"});
  EXPECT_EQ(counts.exit_code, 0) << counts;
  return json::parse(counts.out).at("templates").as_array();
}

TEST(FleetCounts, EqualsEachJournalsOwnCountsJournalsKeptApart) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  std::vector<Event> a = forks_of("tpl-a", 5);
  a.push_back(removed("tpl-a", "tpl-a-f2"));
  a.push_back(registered("tpl-shared", "src-a", "same id on both hosts"));
  a.push_back(added("tpl-shared", "fa"));
  std::vector<Event> b = forks_of("tpl-b", 3);
  b.push_back(registered("tpl-shared", "src-b", "same id on both hosts"));
  b.push_back(added("tpl-shared", "fb1"));
  b.push_back(added("tpl-shared", "fb2"));
  b.push_back(registered("tpl-old"));
  b.push_back(retired("tpl-old"));
  const std::string id_a = shipped_journal(dir.sub("a"), a, server.url(), "host-a");
  const std::string id_b = shipped_journal(dir.sub("b"), b, server.url(), "host-b");

  const auto fleet_counts = cli({"fleet", "counts", "--nats", server.url(), "--json"});
  ASSERT_EQ(fleet_counts.exit_code, 0) << fleet_counts;
  const json::object view = json::parse(fleet_counts.out).as_object();
  EXPECT_EQ(view.at("messages"), a.size() + b.size());
  const json::array& journals = view.at("journals").as_array();
  ASSERT_EQ(journals.size(), 2u);
  std::map<std::string, json::object> by_id;
  for (const auto& j : journals) by_id[std::string(j.at("journal_id").as_string())] = j.as_object();
  ASSERT_TRUE(by_id.contains(id_a) && by_id.contains(id_b)) << fleet_counts;
  EXPECT_EQ(by_id[id_a].at("host"), "host-a");
  EXPECT_EQ(by_id[id_b].at("host"), "host-b");
  EXPECT_EQ(by_id[id_a].at("shipped_seq"), a.size());
  EXPECT_EQ(by_id[id_b].at("shipped_seq"), b.size());
  EXPECT_EQ(by_id[id_a].at("lag"), "unknown");
  EXPECT_TRUE(by_id[id_a].at("lag_events").is_null());
  // tpl-shared is counted per journal: 1 fork on host-a, 2 on host-b.
  EXPECT_EQ(by_id[id_a].at("templates"), local_templates(dir.sub("a")));
  EXPECT_EQ(by_id[id_b].at("templates"), local_templates(dir.sub("b")));
  EXPECT_EQ(by_id[id_a].at("live_forks"), 5u);  // 4 of tpl-a, 1 of tpl-shared
  EXPECT_EQ(by_id[id_b].at("live_forks"), 5u);  // 3 of tpl-b, 2 of tpl-shared
  const json::object& totals = view.at("totals").as_object();
  EXPECT_EQ(totals.at("journals"), 2);
  EXPECT_EQ(totals.at("templates"), 5);
  EXPECT_EQ(totals.at("live_forks"), 10);
  EXPECT_EQ(totals.at("partial"), false);
  EXPECT_TRUE(totals.at("uncountable").as_array().empty());
  EXPECT_TRUE(totals.at("broken").as_array().empty());

  const auto text = cli({"fleet", "counts", "--nats", server.url()});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_NE(text.out.find("2 journals, 5 templates, 10 live forks"), std::string::npos) << text;
  EXPECT_NE(text.out.find("journal " + id_a + "  host host-a  shipped seq " +
                          std::to_string(a.size()) + "  lag unknown"),
            std::string::npos)
      << text;

  const auto verify = cli({"fleet", "verify", "--nats", server.url()});
  EXPECT_EQ(verify.exit_code, 0) << verify;
  EXPECT_NE(verify.out.find("journal " + id_a + ": ok, seqs 1.." + std::to_string(a.size()) +
                            " from host-a, chain recomputed from the seed"),
            std::string::npos)
      << verify;
  EXPECT_NE(verify.out.find("ok: 2 journals"), std::string::npos) << verify;
}

TEST(FleetVerify, NamesEachJournalAndSeqWhereTheStreamWasTamperedWith) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  const std::string clean = shipped_journal(dir.sub("clean"), forks_of("c", 20), server.url(), "h");
  const std::string deleted = shipped_journal(dir.sub("del"), forks_of("d", 20), server.url(), "h");
  const std::string copied = shipped_journal(dir.sub("copy"), forks_of("k", 20), server.url(), "h");
  const std::string replaced =
      shipped_journal(dir.sub("rep"), forks_of("r", 20), server.url(), "h");
  const std::string purged = shipped_journal(dir.sub("pur"), forks_of("p", 20), server.url(), "h");
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;

  // A subject purged below seq 6: no tampering, history made shorter.
  {
    const std::string subject = fleet::subject_for(purged);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Stream.Purge.Subject = subject.c_str();
    jo.Stream.Purge.Sequence = stream_seq_of(*conn, purged, 6);
    jsErrCode purge_err = jsErrCode(0);
    ASSERT_EQ(js_PurgeStream(conn->js(), "FORKJOURNAL", &jo, &purge_err), NATS_OK);
  }

  // A message deleted from the middle of a subject.
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(
      js_DeleteMsg(conn->js(), "FORKJOURNAL", stream_seq_of(*conn, deleted, 8), nullptr, &jerr),
      NATS_OK);

  // A changed copy of seq 5 (a valid record, its chain value recomputed)
  // published as the subject's next message.
  {
    auto seq4 = fleet::nats::message_at(*conn, "FORKJOURNAL", stream_seq_of(*conn, copied, 4));
    ASSERT_TRUE(seq4);
    const ChainHash before = *chain_from_hex(*fleet::nats::header(seq4->get(), "Fj-Chain"));
    const std::string body = encode(view(added("k", "k-forged")));
    publish_raw(*conn, copied, 5, body, to_hex(chain_next(before, 5, body)));
  }

  // The last message replaced: deleted, then a forged seq 21 put after
  // seq 19 (its id taken, so the dedupe window refuses the same one).
  {
    auto last = fleet::nats::last_message(*conn, "FORKJOURNAL", fleet::subject_for(replaced));
    ASSERT_TRUE(last && *last);
    const std::uint64_t last_stream_seq = natsMsg_GetSequence(last->value().get());
    ASSERT_EQ(js_DeleteMsg(conn->js(), "FORKJOURNAL", last_stream_seq, nullptr, &jerr), NATS_OK);
    auto seq20 = fleet::nats::message_at(*conn, "FORKJOURNAL", stream_seq_of(*conn, replaced, 20));
    ASSERT_TRUE(seq20);
    const ChainHash before = *chain_from_hex(*fleet::nats::header(seq20->get(), "Fj-Chain"));
    const std::string body = encode(view(removed("r", "r-f1")));
    publish_raw(*conn, replaced, 21, body, to_hex(chain_next(before, 21, body)),
                fleet::message_id(replaced, 21) + "-forged");
  }

  const auto verify = cli({"fleet", "verify", "--nats", server.url()});
  EXPECT_EQ(verify.exit_code, 1) << verify;
  EXPECT_NE(verify.out.find("journal " + clean + ": ok, seqs 1..21"), std::string::npos) << verify;
  EXPECT_NE(verify.out.find("journal " + deleted + ": breaks at seq 8 "), std::string::npos)
      << verify;
  EXPECT_NE(verify.out.find("journal " + copied + ": breaks at seq 22 "), std::string::npos)
      << verify;
  EXPECT_NE(verify.out.find("Fj-Seq 5 where 22 was expected (seq 5 again)"), std::string::npos)
      << verify;
  EXPECT_NE(verify.out.find("journal " + replaced + ": breaks at seq 21 "), std::string::npos)
      << verify;
  EXPECT_NE(verify.out.find("Nats-Msg-Id"), std::string::npos) << verify;
  EXPECT_NE(verify.out.find("journal " + purged +
                            ": ok, seqs 6..21 from h, chain carried from the first message's "
                            "Fj-Chain (the stream starts at seq 6: earlier events were purged)"),
            std::string::npos)
      << verify;

  const auto json_verify = cli({"fleet", "verify", "--nats", server.url(), "--json"});
  EXPECT_EQ(json_verify.exit_code, 1) << json_verify;
  EXPECT_EQ(json::parse(json_verify.out).at("ok"), false);

  // The replaced message differs from the journal's own record too.
  const auto witnessed = cli({"audit", "--journal", dir.sub("rep"), "--witness", server.url()});
  EXPECT_EQ(witnessed.exit_code, 1) << witnessed;
  EXPECT_NE(witnessed.out.find("seq 21  witness: the local record differs from the shipped one"),
            std::string::npos)
      << witnessed;

  // What the purge left still matches the journal, chained from its seed.
  const auto purged_witness =
      cli({"audit", "--journal", dir.sub("pur"), "--witness", server.url()});
  EXPECT_EQ(purged_witness.exit_code, 0) << purged_witness;
  EXPECT_NE(purged_witness.out.find("witness: the stream's seqs 6..21 match"), std::string::npos)
      << purged_witness;

  // The counts are not served past a break.
  const auto counts = cli({"fleet", "counts", "--nats", server.url()});
  EXPECT_EQ(counts.exit_code, 2) << counts;
  EXPECT_NE(counts.err.find("journal " + deleted + ": breaks at seq 8"), std::string::npos)
      << counts;
}

// A stream that keeps only a journal's recent messages (max_msgs_per_subject,
// or a purge keeping the last K) holds its tail: counts folded from it alone
// are wrong (forks whose fork_added is gone are not counted, their
// fork_removed are anomalies). fleet counts names such a journal, leaves it
// out of the totals and says the totals are partial, exit 2; a broken journal
// makes them partial too.
TEST(FleetCounts, AJournalWhoseStreamHistoryStartsAfterSeqOneIsLeftOutAndTheTotalsArePartial) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  const std::string whole = shipped_journal(dir.sub("w"), forks_of("w", 4), server.url(), "h");
  std::vector<Event> r = forks_of("r", 20);
  for (int i = 1; i <= 10; ++i) r.push_back(removed("r", "r-f" + std::to_string(i)));
  const std::string kept = shipped_journal(dir.sub("k"), r, server.url(), "h");
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  {
    const std::string subject = fleet::subject_for(kept);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Stream.Purge.Subject = subject.c_str();
    jo.Stream.Purge.Keep = 12;  // seqs 20..31 stay
    jsErrCode jerr = jsErrCode(0);
    ASSERT_EQ(js_PurgeStream(conn->js(), "FORKJOURNAL", &jo, &jerr), NATS_OK) << int(jerr);
  }

  const auto text = cli({"fleet", "counts", "--nats", server.url()});
  EXPECT_EQ(text.exit_code, 2) << text;
  EXPECT_NE(text.out.find("stream FORKJOURNAL: 1 journal, 1 template, 4 live forks (17 "
                          "messages); partial: 1 journal not countable from the stream, left "
                          "out (" +
                          kept + " from seq 20)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.out.find("not countable from the stream: its history there starts at seq 20"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.out.find("anomal"), std::string::npos) << text;
  EXPECT_NE(text.err.find("journal " + kept +
                          ": not countable from the stream: its history there starts at seq 20"),
            std::string::npos)
      << text;

  const auto js = cli({"fleet", "counts", "--nats", server.url(), "--json"});
  EXPECT_EQ(js.exit_code, 2) << js;
  const json::object view = json::parse(js.out).as_object();
  const json::object& totals = view.at("totals").as_object();
  EXPECT_EQ(totals.at("journals"), 1);
  EXPECT_EQ(totals.at("live_forks"), 4);
  EXPECT_EQ(totals.at("partial"), true);
  ASSERT_EQ(totals.at("uncountable").as_array().size(), 1u) << js;
  EXPECT_EQ(totals.at("uncountable").as_array()[0].at("journal_id").as_string(), kept);
  EXPECT_EQ(totals.at("uncountable").as_array()[0].at("first_seq"), 20);
  for (const auto& j : view.at("journals").as_array()) {
    const bool is_kept = j.at("journal_id") == json::value(kept);
    EXPECT_EQ(j.at("countable"), !is_kept) << js;
    if (is_kept) {
      EXPECT_TRUE(j.at("live_forks").is_null()) << js;
      EXPECT_TRUE(j.at("anomalies").is_null()) << js;
      EXPECT_TRUE(j.at("templates").as_array().empty()) << js;
    }
  }

  // A journal with a message deleted from its middle: counted up to the
  // break, and the totals say so.
  const std::string gap = shipped_journal(dir.sub("g"), forks_of("g", 6), server.url(), "h");
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_DeleteMsg(conn->js(), "FORKJOURNAL", stream_seq_of(*conn, gap, 4), nullptr, &jerr),
            NATS_OK);
  const auto broken = cli({"fleet", "counts", "--nats", server.url()});
  EXPECT_EQ(broken.exit_code, 2) << broken;
  EXPECT_NE(broken.out.find("1 journal counted only up to a break (" + gap + " at seq 4)"),
            std::string::npos)
      << broken;
  const auto broken_js = cli({"fleet", "counts", "--nats", server.url(), "--json"});
  const json::value broken_view = json::parse(broken_js.out);
  const json::object& broken_totals = broken_view.at("totals").as_object();
  EXPECT_EQ(broken_totals.at("partial"), true);
  ASSERT_EQ(broken_totals.at("broken").as_array().size(), 1u) << broken_js;
  EXPECT_EQ(broken_totals.at("broken").as_array()[0].at("journal_id").as_string(), gap);
  EXPECT_EQ(broken_totals.at("broken").as_array()[0].at("seq"), 4);
}

// Publishes `body` as `seq` on the journal's subject with Fj-Host `host` and,
// when `second_seq` is set, a second Fj-Seq header.
void publish_forged(const fleet::nats::Connection& c, const std::string& id, std::uint64_t seq,
                    const std::string& host, const std::string& second_seq = {}) {
  const std::string subject = fleet::subject_for(id);
  auto before = fleet::nats::message_at(c, "FORKJOURNAL", stream_seq_of(c, id, seq - 1));
  ASSERT_TRUE(before) << before.error().message;
  const ChainHash prev = *chain_from_hex(*fleet::nats::header(before->get(), "Fj-Chain"));
  const std::string body = encode(view(added("x", "x-forged")));
  natsMsg* raw = nullptr;
  ASSERT_EQ(natsMsg_Create(&raw, subject.c_str(), nullptr, body.data(), int(body.size())), NATS_OK);
  fleet::nats::MsgPtr msg(raw);
  const std::string seq_text = std::to_string(seq), chain = to_hex(chain_next(prev, seq, body));
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Seq", seq_text.c_str()), NATS_OK);
  if (!second_seq.empty()) {
    ASSERT_EQ(natsMsgHeader_Add(raw, "Fj-Seq", second_seq.c_str()), NATS_OK);
  }
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Journal", id.c_str()), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Host", host.c_str()), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Chain", chain.c_str()), NATS_OK);
  const std::string msg_id = fleet::message_id(id, seq);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_PublishMsg(&ack, c.js(), raw, &po, &jerr), NATS_OK) << int(jerr);
  jsPubAck_Destroy(ack);
}

// Fj-Host is whatever a publisher wrote: a name forkjournald would refuse as
// --ship-host (terminal escape codes, 400 bytes) is a finding at its journal
// and seq, shown escaped; a message with two Fj-Seq headers is malformed. No
// raw control byte reaches the reader's terminal.
TEST(FleetVerify, AForgedHostOrARepeatedHeaderIsAFindingShownEscaped) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  const std::string esc = shipped_journal(dir.sub("e"), forks_of("e", 3), server.url(), "h");
  const std::string big = shipped_journal(dir.sub("b"), forks_of("b", 3), server.url(), "h");
  const std::string two = shipped_journal(dir.sub("t"), forks_of("t", 3), server.url(), "h");
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  publish_forged(*conn, esc, 5, "h9\x1b[1A\x1b[2K\rjournal " + esc + ": ok");
  publish_forged(*conn, big, 5, std::string(400, 'h'));
  publish_forged(*conn, two, 5, "h", "4");

  const auto verify = cli({"fleet", "verify", "--nats", server.url()});
  EXPECT_EQ(verify.exit_code, 1) << verify;
  EXPECT_NE(verify.out.find("journal " + esc + ": breaks at seq 5 (stream sequence " +
                            std::to_string(stream_seq_of(*conn, esc, 5)) +
                            "): Fj-Host 'h9\\x1b[1A\\x1b[2K"),
            std::string::npos)
      << verify;
  EXPECT_NE(verify.out.find("journal " + big + ": breaks at seq 5 "), std::string::npos) << verify;
  EXPECT_NE(verify.out.find("400 bytes long"), std::string::npos) << verify;
  EXPECT_EQ(verify.out.find(std::string(300, 'h')), std::string::npos) << verify;
  EXPECT_NE(verify.out.find("journal " + two + ": breaks at seq 5 (stream sequence " +
                            std::to_string(stream_seq_of(*conn, two, 5)) +
                            "): header Fj-Seq appears more than once: a malformed message"),
            std::string::npos)
      << verify;
  EXPECT_EQ(verify.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(verify.out.find('\r'), std::string::npos);

  const auto counts = cli({"fleet", "counts", "--nats", server.url()});
  EXPECT_EQ(counts.exit_code, 2) << counts;
  EXPECT_NE(counts.err.find("journal " + esc + ": breaks at seq 5"), std::string::npos) << counts;
  for (const std::string* out : {&counts.out, &counts.err}) {
    EXPECT_EQ(out->find('\x1b'), std::string::npos) << *out;
    EXPECT_EQ(out->find('\r'), std::string::npos) << *out;
  }
  EXPECT_NE(counts.out.find("journal " + esc + "  host h  shipped seq 4"), std::string::npos)
      << counts;
}

// audit --witness names a stream message's Fj-Seq that is not a seq: shown
// escaped, so that a forged one cannot rewrite the terminal.
TEST(AuditWitness, ShowsAForgedFjSeqEscaped) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  const std::string id = shipped_journal(dir.sub("j"), forks_of("j", 3), server.url(), "h");
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  const std::string subject = fleet::subject_for(id);
  natsMsg* raw = nullptr;
  ASSERT_EQ(natsMsg_Create(&raw, subject.c_str(), nullptr, "x", 1), NATS_OK);
  fleet::nats::MsgPtr msg(raw);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Seq", "5\x1b[2J"), NATS_OK);
  ASSERT_EQ(natsMsgHeader_Set(raw, "Fj-Journal", id.c_str()), NATS_OK);
  jsPubAck* ack = nullptr;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_PublishMsg(&ack, conn->js(), raw, nullptr, &jerr), NATS_OK) << int(jerr);
  jsPubAck_Destroy(ack);

  const auto witnessed = cli({"audit", "--journal", dir.sub("j"), "--witness", server.url()});
  EXPECT_EQ(witnessed.exit_code, 1) << witnessed;
  EXPECT_NE(witnessed.out.find("the stream's Fj-Seq '5\\x1b[2J' where 5 was expected"),
            std::string::npos)
      << witnessed;
  EXPECT_EQ(witnessed.out.find('\x1b'), std::string::npos) << witnessed;
  EXPECT_EQ(witnessed.err.find('\x1b'), std::string::npos) << witnessed;
}

TEST(AuditWitness, CatchesALocalRewriteOfShippedHistoryThatALocalAuditPasses) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  const std::string path = dir.sub("j");
  const std::string id = shipped_journal(path, forks_of("w", 29), server.url(), "h");
  {
    auto journal = Journal::open(path, JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(journal);
    std::vector<Event> late;
    for (int i = 1; i <= 5; ++i) late.push_back(added("w", "w-late" + std::to_string(i)));
    std::vector<EventView> views;
    for (const Event& e : late) views.push_back(view(e));
    ASSERT_TRUE(journal->append(views));  // not shipped
  }

  const auto before = cli({"audit", "--journal", path, "--witness", server.url()});
  EXPECT_EQ(before.exit_code, 0) << before;
  EXPECT_NE(before.out.find("witness: the stream's seqs 1..30 match the local records and chain"),
            std::string::npos)
      << before;
  EXPECT_NE(before.out.find("witness: 5 events after seq 30 not shipped yet"), std::string::npos)
      << before;
  const auto before_json = cli({"audit", "--journal", path, "--witness", server.url(), "--json"});
  ASSERT_EQ(before_json.exit_code, 0) << before_json;
  EXPECT_EQ(json::parse(before_json.out).at("witness").at("unshipped"), 5);

  // Fork w-f9 (seq 10) rewritten to another fork, the chain recomputed.
  edit(path, [&](lmdb::Txn& txn, const JournalDbs& dbs) {
    const std::string forged = encode(view(added("w", "w-other")));
    ASSERT_TRUE(txn.put(dbs.events, lmdb::seq_key(10), lmdb::to_val(forged)));
    rechain(txn, dbs, id, 35);
  });
  const auto local = cli({"audit", "--journal", path});
  EXPECT_EQ(local.exit_code, 0) << local;
  const auto witnessed = cli({"audit", "--journal", path, "--witness", server.url()});
  EXPECT_EQ(witnessed.exit_code, 1) << witnessed;
  EXPECT_NE(witnessed.out.find("seq 10  witness: the local record differs from the shipped one"),
            std::string::npos)
      << witnessed;
}

TEST(AuditWitness, CatchesATruncationBelowTheShippedHead) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  const std::string path = dir.sub("j");
  const std::string id = shipped_journal(path, forks_of("t", 29), server.url(), "h");
  edit(path, [&](lmdb::Txn& txn, const JournalDbs& dbs) {
    for (std::uint64_t seq = 21; seq <= 30; ++seq) {
      ASSERT_TRUE(txn.del(dbs.events, lmdb::seq_key(seq)));
    }
    rechain(txn, dbs, id, 20);
  });
  const auto local = cli({"audit", "--journal", path});
  EXPECT_EQ(local.exit_code, 0) << local;
  const auto witnessed = cli({"audit", "--journal", path, "--witness", server.url()});
  EXPECT_EQ(witnessed.exit_code, 1) << witnessed;
  EXPECT_NE(witnessed.out.find("seq 21  witness: the stream holds seq 21 beyond the local head 20"),
            std::string::npos)
      << witnessed;
}

TEST(StreamRead, DirectGetsReadWhatTheConsumerReads) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  ASSERT_TRUE(fleet::init_stream(server.url(), 1));
  const std::string a = shipped_journal(dir.sub("a"), forks_of("a", 12), server.url(), "h");
  const std::string b = shipped_journal(dir.sub("b"), forks_of("b", 7), server.url(), "h");
  auto conn = fleet::nats::Connection::open(server.url());
  ASSERT_TRUE(conn) << conn.error().message;
  jsErrCode jerr = jsErrCode(0);
  ASSERT_EQ(js_DeleteMsg(conn->js(), "FORKJOURNAL", stream_seq_of(*conn, a, 5), nullptr, &jerr),
            NATS_OK);
  // The last message of b's subject, which js_GetLastMsg then no longer finds.
  ASSERT_EQ(js_DeleteMsg(conn->js(), "FORKJOURNAL", stream_seq_of(*conn, b, 8), nullptr, &jerr),
            NATS_OK);

  using Seen = std::vector<std::pair<std::uint64_t, std::string>>;
  const auto read = [&](const std::string& subject, fleet::nats::Walk walk) {
    Seen seen;
    auto n = fleet::nats::for_each_in_stream(
        *conn, fleet::kStreamName, subject,
        [&](natsMsg* msg, std::uint64_t stream_seq) -> Result<void> {
          seen.emplace_back(stream_seq, std::string(*fleet::nats::header(msg, "Fj-Seq")));
          return {};
        },
        walk);
    EXPECT_TRUE(n) << n.error().message;
    EXPECT_EQ(n ? *n : 0, seen.size());
    return seen;
  };
  using fleet::nats::Walk;
  const Seen all = read({}, Walk::consumer_first);
  EXPECT_EQ(all.size(), 13u + 8u - 2u);
  EXPECT_EQ(read({}, Walk::direct), all);
  const Seen of_b = read(fleet::subject_for(b), Walk::consumer_first);
  ASSERT_EQ(of_b.size(), 7u);
  EXPECT_EQ(of_b.back().second, "7");
  EXPECT_EQ(read(fleet::subject_for(b), Walk::direct), of_b);
  EXPECT_EQ(read(fleet::subject_for(a), Walk::direct),
            read(fleet::subject_for(a), Walk::consumer_first));
  EXPECT_TRUE(read(fleet::subject_for(std::string(32, '0')), Walk::consumer_first).empty());
}

// A FORKJOURNAL stream that cannot hold the journals' subjects is not the
// fleet stream: counts and verify refuse it in one line instead of reporting
// an empty, healthy fleet.
TEST(FleetView, AStreamWhoseSubjectsMissTheJournalsIsRefused) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  add_foreign_stream(server.url(), "other.>", js_FileStorage);
  for (const char* sub : {"counts", "verify"}) {
    const auto r = cli({"fleet", sub, "--nats", server.url()});
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_EQ(r.out, "") << r;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r;
    EXPECT_NE(r.err.find("stream FORKJOURNAL takes subjects other.>, which do not cover "
                         "forkjournal.events.>"),
              std::string::npos)
        << r;
  }
}

// Wider subjects than fleet init's still hold every journal: read as usual.
TEST(FleetView, AStreamWhoseSubjectsCoverTheJournalsIsRead) {
  TempDir dir;
  NatsServer server(dir.sub("nats"));
  add_foreign_stream(server.url(), "forkjournal.*.>", js_FileStorage);
  const auto r = cli({"fleet", "verify", "--nats", server.url()});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.out.find("ok"), std::string::npos) << r;
}

TEST(FleetView, NatsFailuresExitTwo) {
  TempDir dir;
  const std::string nowhere = "nats://127.0.0.1:" + std::to_string(free_port());
  for (const char* sub : {"counts", "verify"}) {
    const auto r = cli({"fleet", sub, "--nats", nowhere});
    EXPECT_EQ(r.exit_code, 2) << r;
  }
  {
    auto journal = Journal::create(dir.sub("j"));
    ASSERT_TRUE(journal);
  }
  const auto r = cli({"audit", "--journal", dir.sub("j"), "--witness", nowhere});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("witness " + nowhere), std::string::npos) << r;

  // A server without the stream.
  NatsServer server(dir.sub("nats"));
  const auto none = cli({"fleet", "verify", "--nats", server.url()});
  EXPECT_EQ(none.exit_code, 2) << none;
  EXPECT_NE(none.err.find("forkjournal fleet init"), std::string::npos) << none;
}

}  // namespace
}  // namespace fj::testing
