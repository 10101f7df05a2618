// The fleet stream fold without NATS: messages built as the shipper builds
// them (fleet/stream.h) from encoded records and their chain values, then
// fed in stream order, whole, with gaps, repeats and tampering.
#include "fleet/journal_fold.h"
#include "fleet/stream.h"
#include "journal/codec.h"
#include "journal/hex.h"
#include "journal/ids.h"
#include "support/event_samples.h"

#include <gtest/gtest.h>

#include <vector>

namespace fj::testing {
namespace {

const std::string kId = "0123456789abcdef0123456789abcdef";

struct Message {
  std::uint64_t stream_seq = 0;
  std::string seq, journal, host, chain, msg_id, body;
  std::string repeated_header;

  fleet::ShippedMessage view() const {
    return {stream_seq, seq, journal, host, chain, msg_id, body, repeated_header};
  }
};

std::vector<Event> history() {
  return {registered("tpl-a"),  added("tpl-a", "f1"),   added("tpl-a", "f2"), registered("tpl-b"),
          added("tpl-b", "f3"), removed("tpl-a", "f1"), retired("tpl-b"),     added("tpl-a", "f4")};
}

// The messages a shipper publishes for `events` as seqs 1..n.
std::vector<Message> shipped(const std::vector<Event>& events) {
  std::vector<Message> out;
  ChainHash chain = chain_seed(kId);
  for (std::uint64_t seq = 1; seq <= events.size(); ++seq) {
    Message m;
    m.stream_seq = 100 + seq;
    m.body = encode(view(events[seq - 1]));
    chain = chain_next(chain, seq, m.body);
    m.seq = std::to_string(seq);
    m.journal = kId;
    m.host = "host-a";
    m.chain = to_hex(chain);
    m.msg_id = fleet::message_id(kId, seq);
    out.push_back(std::move(m));
  }
  return out;
}

Projection replayed(const std::vector<Event>& events) {
  Projection p;
  for (std::uint64_t seq = 1; seq <= events.size(); ++seq) evolve(p, seq, view(events[seq - 1]));
  return p;
}

fleet::JournalFold fold(const std::vector<Message>& messages) {
  fleet::JournalFold f(kId);
  for (const Message& m : messages) f.add(m.view());
  return f;
}

TEST(JournalFold, RebuildsTheProjectionAndChainOfAWholeJournal) {
  const auto events = history();
  const auto messages = shipped(events);
  const auto f = fold(messages);
  ASSERT_FALSE(f.broken()) << f.broken()->detail;
  EXPECT_EQ(f.first_seq(), 1u);
  EXPECT_EQ(f.head_seq(), events.size());
  EXPECT_TRUE(f.chain_from_seed());
  EXPECT_EQ(to_hex(f.chain()), messages.back().chain);
  EXPECT_EQ(f.host(), "host-a");
  EXPECT_TRUE(f.state() == replayed(events));
  EXPECT_EQ(f.state().live_fork_count(), 3u);
}

TEST(JournalFold, NamesTheSeqWhereMessagesAreMissing) {
  auto messages = shipped(history());
  messages.erase(messages.begin() + 3);  // seq 4
  const auto f = fold(messages);
  ASSERT_TRUE(f.broken());
  EXPECT_EQ(f.broken()->seq, 4u);
  EXPECT_EQ(f.broken()->stream_seq, 105u);
  EXPECT_NE(f.broken()->detail.find("seqs 4..4 are missing"), std::string::npos)
      << f.broken()->detail;
  EXPECT_EQ(f.head_seq(), 3u);  // nothing past the break is applied
  EXPECT_EQ(f.messages(), 7u);
}

TEST(JournalFold, CatchesATamperedCopyPublishedAgain) {
  auto messages = shipped(history());
  // A copy of seq 2 with another fork, its checksum and chain value made to
  // fit, published as the subject's next message.
  Event other = added("tpl-a", "f-evil");
  Message copy = messages[1];
  copy.stream_seq = 200;
  copy.body = encode(view(other));
  copy.chain = to_hex(chain_next(*chain_from_hex(messages[0].chain), 2, copy.body));
  messages.push_back(copy);
  const auto f = fold(messages);
  ASSERT_TRUE(f.broken());
  EXPECT_EQ(f.broken()->seq, 9u);
  EXPECT_EQ(f.broken()->stream_seq, 200u);
  EXPECT_NE(f.broken()->detail.find("seq 2 again"), std::string::npos) << f.broken()->detail;
}

TEST(JournalFold, CatchesAFlippedByteByItsChecksum) {
  auto messages = shipped(history());
  messages[4].body[messages[4].body.size() / 2] ^= 0x01;
  const auto f = fold(messages);
  ASSERT_TRUE(f.broken());
  EXPECT_EQ(f.broken()->seq, 5u);
  EXPECT_NE(f.broken()->detail.find("checksum_mismatch"), std::string::npos) << f.broken()->detail;
}

TEST(JournalFold, CatchesARewrittenRecordByTheChain) {
  auto messages = shipped(history());
  // A valid record (its own checksum right) in place of seq 3.
  messages[2].body = encode(view(added("tpl-a", "f-other")));
  const auto f = fold(messages);
  ASSERT_TRUE(f.broken());
  EXPECT_EQ(f.broken()->seq, 3u);
  EXPECT_NE(f.broken()->detail.find("Fj-Chain"), std::string::npos) << f.broken()->detail;
  EXPECT_EQ(f.head_seq(), 2u);
}

// Fj-Host is chosen by whoever publishes: one that forkjournald would refuse
// as --ship-host (escape codes that rewrite a terminal, 400 bytes) breaks
// the fold at its seq, and the detail shows it escaped, never raw.
TEST(JournalFold, RefusesAnFjHostThatIsNotAShipHost) {
  {
    auto messages = shipped(history());
    messages[3].host = "h9\x1b[1A\x1b[2K\rjournal x: ok";
    const auto f = fold(messages);
    ASSERT_TRUE(f.broken());
    EXPECT_EQ(f.broken()->seq, 4u);
    EXPECT_EQ(f.broken()->stream_seq, 104u);
    const std::string& why = f.broken()->detail;
    EXPECT_NE(why.find("Fj-Host 'h9\\x1b[1A\\x1b[2K\\x0djournal x: ok' is not a host name"),
              std::string::npos)
        << why;
    EXPECT_EQ(why.find('\x1b'), std::string::npos) << why;
    EXPECT_EQ(why.find('\r'), std::string::npos) << why;
    EXPECT_EQ(f.head_seq(), 3u);
    EXPECT_EQ(f.host(), "host-a");
  }
  {
    auto messages = shipped(history());
    messages[0].host = std::string(400, 'h');
    const auto f = fold(messages);
    ASSERT_TRUE(f.broken());
    EXPECT_EQ(f.broken()->seq, 1u);
    EXPECT_NE(f.broken()->detail.find("400 bytes long"), std::string::npos) << f.broken()->detail;
    EXPECT_LT(f.broken()->detail.size(), 300u) << "the whole host repeated";
  }
  {
    auto messages = shipped(history());
    messages[2].host = "host a";
    EXPECT_TRUE(fold(messages).broken());
  }
}

// A header the fold reads that a message carries twice: which one counts
// would depend on the reader, so the message is malformed.
TEST(JournalFold, RefusesARepeatedHeader) {
  auto messages = shipped(history());
  messages[4].repeated_header = "Fj-Seq";
  const auto f = fold(messages);
  ASSERT_TRUE(f.broken());
  EXPECT_EQ(f.broken()->seq, 5u);
  EXPECT_NE(f.broken()->detail.find("header Fj-Seq appears more than once: a malformed message"),
            std::string::npos)
      << f.broken()->detail;
}

TEST(JournalFold, PrintableEscapesWhatATerminalWouldObey) {
  EXPECT_EQ(fj::printable("host-a.b_c"), "host-a.b_c");
  EXPECT_EQ(fj::printable("a\x1b[2K\r\n\\\xc3\xa9"), "a\\x1b[2K\\x0d\\x0a\\\\\\xc3\\xa9");
  EXPECT_EQ(fj::printable(std::string(100, 'x'), 10), "xxxxxxxxxx... (100 bytes)");
}

TEST(JournalFold, CatchesHeadersThatDisagreeWithTheSubject) {
  {
    auto messages = shipped(history());
    messages[5].journal = "ffffffffffffffffffffffffffffffff";
    const auto f = fold(messages);
    ASSERT_TRUE(f.broken());
    EXPECT_EQ(f.broken()->seq, 6u);
    EXPECT_NE(f.broken()->detail.find("Fj-Journal"), std::string::npos);
  }
  {
    auto messages = shipped(history());
    messages[6].msg_id = fleet::message_id(kId, 6);
    const auto f = fold(messages);
    ASSERT_TRUE(f.broken());
    EXPECT_EQ(f.broken()->seq, 7u);
    EXPECT_NE(f.broken()->detail.find("Nats-Msg-Id"), std::string::npos);
  }
  {
    auto messages = shipped(history());
    messages[0].seq = "01";
    const auto f = fold(messages);
    ASSERT_TRUE(f.broken());
    EXPECT_EQ(f.broken()->seq, 1u);
    EXPECT_EQ(f.head_seq(), 0u);
  }
  {
    fleet::JournalFold f("not-a-journal-id");
    f.add(shipped(history())[0].view());
    ASSERT_TRUE(f.broken());
    EXPECT_NE(f.broken()->detail.find("not 32 hex"), std::string::npos);
  }
}

TEST(JournalFold, CarriesTheChainFromTheFirstMessageOfAPurgedStream) {
  const auto events = history();
  auto messages = shipped(events);
  messages.erase(messages.begin(), messages.begin() + 3);  // seqs 1..3 purged
  const auto f = fold(messages);
  ASSERT_FALSE(f.broken()) << f.broken()->detail;
  EXPECT_EQ(f.first_seq(), 4u);
  EXPECT_FALSE(f.chain_from_seed());
  EXPECT_EQ(f.head_seq(), events.size());
  EXPECT_EQ(to_hex(f.chain()), messages.back().chain);

  // The later messages are still chained onto the first one's value.
  messages[2].chain = messages[1].chain;
  const auto g = fold(messages);
  ASSERT_TRUE(g.broken());
  EXPECT_EQ(g.broken()->seq, 6u);
}

TEST(JournalFold, TakesTheJournalIdFromTheSubject) {
  EXPECT_EQ(fleet::journal_of_subject(fleet::subject_for(kId)), std::string_view(kId));
  EXPECT_FALSE(fleet::journal_of_subject("other.events." + kId));
}

}  // namespace
}  // namespace fj::testing
