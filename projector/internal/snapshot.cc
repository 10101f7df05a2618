#include "projector/internal/snapshot.h"

#include "journal/internal/crc32c.h"
#include "journal/internal/endian.h"
#include "journal/internal/format.h"

#include <algorithm>
#include <vector>

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

Result<bool> SnapshotCodec::matches(std::string_view blob, const Projection& p) {
  auto checked = checked_body(blob);
  if (!checked) return checked.error();
  LeReader& r = *checked;
  // Each entry of the blob is looked up in `p` and may match one of its
  // entries once: equal counts then make the two the same sets. Anything
  // else (a difference, or a blob decode might refuse) is settled by decode.
  const auto differs = [&]() -> Result<bool> {
    auto decoded = decode(blob);
    if (!decoded) return decoded.error();
    return decoded->projection == p;
  };
  const auto seq = r.le<std::uint64_t>();
  r.le<std::uint32_t>();
  const std::uint32_t templates = read_count(r, 2 + 2 + 1 + 1 + 16);
  if (!r.ok() || seq != p.seq_ || templates != p.templates_.size()) return differs();
  // The blob's templates as `p`'s indexes. The live forks then match one to
  // one with the right templates, so each template's count is p's too
  // (a projection's counts are its live forks').
  std::vector<std::uint32_t> index_of(templates);
  std::vector<bool> template_matched(templates, false);
  for (std::uint32_t i = 0; i < templates; ++i) {
    const std::string_view id = read_id(r);
    const std::string_view source = read_id(r);
    const std::string_view name = r.str8();
    const auto state = r.le<std::uint8_t>();
    const auto registered_seq = r.le<std::uint64_t>();
    const auto last_seq = r.le<std::uint64_t>();
    const Template* t = r.ok() ? p.find(id) : nullptr;
    if (t == nullptr) return differs();
    const auto index = static_cast<std::uint32_t>(t - p.templates_.data());
    if (template_matched[index] || t->source.view() != source || t->name != name ||
        static_cast<std::uint8_t>(t->state) != state || t->registered_seq != registered_seq ||
        t->last_seq != last_seq) {
      return differs();
    }
    template_matched[index] = true;
    index_of[i] = index;
  }
  const std::uint32_t forks = read_count(r, 2 + 4);
  if (!r.ok() || forks != p.forks_.size()) return differs();
  std::vector<bool> fork_matched(p.forks_.bucket_count(), false);
  for (std::uint32_t i = 0; i < forks; ++i) {
    const std::string_view fork = read_id(r);
    const auto index = r.le<std::uint32_t>();
    if (!r.ok() || index >= templates) return differs();
    const auto it = p.forks_.find(fork);
    if (it == p.forks_.end() || it->second != index_of[index]) return differs();
    const std::size_t slot = p.forks_.slot_of(it);
    if (fork_matched[slot]) return differs();
    fork_matched[slot] = true;
  }
  const std::uint32_t lost = read_count(r, 2 + 4 + 8);
  if (!r.ok() || lost != p.lost_.size()) return differs();
  std::vector<const void*> lost_matched;  // entries of p.lost_, which do not move
  lost_matched.reserve(lost);
  for (std::uint32_t i = 0; i < lost; ++i) {
    const std::string_view fork = read_id(r);
    const auto index = r.le<std::uint32_t>();
    const auto at = r.le<std::uint64_t>();
    if (!r.ok() || index >= templates) return differs();
    const auto it = p.lost_.find(fork);
    if (it == p.lost_.end() || it->second.template_index != index_of[index] ||
        it->second.seq != at) {
      return differs();
    }
    lost_matched.push_back(&*it);
  }
  std::sort(lost_matched.begin(), lost_matched.end());
  if (std::adjacent_find(lost_matched.begin(), lost_matched.end()) != lost_matched.end()) {
    return differs();
  }
  const std::uint32_t anomalies = read_count(r, 8 + 1 + 1 + 1);
  if (!r.ok() || anomalies != p.anomalies_.size()) return differs();
  for (const Anomaly& a : p.anomalies_) {
    const auto at = r.le<std::uint64_t>();
    const auto kind = r.le<std::uint8_t>();
    const std::string_view template_id = r.str8();
    const std::string_view fork = r.str8();
    if (!r.ok() || at != a.seq || kind != static_cast<std::uint8_t>(a.kind) ||
        template_id != a.template_id || fork != a.fork) {
      return differs();
    }
  }
  if (!r.done()) return differs();
  return true;
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
