#include "projector/internal/snapshot.h"

#include "journal/internal/crc32c.h"
#include "journal/internal/endian.h"
#include "journal/internal/format.h"

namespace fj {
namespace {

// Layout (all integers little-endian):
//   u8 snapshot version, u8 journal format version, u16 zero,
//   u64 seq, u32 record crc,
//   u32 n, n x template: id8 id, id8 source, str8 name, u8 state, u64 registered_seq, u64 last_seq
//   u32 n, n x live fork: id8 fork, u32 template index
//   u32 n, n x lost fork: id8 fork, u32 template index, u64 seq
//   u32 n, n x anomaly: u64 seq, u8 kind, str8 template, str8 fork
//   u32 crc32c of every preceding byte

// An id: 1 to kMaxIdSize bytes.
std::string_view read_id(LeReader& r) {
  const std::string_view s = r.str8(kMaxIdSize);
  if (s.empty()) r.fail();
  return s;
}

// A count of items of at least `min_item` bytes each, bounded by what is left.
std::uint32_t read_count(LeReader& r, std::size_t min_item) {
  const auto n = r.le<std::uint32_t>();
  if (static_cast<std::uint64_t>(n) * min_item > r.remaining()) r.fail();
  return r.ok() ? n : 0;
}

Error bad(const std::string& what) {
  return make_error(Errc::corrupt_record, "snapshot: " + what);
}

}  // namespace

std::string SnapshotCodec::encode(const Projection& p, std::uint32_t record_crc) {
  std::string out;
  put_le<std::uint8_t>(out, kSnapshotVersion);
  put_le<std::uint8_t>(out, kFormatVersion);
  put_le<std::uint16_t>(out, 0);
  put_le<std::uint64_t>(out, p.seq_);
  put_le<std::uint32_t>(out, record_crc);
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(p.templates_.size()));
  for (const Template& t : p.templates_) {
    put_str8(out, t.id.view());
    put_str8(out, t.source.view());
    put_str8(out, t.name);
    put_le<std::uint8_t>(out, static_cast<std::uint8_t>(t.state));
    put_le<std::uint64_t>(out, t.registered_seq);
    put_le<std::uint64_t>(out, t.last_seq);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(p.forks_.size()));
  for (const auto& [fork, index] : p.forks_) {
    put_str8(out, fork.view());
    put_le<std::uint32_t>(out, index);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(p.lost_.size()));
  for (const auto& [fork, lost] : p.lost_) {
    put_str8(out, fork.view());
    put_le<std::uint32_t>(out, lost.template_index);
    put_le<std::uint64_t>(out, lost.seq);
  }
  put_le<std::uint32_t>(out, static_cast<std::uint32_t>(p.anomalies_.size()));
  for (const Anomaly& a : p.anomalies_) {
    put_le<std::uint64_t>(out, a.seq);
    put_le<std::uint8_t>(out, static_cast<std::uint8_t>(a.kind));
    put_str8(out, a.template_id);
    put_str8(out, a.fork);
  }
  put_le<std::uint32_t>(out, crc32c(out.data(), out.size()));
  return out;
}

namespace {

// The body of a blob whose checksum and versions are right, read past the
// version bytes.
Result<LeReader> checked_body(std::string_view blob) {
  if (blob.size() < 4 + 12 + 16 + 4) return bad("too short");
  const auto body = blob.substr(0, blob.size() - 4);
  LeReader crc_reader(blob.substr(body.size()));
  if (crc32c(body.data(), body.size()) != crc_reader.le<std::uint32_t>()) {
    return bad("checksum mismatch");
  }
  LeReader r(body);
  const auto version = r.le<std::uint8_t>();
  const auto format = r.le<std::uint8_t>();
  if (version != kSnapshotVersion || format != kFormatVersion) {
    return make_error(Errc::unknown_version, "snapshot: version " + std::to_string(version) + "/" +
                                                 std::to_string(format) + ", this build reads " +
                                                 std::to_string(kSnapshotVersion) + "/" +
                                                 std::to_string(kFormatVersion));
  }
  r.le<std::uint16_t>();
  return r;
}

}  // namespace

