#include "projector/internal/snapshot.h"

#include "journal/internal/crc32c.h"
#include "journal/internal/endian.h"
#include "journal/internal/format.h"
#include "support/event_samples.h"

#include <gtest/gtest.h>

#include <vector>

namespace fj {
namespace {

using namespace fj::testing;

Projection sample() {
  Projection p;
  std::uint64_t seq = 0;
  for (const Event& e :
       {registered("web", "src", "web ✓"), registered("db"), added("web", "a"), added("web", "b"),
        added("db", "c"), correction(EventType::fork_lost, "web", "a", Reason::instance_missing),
        removed("web", "ghost"), retired("db")}) {
    p.apply(++seq, view(e));
  }
  return p;
}

TEST(Snapshot, RoundTripsTheWholeProjection) {
  const Projection p = sample();
  ASSERT_EQ(p.anomalies().size(), 2u);
  auto d = SnapshotCodec::decode(SnapshotCodec::encode(p, 0xABCD1234));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->record_crc, 0xABCD1234u);
  EXPECT_TRUE(d->projection == p);
  EXPECT_EQ(d->projection.find("web")->forks, 1u);
  EXPECT_TRUE(d->projection.lost("a"));
}

// Ids longer than the 31 bytes Id keeps inline round-trip too.
TEST(Snapshot, RoundTripsIdsOfEveryLength) {
  Projection p;
  std::uint64_t seq = 0;
  const std::string tpl(kMaxIdSize, 'T');
  p.apply(++seq, view(registered(tpl, std::string(40, 's'))));
  for (std::size_t size = 1; size <= kMaxIdSize; ++size) {
    p.apply(++seq, view(added(tpl, std::string(size, 'f'))));
  }
  p.apply(++seq, view(correction(EventType::fork_lost, tpl, std::string(33, 'f'),
                                 Reason::instance_missing)));
  auto d = SnapshotCodec::decode(SnapshotCodec::encode(p, 7));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->projection == p);
  EXPECT_EQ(d->projection.find(tpl)->forks, kMaxIdSize - 1);
  EXPECT_EQ(d->projection.find(tpl)->source.view(), std::string(40, 's'));
  EXPECT_TRUE(d->projection.lost(std::string(33, 'f')));
}

TEST(Snapshot, EveryTruncationIsRefused) {
  const std::string blob = SnapshotCodec::encode(sample(), 1);
  for (std::size_t n = 0; n < blob.size(); ++n) {
    EXPECT_FALSE(SnapshotCodec::decode(blob.substr(0, n))) << n;
  }
}

TEST(Snapshot, AnyFlippedByteIsRefused) {
  const std::string blob = SnapshotCodec::encode(sample(), 1);
  for (std::size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_FALSE(SnapshotCodec::decode(bad)) << i;
  }
}

TEST(Snapshot, EmptyProjectionRoundTrips) {
  auto d = SnapshotCodec::decode(SnapshotCodec::encode(Projection{}, 0));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->projection == Projection{});
}

// matches() gives decode's verdict: its error, or whether what it decodes
// equals the state.
void expect_decode_verdict(const std::string& blob, const Projection& state) {
  const auto matched = SnapshotCodec::matches(blob, state);
  const auto decoded = SnapshotCodec::decode(blob);
  ASSERT_EQ(static_cast<bool>(matched), static_cast<bool>(decoded));
  if (!decoded) {
    EXPECT_EQ(matched.error().message, decoded.error().message);
    return;
  }
  EXPECT_EQ(*matched, decoded->projection == state);
}

TEST(Snapshot, MatchesTheProjectionItEncodes) {
  for (const Projection& p : {sample(), Projection{}}) {
    const auto matched = SnapshotCodec::matches(SnapshotCodec::encode(p, 3), p);
    ASSERT_TRUE(matched) << matched.error().message;
    EXPECT_TRUE(*matched);
  }
}

