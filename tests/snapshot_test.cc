#include "projector/internal/snapshot.h"

#include "support/event_samples.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fj
