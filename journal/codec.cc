#include "journal/codec.h"

#include "journal/ids.h"
#include "journal/internal/crc32c.h"
#include "journal/internal/endian.h"
#include "journal/internal/format.h"

#include <cstring>

namespace fj {
namespace {

void put_u8(std::string& out, std::uint8_t v) {
  out.push_back(static_cast<char>(v));
}

// The payload's ids and names are checked like input: a CRC is no signature.
std::string_view read_id(LeReader& in) {
  const std::string_view s = in.str8();
  if (!is_valid_id(s)) in.fail();
  return s;
}

std::string_view read_name(LeReader& in) {
  const std::string_view s = in.str8();
  if (!is_recorded_name(s)) in.fail();
  return s;
}

bool reason_fits(EventType t, Reason r) {
  switch (t) {
    case EventType::template_retired:
      return r == Reason::deleted || r == Reason::orphaned;
    case EventType::fork_lost:
      return r == Reason::instance_missing || r == Reason::metadata_disagrees;
    case EventType::fork_recovered:
      return r == Reason::untracked_fork || r == Reason::metadata_disagrees ||
             r == Reason::memory_link;
    default:
      return r == Reason::none;
  }
}

Error corrupt(std::uint64_t seq, Errc code, const std::string& what) {
  return make_error(code, "record at seq " + std::to_string(seq) + ": " + what, seq);
}

}  // namespace

Result<void> validate(const EventView& e) {
  const auto type = static_cast<std::uint8_t>(e.type);
  if (type == 0 || type > kMaxEventType) {
    return make_error(Errc::invalid_argument, "unknown event type " + std::to_string(type));
  }
  const auto origin = static_cast<std::uint8_t>(e.origin);
  if (origin == 0 || origin > kMaxOrigin) {
    return make_error(Errc::invalid_argument, "unknown origin " + std::to_string(origin));
  }
  if (!reason_fits(e.type, e.reason)) {
    return make_error(Errc::invalid_argument, "reason '" + std::string(reason_name(e.reason)) +
                                                  "' does not fit " +
                                                  std::string(type_name(e.type)));
  }
  if (e.type == EventType::reconcile_run) return {};
  if (auto r = check_id("template id", e.template_id); !r) return r;
  if (has_fork(e.type)) {
    if (auto r = check_id("fork id", e.fork); !r) return r;
  }
  if (e.type == EventType::template_registered) {
    if (auto r = check_id("source id", e.source); !r) return r;
    if (auto r = check_name(e.name); !r) return r;
  }
  if (e.evidence.size() > kMaxEvidenceSize) {
    return make_error(Errc::invalid_argument,
                      "evidence longer than " + std::to_string(kMaxEvidenceSize) + " bytes");
  }
  return {};
}

void encode(const EventView& e, std::string& out) {
  const std::size_t start = out.size();
  put_u8(out, kFormatVersion);
  put_u8(out, static_cast<std::uint8_t>(e.type));
  put_u8(out, static_cast<std::uint8_t>(e.origin));
  put_u8(out, 0);  // flags, reserved
  put_le<std::uint64_t>(out, e.time_ns);
  switch (e.type) {
    case EventType::template_registered:
      put_str8(out, e.template_id);
      put_str8(out, e.source);
      put_str8(out, e.name);
      break;
    case EventType::fork_added:
    case EventType::fork_removed:
      put_str8(out, e.template_id);
      put_str8(out, e.fork);
      break;
    case EventType::template_retired:
      put_str8(out, e.template_id);
      put_u8(out, static_cast<std::uint8_t>(e.reason));
      break;
    case EventType::fork_recovered:
    case EventType::fork_lost:
      put_str8(out, e.template_id);
      put_str8(out, e.fork);
      put_u8(out, static_cast<std::uint8_t>(e.reason));
      put_str16(out, e.evidence);
      break;
    case EventType::reconcile_run:
      put_le<std::uint64_t>(out, e.run.based_on_seq);
      put_le<std::uint32_t>(out, e.run.scanned);
      put_le<std::uint32_t>(out, e.run.unreadable);
      put_le<std::uint32_t>(out, e.run.corrections);
      put_le<std::uint32_t>(out, e.run.swept);
      break;
  }
  put_le<std::uint32_t>(out, crc32c(out.data() + start, out.size() - start));
}

std::string encode(const EventView& e) {
  std::string out;
  out.reserve(64);
  encode(e, out);
  return out;
}

std::uint32_t stored_checksum(std::string_view record) noexcept {
  if (record.size() < kRecordTrailerSize) return 0;
  return load_le<std::uint32_t>(record.data() + record.size() - kRecordTrailerSize);
}

Result<EventView> decode(std::uint64_t seq, std::string_view record) {
  EventView e;
  if (auto ok = decode_into(seq, record, e); !ok) return ok.error();
  return e;
}

namespace {

// Why a record is refused. The checks run without building a message, so
// the hot path of a replay stays small; the message is built in
// refusal() below, off that path.
enum class Fault : std::uint8_t {
  none,
  short_record,
  oversized_record,
  checksum_mismatch,
  unknown_version,
  unknown_type,
  bad_origin_or_flags,
  malformed_payload,
  reason_misfit,
};

// Checks `record` and decodes it into `e`, every field of which it writes.
Fault parse(std::string_view record, EventView& e) noexcept {
  if (record.size() < kMinRecordSize) return Fault::short_record;
  if (record.size() > kMaxRecordSize) return Fault::oversized_record;
  const std::size_t body = record.size() - kRecordTrailerSize;
  if (crc32c(record.data(), body) != stored_checksum(record)) return Fault::checksum_mismatch;
  if (static_cast<std::uint8_t>(record[0]) != kFormatVersion) return Fault::unknown_version;
  const auto type = static_cast<std::uint8_t>(record[1]);
  if (type == 0 || type > kMaxEventType) return Fault::unknown_type;
  const auto origin = static_cast<std::uint8_t>(record[2]);
  if (origin == 0 || origin > kMaxOrigin || record[3] != 0) return Fault::bad_origin_or_flags;

  e.type = static_cast<EventType>(type);
  e.origin = static_cast<Origin>(origin);
  e.time_ns = load_le<std::uint64_t>(record.data() + 4);
  // One by one: a chained assignment reloads each view from the last store
  // (a 16-byte load of two 8-byte stores, which stalls store forwarding).
  e.template_id = {};
  e.fork = {};
  e.source = {};
  e.name = {};
  e.evidence = {};
  e.reason = Reason::none;
  e.run = {};
  LeReader in(record.substr(kRecordHeaderSize, body - kRecordHeaderSize));
  switch (e.type) {
    case EventType::template_registered:
      e.template_id = read_id(in);
      e.source = read_id(in);
      e.name = read_name(in);
      break;
    case EventType::fork_added:
    case EventType::fork_removed:
      e.template_id = read_id(in);
      e.fork = read_id(in);
      break;
    case EventType::template_retired:
      e.template_id = read_id(in);
      e.reason = static_cast<Reason>(in.u8());
      break;
    case EventType::fork_recovered:
    case EventType::fork_lost:
      e.template_id = read_id(in);
      e.fork = read_id(in);
      e.reason = static_cast<Reason>(in.u8());
      e.evidence = in.str16(kMaxEvidenceSize);
      break;
    case EventType::reconcile_run:
      e.run.based_on_seq = in.le<std::uint64_t>();
      e.run.scanned = in.le<std::uint32_t>();
      e.run.unreadable = in.le<std::uint32_t>();
      e.run.corrections = in.le<std::uint32_t>();
      e.run.swept = in.le<std::uint32_t>();
      break;
  }
  if (!in.done()) return Fault::malformed_payload;
  if (!reason_fits(e.type, e.reason)) return Fault::reason_misfit;
  return Fault::none;
}

[[gnu::cold, gnu::noinline]] Error refusal(std::uint64_t seq, Fault fault, std::string_view record,
                                           const EventView& e) {
  const auto byte = [&](std::size_t i) {
    return std::to_string(static_cast<std::uint8_t>(record[i]));
  };
  switch (fault) {
    case Fault::short_record:
      return corrupt(seq, Errc::corrupt_record,
                     "short record (" + std::to_string(record.size()) + " bytes)");
    case Fault::oversized_record:
      return corrupt(seq, Errc::corrupt_record,
                     "oversized record (" + std::to_string(record.size()) + " bytes)");
    case Fault::checksum_mismatch:
      return corrupt(seq, Errc::checksum_mismatch, "checksum mismatch");
    case Fault::unknown_version:
      return corrupt(seq, Errc::unknown_version,
                     "record format version " + byte(0) + ", this build reads " +
                         std::to_string(kFormatVersion));
    case Fault::unknown_type:
      return corrupt(seq, Errc::unknown_type, "unknown event type " + byte(1));
    case Fault::bad_origin_or_flags:
      return corrupt(seq, Errc::corrupt_record, "invalid origin or flags");
    case Fault::malformed_payload:
      return corrupt(seq, Errc::corrupt_record,
                     "malformed " + std::string(type_name(e.type)) + " payload");
    case Fault::reason_misfit:
    case Fault::none:
      break;
  }
  return corrupt(seq, Errc::corrupt_record,
                 "reason " + std::to_string(static_cast<int>(e.reason)) + " does not fit " +
                     std::string(type_name(e.type)));
}

}  // namespace

Result<void> decode_into(std::uint64_t seq, std::string_view record, EventView& e) {
  const Fault fault = parse(record, e);
  if (fault == Fault::none) [[likely]] {
    return {};
  }
  return refusal(seq, fault, record, e);
}

}  // namespace fj