// Every pair among states that differ in one way each (a fork more or less,
// a fork under another template, lost or not, a retirement, an anomaly, a
// template's seqs, the seq alone): matches says what decode and == say.
TEST(Snapshot, MatchesAgreesWithDecodeOnEveryPair) {
  const std::vector<Event> events = {
      registered("web", "src", "web"),
      registered("db"),
      added("web", "a"),
      added("db", "b"),
      added("web", "c"),
      correction(EventType::fork_lost, "web", "a", Reason::instance_missing),
      removed("db", "b"),
      added("db", "a"),
      removed("web", "ghost"),
      retired("web"),
      added("web", "late")};
  std::vector<Projection> states;
  for (std::size_t n = 0; n <= events.size(); ++n) {
    for (const std::uint64_t gap : {1, 2}) {  // the same events at other seqs
      Projection p;
      for (std::size_t i = 0; i < n; ++i) p.apply(gap * (i + 1), view(events[i]));
      states.push_back(p);
    }
  }
  // Pairs equal in every template field and count, apart in one thing:
  // which template a fork or a lost fork is under, a lost fork's seq, a
  // fork's id, an anomaly.
  const auto lost = [](const std::string& tpl, const std::string& fork) {
    return correction(EventType::fork_lost, tpl, fork, Reason::instance_missing);
  };
  for (const std::vector<Event>& list : std::vector<std::vector<Event>>{
           {registered("web"), registered("db"), added("web", "x"), added("db", "y")},
           {registered("web"), registered("db"), added("web", "y"), added("db", "x")},
           {registered("web"), registered("db"), added("web", "x"), added("db", "y"),
            lost("web", "x"), lost("db", "y")},
           {registered("web"), registered("db"), added("web", "y"), added("db", "x"),
            lost("web", "y"), lost("db", "x")},
           {registered("web"), added("web", "x"), added("web", "y"), lost("web", "x"),
            lost("web", "y")},
           {registered("web"), added("web", "x"), added("web", "y"), lost("web", "y"),
            lost("web", "x")},
           {registered("web"), added("web", "z")},
           {registered("web"), removed("web", "ghost1")},
           {registered("web"), removed("web", "ghost2")}}) {
    Projection p;
    for (const Event& e : list) p.apply(p.seq() + 1, view(e));
    states.push_back(p);
  }
  for (const Projection& snapshot : states) {
    const std::string blob = SnapshotCodec::encode(snapshot, 9);
    for (const Projection& state : states) expect_decode_verdict(blob, state);
  }
}

TEST(Snapshot, MatchesRefusesWhatDecodeRefuses) {
  const Projection p = sample();
  const std::string blob = SnapshotCodec::encode(p, 1);
  for (std::size_t n = 0; n < blob.size(); ++n) expect_decode_verdict(blob.substr(0, n), p);
  for (std::size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    expect_decode_verdict(bad, p);
  }
}

// A blob with a valid checksum, laid out as SnapshotCodec::encode lays one
// out, listing the templates, live and lost forks named here. Each
// template's fields, each lost fork's seq (if p lost it) and the anomalies
// are p's, so that the blob differs from encode(p) only where a case says.
struct Listing {
  std::vector<std::string> templates;
  std::vector<std::pair<std::string, std::uint32_t>> live;  // fork, index into `templates`
  std::vector<std::pair<std::string, std::uint32_t>> lost;
  std::string trailing;  // bytes after the anomalies
};

std::string forged(const Projection& p, const Listing& l) {
  std::string out;
  put_le<std::uint8_t>(out, kSnapshotVersion);
  put_le<std::uint8_t>(out, kFormatVersion);
  put_le<std::uint16_t>(out, 0);
  put_le<std::uint64_t>(out, p.seq());
  put_le<std::uint32_t>(out, 0);
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(l.templates.size()));
  for (const std::string& id : l.templates) {
    const Template* t = p.find(id);
    put_str8(out, id);
    put_str8(out, t != nullptr ? t->source.view() : "src");
    put_str8(out, t != nullptr ? t->name : "");
    put_le<std::uint8_t>(out, t != nullptr ? static_cast<std::uint8_t>(t->state) : 1);
    put_le<std::uint64_t>(out, t != nullptr ? t->registered_seq : 1);
    put_le<std::uint64_t>(out, t != nullptr ? t->last_seq : 1);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(l.live.size()));
  for (const auto& [fork, index] : l.live) {
    put_str8(out, fork);
    put_le<std::uint32_t>(out, index);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(l.lost.size()));
  for (const auto& [fork, index] : l.lost) {
    put_str8(out, fork);
    put_le<std::uint32_t>(out, index);
    const auto was = p.lost(fork);
    put_le<std::uint64_t>(out, was ? was->second : 1);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(p.anomalies().size()));
  for (const Anomaly& a : p.anomalies()) {
    put_le<std::uint64_t>(out, a.seq);
    put_le<std::uint8_t>(out, static_cast<std::uint8_t>(a.kind));
    put_str8(out, a.template_id);
    put_str8(out, a.fork);
  }
  out += l.trailing;
  put_le<std::uint32_t>(out, crc32c(out.data(), out.size()));
  return out;
}