Result<DecodedSnapshot> SnapshotCodec::decode(std::string_view blob) {
  auto checked = checked_body(blob);
  if (!checked) return checked.error();
  LeReader& r = *checked;
  DecodedSnapshot out;
  Projection& p = out.projection;
  p.seq_ = r.le<std::uint64_t>();
  out.record_crc = r.le<std::uint32_t>();

  const std::uint32_t templates = read_count(r, 2 + 2 + 1 + 1 + 16);
  p.templates_.reserve(templates);
  p.template_index_.reserve(templates);
  for (std::uint32_t i = 0; i < templates && r.ok(); ++i) {
    Template t;
    t.id = Id(read_id(r));
    t.source = Id(read_id(r));
    t.name = std::string(r.str8());
    const auto state = r.le<std::uint8_t>();
    if (state != 1 && state != 2) return bad("bad template state");
    t.state = static_cast<TemplateState>(state);
    t.registered_seq = r.le<std::uint64_t>();
    t.last_seq = r.le<std::uint64_t>();
    if (!p.template_index_.try_emplace(t.id, i).second) return bad("duplicate template");
    p.templates_.push_back(std::move(t));
  }
  const std::uint32_t forks = read_count(r, 2 + 4);
  p.forks_.reserve(forks);
  for (std::uint32_t i = 0; i < forks && r.ok(); ++i) {
    const std::string_view fork = read_id(r);
    const auto index = r.le<std::uint32_t>();
    if (!r.ok()) break;  // reported below; an empty id must not reach the table
    if (index >= p.templates_.size()) return bad("fork of an unknown template");
    if (!p.forks_.insert(fork, index)) return bad("duplicate fork");
    ++p.templates_[index].forks;
  }
  const std::uint32_t lost = read_count(r, 2 + 4 + 8);
  p.lost_.reserve(lost);
  for (std::uint32_t i = 0; i < lost && r.ok(); ++i) {
    const Id fork(read_id(r));
    const auto index = r.le<std::uint32_t>();
    const auto seq = r.le<std::uint64_t>();
    if (index >= p.templates_.size()) return bad("lost fork of an unknown template");
    if (p.forks_.contains(fork.view())) return bad("a fork both live and lost");
    p.lost_.insert_or_assign(fork, LostFork{index, seq});
  }
  const std::uint32_t anomalies = read_count(r, 8 + 1 + 1 + 1);
  for (std::uint32_t i = 0; i < anomalies && r.ok(); ++i) {
    Anomaly a;
    a.seq = r.le<std::uint64_t>();
    const auto kind = r.le<std::uint8_t>();
    if (kind == 0 || kind > kMaxAnomalyKind) return bad("unknown anomaly kind");
    a.kind = static_cast<AnomalyKind>(kind);
    a.template_id = std::string(r.str8());
    a.fork = std::string(r.str8());
    p.anomalies_.push_back(std::move(a));
  }
  if (!r.done()) return bad("malformed body");
  return out;
}

Result<SnapshotSizes> SnapshotCodec::sizes(std::string_view blob) {
  auto checked = checked_body(blob);
  if (!checked) return checked.error();
  LeReader& r = *checked;
  SnapshotSizes out;
  out.seq = r.le<std::uint64_t>();
  r.le<std::uint32_t>();
  out.templates = read_count(r, 2 + 2 + 1 + 1 + 16);
  for (std::uint32_t i = 0; i < out.templates && r.ok(); ++i) {
    r.str8();
    r.str8();
    r.str8();
    r.le<std::uint8_t>();
    r.le<std::uint64_t>();
    r.le<std::uint64_t>();
  }
  out.live_forks = read_count(r, 2 + 4);
  for (std::uint32_t i = 0; i < out.live_forks && r.ok(); ++i) {
    r.str8();
    r.le<std::uint32_t>();
  }
  out.lost_forks = read_count(r, 2 + 4 + 8);
  if (!r.ok()) return bad("malformed body");
  return out;
}

}  // namespace fj
