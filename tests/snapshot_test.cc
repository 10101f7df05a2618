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
  Projection moved;  // "c" under db instead of web: the same counts of everything
  for (const Event& e : {registered("web", "src", "web"), registered("db"), added("web", "a"),
                         added("db", "b"), added("db", "c")}) {
    moved.apply(moved.seq() + 1, view(e));
  }
  states.push_back(moved);
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

// A blob with a valid checksum whose entries decode refuses: what a bug or a
// forged checksum could store. Laid out as SnapshotCodec::encode lays one out.
struct Entries {
  struct Fork {
    std::string id;
    std::uint32_t index = 0;
  };
  std::vector<std::string> templates;  // active, registered at seq 1, last touched at seq 1
  std::vector<Fork> live;
  std::vector<Fork> lost;  // lost at seq 1
};

std::string forged(std::uint64_t seq, const Entries& e) {
  std::string out;
  put_le<std::uint8_t>(out, kSnapshotVersion);
  put_le<std::uint8_t>(out, kFormatVersion);
  put_le<std::uint16_t>(out, 0);
  put_le<std::uint64_t>(out, seq);
  put_le<std::uint32_t>(out, 0);
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(e.templates.size()));
  for (const std::string& id : e.templates) {
    put_str8(out, id);
    put_str8(out, "src");
    put_str8(out, "");
    put_le<std::uint8_t>(out, 1);
    put_le<std::uint64_t>(out, 1);
    put_le<std::uint64_t>(out, 1);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(e.live.size()));
  for (const auto& f : e.live) {
    put_str8(out, f.id);
    put_le<std::uint32_t>(out, f.index);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(e.lost.size()));
  for (const auto& f : e.lost) {
    put_str8(out, f.id);
    put_le<std::uint32_t>(out, f.index);
    put_le<std::uint64_t>(out, 1);
  }
  put_le<std::uint32_t>(out, 0);
  put_le<std::uint32_t>(out, crc32c(out.data(), out.size()));
  return out;
}

// A state whose counts equal each forged blob's: only the duplicates differ.
TEST(Snapshot, MatchesFindsDuplicatesThatEqualCountsWouldHide) {
  Projection p;
  std::uint64_t seq = 0;
  for (const Event& e :
       {registered("t1", "src", ""), registered("t2", "src", ""), added("t1", "a"),
        added("t1", "b"), added("t2", "c"), added("t2", "d"),
        correction(EventType::fork_lost, "t2", "d", Reason::instance_missing), added("t1", "e"),
        correction(EventType::fork_lost, "t1", "e", Reason::instance_missing)}) {
    p.apply(++seq, view(e));
  }
  const std::uint64_t at = p.seq();
  Entries twice_a{{"t1", "t2"}, {{"a", 0}, {"a", 0}, {"c", 1}}, {{"d", 1}, {"e", 0}}};
  Entries twice_t1{{"t1", "t1"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 1}, {"e", 0}}};
  Entries twice_d{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 1}, {"d", 1}}};
  Entries live_and_lost{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"d", 1}}, {{"d", 1}, {"e", 0}}};
  Entries no_template{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 7}}, {{"d", 1}, {"e", 0}}};
  // decode refuses all but the lost fork listed twice, which it keeps once
  // (and which then differs from p's two lost forks).
  const std::vector<std::pair<Entries, bool>> cases = {{twice_a, false},
                                                       {twice_t1, false},
                                                       {twice_d, true},
                                                       {live_and_lost, false},
                                                       {no_template, false}};
  for (const auto& [entries, decodes] : cases) {
    const std::string blob = forged(at, entries);
    expect_decode_verdict(blob, p);
    const auto matched = SnapshotCodec::matches(blob, p);
    EXPECT_EQ(static_cast<bool>(matched), decodes);
    EXPECT_FALSE(matched && *matched);
  }
  // The forged layout itself is sound: without a duplicate it matches.
  Entries sound{{"t1", "t2"}, {{"a", 0}, {"b", 0}, {"c", 1}}, {{"d", 1}, {"e", 0}}};
  const std::string blob = forged(at, sound);
  ASSERT_TRUE(SnapshotCodec::decode(blob)) << SnapshotCodec::decode(blob).error().message;
  expect_decode_verdict(blob, p);
}

}  // namespace
}  // namespace fj
