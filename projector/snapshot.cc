#include "projector/snapshot.h"

#include "journal/crc32c.h"
#include "journal/format.h"

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
class Writer {
 public:
  template <class T>
  void le(T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  }
  void str8(std::string_view s) {
    le<std::uint8_t>(static_cast<std::uint8_t>(s.size()));
    out.append(s);
  }
  std::string out;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  T le() {
    if (!need(sizeof(T))) return 0;
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      v |= static_cast<T>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
    }
    pos_ += sizeof(T);
    return v;
  }
  std::string_view str8(std::size_t max = 255) {
    const std::size_t n = le<std::uint8_t>();
    if (n > max || !need(n)) {
      ok_ = false;
      return {};
    }
    const auto s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view id() {
    auto s = str8(kMaxIdSize);
    if (s.empty()) ok_ = false;
    return s;
  }
  // A count of items of at least `min_item` bytes each, bounded by what is left.
  std::uint32_t count(std::size_t min_item) {
    const auto n = le<std::uint32_t>();
    if (static_cast<std::uint64_t>(n) * min_item > in_.size() - pos_) ok_ = false;
    return ok_ ? n : 0;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }

 private:
  bool need(std::size_t n) {
    if (!ok_ || in_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

Error bad(const std::string& what) {
  return make_error(Errc::corrupt_record, "snapshot: " + what);
}

}  // namespace

std::string SnapshotCodec::encode(const Projection& p, std::uint32_t record_crc) {
  Writer w;
  w.le<std::uint8_t>(kSnapshotVersion);
  w.le<std::uint8_t>(kFormatVersion);
  w.le<std::uint16_t>(0);
  w.le<std::uint64_t>(p.seq_);
  w.le<std::uint32_t>(record_crc);
  w.le<std::uint32_t>(static_cast<std::uint32_t>(p.templates_.size()));
  for (const Template& t : p.templates_) {
    w.str8(t.id.view());
    w.str8(t.source.view());
    w.str8(t.name);
    w.le<std::uint8_t>(static_cast<std::uint8_t>(t.state));
    w.le<std::uint64_t>(t.registered_seq);
    w.le<std::uint64_t>(t.last_seq);
  }
  w.le<std::uint32_t>(static_cast<std::uint32_t>(p.forks_.size()));
  for (const auto& [fork, index] : p.forks_) {
    w.str8(fork.view());
    w.le<std::uint32_t>(index);
  }
  w.le<std::uint32_t>(static_cast<std::uint32_t>(p.lost_.size()));
  for (const auto& [fork, lost] : p.lost_) {
    w.str8(fork.view());
    w.le<std::uint32_t>(lost.template_index);
    w.le<std::uint64_t>(lost.seq);
  }
  w.le<std::uint32_t>(static_cast<std::uint32_t>(p.anomalies_.size()));
  for (const Anomaly& a : p.anomalies_) {
    w.le<std::uint64_t>(a.seq);
    w.le<std::uint8_t>(static_cast<std::uint8_t>(a.kind));
    w.str8(a.template_id);
    w.str8(a.fork);
  }
  w.le<std::uint32_t>(crc32c(w.out.data(), w.out.size()));
  return std::move(w.out);
}

Result<DecodedSnapshot> SnapshotCodec::decode(std::string_view blob) {
  if (blob.size() < 4 + 12 + 16 + 4) return bad("too short");
  const auto body = blob.substr(0, blob.size() - 4);
  Reader crc_reader(blob.substr(body.size()));
  if (crc32c(body.data(), body.size()) != crc_reader.le<std::uint32_t>()) {
    return bad("checksum mismatch");
  }
  Reader r(body);
  const auto version = r.le<std::uint8_t>();
  const auto format = r.le<std::uint8_t>();
  if (version != kSnapshotVersion || format != kFormatVersion) {
    return make_error(Errc::unknown_version, "snapshot: version " + std::to_string(version) + "/" +
                                                 std::to_string(format) + ", this build reads " +
                                                 std::to_string(kSnapshotVersion) + "/" +
                                                 std::to_string(kFormatVersion));
  }
  r.le<std::uint16_t>();
  DecodedSnapshot out;
  Projection& p = out.projection;
  p.seq_ = r.le<std::uint64_t>();
  out.record_crc = r.le<std::uint32_t>();

  const std::uint32_t templates = r.count(2 + 2 + 1 + 1 + 16);
  p.templates_.reserve(templates);
  for (std::uint32_t i = 0; i < templates && r.ok(); ++i) {
    Template t;
    t.id = Id(r.id());
    t.source = Id(r.id());
    t.name = std::string(r.str8());
    const auto state = r.le<std::uint8_t>();
    if (state != 1 && state != 2) return bad("bad template state");
    t.state = static_cast<TemplateState>(state);
    t.registered_seq = r.le<std::uint64_t>();
    t.last_seq = r.le<std::uint64_t>();
    if (!p.template_index_.try_emplace(t.id, i).second) return bad("duplicate template");
    p.templates_.push_back(std::move(t));
  }
  const std::uint32_t forks = r.count(2 + 4);
  p.forks_.reserve(forks);
  for (std::uint32_t i = 0; i < forks && r.ok(); ++i) {
    const std::string_view fork = r.id();
    const auto index = r.le<std::uint32_t>();
    if (index >= p.templates_.size()) return bad("fork of an unknown template");
    if (!p.forks_.insert(fork, index)) return bad("duplicate fork");
    ++p.templates_[index].forks;
  }
  const std::uint32_t lost = r.count(2 + 4 + 8);
  for (std::uint32_t i = 0; i < lost && r.ok(); ++i) {
    const Id fork(r.id());
    const auto index = r.le<std::uint32_t>();
    const auto seq = r.le<std::uint64_t>();
    if (index >= p.templates_.size()) return bad("lost fork of an unknown template");
    if (p.forks_.contains(fork.view())) return bad("a fork both live and lost");
    p.lost_.insert_or_assign(fork, LostFork{index, seq});
  }
  const std::uint32_t anomalies = r.count(8 + 1 + 1 + 1);
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

}  // namespace fj
