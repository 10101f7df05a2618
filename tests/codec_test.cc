#include "journal/codec.h"

#include "journal/internal/crc32c.h"
#include "journal/internal/format.h"
#include "support/event_samples.h"

#include <gtest/gtest.h>

namespace fj {
namespace {

using testing::added;
using testing::one_of_each_type;
using testing::registered;

// Recomputes the trailer so that a deliberately edited record passes the
// checksum and reaches the check under test.
std::string reseal(std::string record) {
  const std::size_t body = record.size() - kRecordTrailerSize;
  const std::uint32_t crc = crc32c(record.data(), body);
  for (int i = 0; i < 4; ++i) record[body + i] = static_cast<char>(crc >> (8 * i));
  return record;
}

TEST(Codec, EveryEventTypeRoundTrips) {
  const auto events = one_of_each_type();
  ASSERT_EQ(events.size(), kMaxEventType);
  std::uint64_t seq = 1;
  for (const Event& e : events) {
    ASSERT_TRUE(validate(view(e))) << type_name(e.type);
    const std::string record = encode(view(e));
    auto decoded = decode(seq, record);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(to_event(*decoded), e) << type_name(e.type);
    ++seq;
  }
}

TEST(Codec, ForkAddedIsHeaderTwoLengthPrefixedIdsAndChecksum) {
  const std::string tpl(24, 't'), fork(24, 'f');
  const std::string record = encode(view(added(tpl, fork)));
  EXPECT_EQ(record.size(), kRecordHeaderSize + (1 + 24) * 2 + kRecordTrailerSize);
  EXPECT_EQ(record.size(), 66u);
}

TEST(Codec, ShortRecordIsCorruptionNamingSeq) {
  auto r = decode(7, std::string(kMinRecordSize - 1, '\0'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt_record);
  EXPECT_EQ(r.error().seq, 7u);
  EXPECT_NE(r.error().message.find("seq 7"), std::string::npos);
}

TEST(Codec, OversizedRecordIsCorruption) {
  auto r = decode(3, std::string(kMaxRecordSize + 1, 'x'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt_record);
  EXPECT_EQ(r.error().seq, 3u);
}

TEST(Codec, EveryFlippedBitIsAChecksumMismatch) {
  const std::string record = encode(view(added("tpl", "frk")));
  for (std::size_t i = 0; i < record.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = record;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      auto r = decode(9, damaged);
      ASSERT_FALSE(r) << "byte " << i << " bit " << bit;
      EXPECT_EQ(r.error().code, Errc::checksum_mismatch);
      EXPECT_EQ(r.error().seq, 9u);
    }
  }
}

TEST(Codec, UnknownVersionIsRefused) {
  std::string record = encode(view(added("tpl", "frk")));
  record[0] = static_cast<char>(kFormatVersion + 1);
  auto r = decode(2, reseal(record));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unknown_version);
  EXPECT_EQ(r.error().seq, 2u);
}

TEST(Codec, UnknownTypeIsRefusedNotSkipped) {
  for (int type : {0, kMaxEventType + 1, 255}) {
    std::string record = encode(view(added("tpl", "frk")));
    record[1] = static_cast<char>(type);
    auto r = decode(5, reseal(record));
    ASSERT_FALSE(r) << type;
    EXPECT_EQ(r.error().code, Errc::unknown_type);
  }
}

TEST(Codec, TrailingPayloadBytesAreCorruption) {
  std::string record = encode(view(added("tpl", "frk")));
  record.insert(record.size() - kRecordTrailerSize, "x");
  auto r = decode(4, reseal(record));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt_record);
}

TEST(Codec, LengthPastTheEndIsCorruption) {
  std::string record = encode(view(added("tpl", "frk")));
  record[kRecordHeaderSize] = 60;  // template length now runs past the payload
  auto r = decode(4, reseal(record));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt_record);
}

// Names with a C1 control or bidirectional formatting are refused in new
// events but still decode: a journal written before they were refused must
// stay readable.
TEST(Codec, ARecordedNameWithAC1ControlStillDecodesButANewOneIsRefused) {
  Event e = registered("tpl", "src");
  e.name =
      "a\xc2\x85"
      "b\xe2\x80\xae"
      "c";
  EXPECT_FALSE(validate(view(e)));
  const std::string record = encode(view(e));  // as a build before the refusal wrote it
  auto decoded = decode(4, record);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(to_event(*decoded).name, e.name);
}

TEST(Codec, EmptyIdIsCorruption) {
  std::string record = encode(view(added("t", "frk")));
  // Make the template id zero bytes long and shift: "\x00" then a 4-byte fork.
  record.erase(kRecordHeaderSize + 1, 1);
  record[kRecordHeaderSize] = 0;
  auto r = decode(4, reseal(record));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt_record);
}

TEST(Codec, ReasonThatDoesNotFitTheTypeIsCorruption) {
  Event e = testing::retired("tpl");
  std::string record = encode(view(e));
  record[record.size() - kRecordTrailerSize - 1] = static_cast<char>(Reason::untracked_fork);
  auto r = decode(4, reseal(record));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::corrupt_record);
}

TEST(Codec, InvalidOriginOrFlagsAreCorruption) {
  for (int at : {2, 3}) {
    std::string record = encode(view(added("tpl", "frk")));
    record[at] = static_cast<char>(at == 2 ? 0 : 1);
    auto r = decode(4, reseal(record));
    ASSERT_FALSE(r) << at;
    EXPECT_EQ(r.error().code, Errc::corrupt_record);
  }
}

TEST(Codec, ValidateRefusesBadFields) {
  EXPECT_FALSE(validate(view(added("../x", "frk"))));
  EXPECT_FALSE(validate(view(added("tpl", ""))));
  EXPECT_FALSE(validate(view(registered("tpl", "src", std::string(256, 'n')))));
  Event wrong_reason = testing::retired("tpl", Reason::untracked_fork);
  EXPECT_FALSE(validate(view(wrong_reason)));
  Event no_origin = added("tpl", "frk");
  no_origin.origin = static_cast<Origin>(0);
  EXPECT_FALSE(validate(view(no_origin)));
  Event long_evidence =
      testing::correction(EventType::fork_lost, "t", "f", Reason::instance_missing);
  long_evidence.evidence.assign(kMaxEvidenceSize + 1, 'e');
  EXPECT_FALSE(validate(view(long_evidence)));
}

TEST(Codec, LongestRecordsStayWithinTheMaximum) {
  Event e = testing::correction(EventType::fork_lost, std::string(64, 't'), std::string(64, 'f'),
                                Reason::metadata_disagrees);
  e.evidence.assign(kMaxEvidenceSize, 'e');
  const std::string record = encode(view(e));
  EXPECT_EQ(record.size(), kMaxRecordSize);
  EXPECT_TRUE(decode(1, record));
}

}  // namespace
}  // namespace fj