// Cases that only the one-match-per-entry rule or the layout's own checks
// tell from p: every count equals p's, and every entry alone looks up well.
TEST(Snapshot, MatchesFindsWhatEqualCountsWouldHide) {
  Projection p;
  for (const Event& e :
       {registered("t1", "src", ""), registered("t2", "src", ""), added("t1", "a"),
        added("t1", "b"), added("t2", "c"), added("t2", "d"),
        correction(EventType::fork_lost, "t2", "d", Reason::instance_missing), added("t1", "e"),
        correction(EventType::fork_lost, "t1", "e", Reason::instance_missing),
        removed("t1", "ghost")}) {
    p.apply(p.seq() + 1, view(e));
  }
  const Listing sound{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 1}, {"e", 0}}, ""};
  // In another order, the indexes with it: the same projection.
  const Listing reordered{{"t2", "t1"}, {{"c", 0}, {"a", 1}, {"b", 1}}, {{"e", 1}, {"d", 0}}, ""};
  for (const Listing& same : {sound, reordered}) {
    const std::string blob = forged(p, same);
    const auto matched = SnapshotCodec::matches(blob, p);
    ASSERT_TRUE(matched) << matched.error().message;
    EXPECT_TRUE(*matched);
    expect_decode_verdict(blob, p);
  }
  struct Case {
    Listing listing;
    std::string decode_error;  // empty: decode takes it (and it differs from p)
  };
  const std::vector<Case> cases = {
      {{{"t1", "t2"}, {{"a", 0}, {"a", 0}, {"c", 1}}, {{"d", 1}, {"e", 0}}, ""},
       "snapshot: duplicate fork"},
      {{{"t1", "t1"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 1}, {"e", 0}}, ""},
       "snapshot: duplicate template"},
      {{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"d", 1}}, {{"d", 1}, {"e", 0}}, ""},
       "snapshot: a fork both live and lost"},
      {{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 7}}, {{"d", 1}, {"e", 0}}, ""},
       "snapshot: fork of an unknown template"},
      {{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 1}, {"e", 0}}, "x"},
       "snapshot: malformed body"},
      // decode keeps a lost fork listed twice once, and then lacks "e".
      {{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 1}, {"d", 1}}, ""}, ""},
      // "d" lost under t1 instead of t2, at the same seq.
      {{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 0}, {"e", 0}}, ""}, ""},
  };
  // Without forks only the templates can tell a duplicate.
  Projection bare;
  bare.apply(1, view(registered("t1", "src", "")));
  bare.apply(2, view(registered("t2", "src", "")));
  const std::string twice = forged(bare, {{"t1", "t1"}, {}, {}, ""});
  expect_decode_verdict(twice, bare);
  EXPECT_FALSE(SnapshotCodec::matches(twice, bare));
  for (const auto& [listing, decode_error] : cases) {
    const std::string blob = forged(p, listing);
    expect_decode_verdict(blob, p);
    const auto matched = SnapshotCodec::matches(blob, p);
    if (decode_error.empty()) {
      ASSERT_TRUE(matched) << matched.error().message;
      EXPECT_FALSE(*matched);
    } else {
      ASSERT_FALSE(matched);
      EXPECT_EQ(matched.error().message, decode_error);
    }
  }
}

}  // namespace
}  // namespace fj
