// The checks behind every fuzz target, shared by the libFuzzer entry points
// (fuzz/<target>_fuzzer.cc) and by tests/fuzz_regression_test.cc, which runs
// the checked-in corpus and every saved crash through the same functions in
// the normal build.
//
// Each check_<target>(data, size) feeds arbitrary bytes to one parser and
// verifies the invariants its contract promises. A violated invariant prints
// "fuzz check failed [target]: what" to stderr and aborts (libFuzzer then
// saves the input), or, when throw_on_failure is set (the regression test),
// throws CheckFailure instead so that one bad file does not hide the others.
// A crash inside project code (ASan, UBSan, a signal) is reported by the
// sanitizer runtime, not here. Messages show fuzzed bytes through
// fj::printable (journal/ids.h).
#pragma once

#include "daemon/protocol.h"
#include "gc/scanner.h"
#include "journal/codec.h"
#include "journal/event.h"
#include "journal/ids.h"
#include "journal/internal/crc32c.h"
#include "journal/internal/format.h"
#include "projector/internal/snapshot.h"
#include "projector/projection.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fj::fuzz {

struct CheckFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// false (libFuzzer): abort on a violated invariant. true (GoogleTest): throw.
inline bool throw_on_failure = false;

[[noreturn]] inline void fail(std::string_view target, const std::string& what) {
  const std::string message = "fuzz check failed [" + std::string(target) + "]: " + what;
  if (throw_on_failure) throw CheckFailure(message);
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

// Checks `cond`; `what` (a std::string expression) is built only on failure.
#define FJ_FUZZ_REQUIRE(cond, target, what)          \
  do {                                               \
    if (!(cond)) ::fj::fuzz::fail((target), (what)); \
  } while (0)

// `bytes` with its last four bytes replaced by the CRC32C of the others, so
// that mutations reach the parser behind the checksum. Both the record and the
// snapshot framing end with such a trailer.
inline std::string with_fixed_crc(std::string_view bytes) {
  std::string out(bytes);
  if (out.size() < 4) return out;
  const std::size_t body = out.size() - 4;
  const std::uint32_t crc = crc32c(out.data(), body);
  for (std::size_t i = 0; i < 4; ++i) out[body + i] = static_cast<char>(crc >> (8 * i));
  return out;
}

// Invariants every projection holds, however it was built: the fork counts
// add up to the live forks (so no count went negative), every live fork has
// an owner whose count includes it, and no fork is both live and lost.
inline void check_projection(std::string_view target, const Projection& p) {
  std::uint64_t sum = 0;
  std::map<std::string_view, std::uint64_t> owned;
  for (const Template* t : p.templates()) {
    FJ_FUZZ_REQUIRE(t != nullptr && p.find(t->id.view()) == t, target,
                    "templates() and find() disagree");
    sum += t->forks;
  }
  FJ_FUZZ_REQUIRE(p.templates().size() == p.template_count(), target, "template_count() is wrong");
  FJ_FUZZ_REQUIRE(sum == p.live_fork_count(), target,
                  "sum of template forks " + std::to_string(sum) + " != live_fork_count() " +
                      std::to_string(p.live_fork_count()));
  for (const auto& [fork, owner] : p.all_live_forks()) {
    FJ_FUZZ_REQUIRE(owner != nullptr && p.owner(fork) == owner, target,
                    "live fork without an owner: " + printable(fork));
    FJ_FUZZ_REQUIRE(!p.lost(fork), target, "fork both live and lost: " + printable(fork));
    ++owned[owner->id.view()];
  }
  for (const Template* t : p.templates()) {
    FJ_FUZZ_REQUIRE(owned[t->id.view()] == t->forks, target,
                    "template " + printable(t->id.view()) + " counts " + std::to_string(t->forks) +
                        " forks but owns " + std::to_string(owned[t->id.view()]));
  }
}

// --- record: fj::decode -------------------------------------------------------

inline constexpr std::string_view kRecord = "record";

inline void check_record_bytes(std::string_view bytes) {
  constexpr std::uint64_t kSeq = 42;
  auto r = decode(kSeq, bytes);
  if (!r) {
    const Error& e = r.error();
    FJ_FUZZ_REQUIRE(e.code == Errc::corrupt_record || e.code == Errc::checksum_mismatch ||
                        e.code == Errc::unknown_version || e.code == Errc::unknown_type,
                    kRecord, "unexpected error code " + std::string(code_name(e.code)));
    FJ_FUZZ_REQUIRE(e.seq == kSeq, kRecord, "the error does not carry the seq: " + e.message);
    FJ_FUZZ_REQUIRE(e.message.find("seq 42") != std::string::npos, kRecord,
                    "the message does not name the seq: " + e.message);
    return;
  }
  const EventView& e = *r;
  // A decoded view borrows from the record: every field points inside it.
  for (std::string_view s : {e.template_id, e.fork, e.source, e.name, e.evidence}) {
    FJ_FUZZ_REQUIRE(s.empty() || (s.data() >= bytes.data() &&
                                  s.data() + s.size() <= bytes.data() + bytes.size()),
                    kRecord, "a decoded field points outside the record");
  }
  // Re-encoding gives the same bytes (the encoding is canonical)...
  const std::string again = encode(e);
  FJ_FUZZ_REQUIRE(again == bytes, kRecord,
                  "re-encoding the decoded " + std::string(type_name(e.type)) +
                      " gives other bytes (" + std::to_string(again.size()) + " vs " +
                      std::to_string(bytes.size()) + ")");
  // ...and an owned copy encodes the same way.
  FJ_FUZZ_REQUIRE(encode(view(to_event(e))) == again, kRecord,
                  "to_event/view changes the encoding");
  // Whatever decodes is something the write path could have written: this
  // build's, or for a name with a C1 control or bidirectional formatting an
  // earlier build's (recorded names keep decoding under the rule they were
  // written under); every other field is held to this build's rule.
  Event checked = to_event(e);
  if (!is_valid_name(checked.name) && is_recorded_name(checked.name)) checked.name.clear();
  const auto valid = validate(view(checked));
  FJ_FUZZ_REQUIRE(valid.has_value(), kRecord,
                  "validate refuses a decoded " + std::string(type_name(e.type)) + ": " +
                      (valid ? std::string() : valid.error().message));
}

inline void check_record(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  check_record_bytes(raw);
  const std::string fixed = with_fixed_crc(raw);
  if (fixed != raw) check_record_bytes(fixed);
}

// --- snapshot: fj::SnapshotCodec::decode ------------------------------------

inline constexpr std::string_view kSnapshot = "snapshot";

inline void check_snapshot_bytes(std::string_view bytes) {
  auto d = SnapshotCodec::decode(bytes);
  if (!d) {
    FJ_FUZZ_REQUIRE(
        d.error().code == Errc::corrupt_record || d.error().code == Errc::unknown_version,
        kSnapshot, "unexpected error code " + std::string(code_name(d.error().code)));
    return;
  }
  check_projection(kSnapshot, d->projection);
  const std::string again = SnapshotCodec::encode(d->projection, d->record_crc);
  auto d2 = SnapshotCodec::decode(again);
  FJ_FUZZ_REQUIRE(d2.has_value(), kSnapshot,
                  "re-encoding a decoded snapshot gives a blob that does not decode: " +
                      (d2 ? std::string() : d2.error().message));
  FJ_FUZZ_REQUIRE(d2->record_crc == d->record_crc, kSnapshot, "record crc changed by a round trip");
  FJ_FUZZ_REQUIRE(d2->projection == d->projection, kSnapshot,
                  "re-encoding a decoded snapshot gives another projection");
}

inline void check_snapshot(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  check_snapshot_bytes(raw);
  const std::string fixed = with_fixed_crc(raw);
  if (fixed != raw) check_snapshot_bytes(fixed);
}

// --- metadata: fj::gc::parse_instance and fj::gc::parse_template ------------

inline constexpr std::string_view kMetadata = "metadata";
// The directory name the fuzzed file is read under. Seeds say "Id"/"id": "frk0".
inline constexpr std::string_view kMetadataId = "frk0";

inline void check_unreadable(const gc::UnreadableFile& u) {
  using gc::Unreadable;
  FJ_FUZZ_REQUIRE(u.id == kMetadataId, kMetadata,
                  "unreadable file under another id: " + printable(u.id));
  FJ_FUZZ_REQUIRE(
      u.reason == Unreadable::empty || u.reason == Unreadable::truncated ||
          u.reason == Unreadable::invalid_json || u.reason == Unreadable::not_an_object ||
          u.reason == Unreadable::wrong_type || u.reason == Unreadable::id_mismatch ||
          u.reason == Unreadable::too_deep,
      kMetadata,
      "a parser reported a file-system reason: " + std::string(unreadable_name(u.reason)));
  // scanner.h: the detail is one line (the CLI prints one per line).
  FJ_FUZZ_REQUIRE(u.detail.find_first_of("\r\n") == std::string::npos, kMetadata,
                  "the detail of " + std::string(unreadable_name(u.reason)) +
                      " is not one line: " + printable(u.detail));
  // gc/report_json.cc puts the detail in JSON reports (reconcile --json, the
  // daemon's reconcile reply): they must stay valid JSON.
  const std::string report = boost::json::serialize(boost::json::object{{"detail", u.detail}});
  boost::json::error_code ec;
  const boost::json::value back = boost::json::parse(report, ec);
  FJ_FUZZ_REQUIRE(!ec, kMetadata,
                  "the detail of " + std::string(unreadable_name(u.reason)) +
                      " makes an invalid JSON report (" + ec.message() +
                      "): " + printable(u.detail));
}

inline void check_metadata_bytes(std::string_view bytes, const gc::ScanOptions& options) {
  auto instance = gc::parse_instance(kMetadataId, bytes, options);
  if (const auto* in = std::get_if<gc::Instance>(&instance)) {
    FJ_FUZZ_REQUIRE(in->id == kMetadataId, kMetadata,
                    "instance with another id: " + printable(in->id));
    FJ_FUZZ_REQUIRE(in->template_id.empty() || is_valid_id(in->template_id), kMetadata,
                    "instance with an invalid TemplateID: " + printable(in->template_id));
    FJ_FUZZ_REQUIRE(in->fork_of.empty() || is_valid_id(in->fork_of), kMetadata,
                    "instance with an invalid ForkOfTemplate: " + printable(in->fork_of));
  } else {
    check_unreadable(std::get<gc::UnreadableFile>(instance));
  }
  auto tpl = gc::parse_template(kMetadataId, bytes, options);
  if (const auto* t = std::get_if<gc::TemplateRecord>(&tpl)) {
    FJ_FUZZ_REQUIRE(t->id == kMetadataId, kMetadata,
                    "template with another id: " + printable(t->id));
    FJ_FUZZ_REQUIRE(is_valid_name(t->name), kMetadata,
                    "template with an invalid name: " + printable(t->name));
    FJ_FUZZ_REQUIRE(is_valid_id(t->source), kMetadata,
                    "template with an invalid source: " + printable(t->source));
  } else {
    check_unreadable(std::get<gc::UnreadableFile>(tpl));
  }
}

inline void check_metadata(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check_metadata_bytes(bytes, gc::ScanOptions{});
  // The largest depth the scanner allows: the parser must not run out of stack.
  gc::ScanOptions deep;
  deep.max_depth = gc::kMaxDepthCap;
  check_metadata_bytes(bytes, deep);
}

// --- request: fj::protocol::parse_request and the replies -------------------

inline constexpr std::string_view kRequest = "request";

// A reply must be one line of valid JSON that echoes the request's id.
inline void check_reply(const std::string& reply, const boost::json::value& id, bool ok) {
  FJ_FUZZ_REQUIRE(reply.find('\n') == std::string::npos, kRequest,
                  "a reply contains a newline: " + printable(reply));
  boost::json::error_code ec;
  const boost::json::value v = fj::protocol::parse_json(reply, ec, 64);
  FJ_FUZZ_REQUIRE(!ec, kRequest,
                  "a reply is not valid JSON (" + ec.message() + "): " + printable(reply));
  FJ_FUZZ_REQUIRE(v.is_object(), kRequest, "a reply is not an object");
  const auto& o = v.get_object();
  FJ_FUZZ_REQUIRE(o.contains("ok") && o.at("ok") == boost::json::value(ok), kRequest,
                  "a reply has the wrong \"ok\"");
  FJ_FUZZ_REQUIRE(o.contains("id"), kRequest, "a reply has no id");
  FJ_FUZZ_REQUIRE(o.at("id") == id, kRequest, "a reply echoes another id: " + printable(reply));
}

inline void check_request(const std::uint8_t* data, std::size_t size) {
  namespace protocol = fj::protocol;
  namespace json = boost::json;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto parsed = protocol::parse_request(line);
  if (const auto* e = std::get_if<protocol::ProtocolError>(&parsed)) {
    FJ_FUZZ_REQUIRE(e->code == "bad_request" || e->code == "unknown_op" ||
                        e->code == "invalid_id" || e->code == "too_large",
                    kRequest, "unexpected error code " + e->code);
    check_reply(protocol::error_response(e->id, e->code, e->message), e->id, false);
    return;
  }
  const auto& r = std::get<protocol::ParsedRequest>(parsed);
  FJ_FUZZ_REQUIRE(r.request.request_id.empty() || is_valid_request_id(r.request.request_id),
                  kRequest, "accepted an invalid request_id: " + printable(r.request.request_id));
  json::object fields;
  if (r.op == protocol::Op::template_info) {
    FJ_FUZZ_REQUIRE(is_valid_id(r.template_id), kRequest,
                    "accepted an invalid template id: " + printable(r.template_id));
    fields["template"] = r.template_id;
  }
  if (r.op == protocol::Op::register_template || r.op == protocol::Op::fork ||
      r.op == protocol::Op::unfork || r.op == protocol::Op::retire) {
    const auto* c = &r.request.command;
    std::vector<std::string_view> ids;
    if (const auto* x = std::get_if<RegisterTemplate>(c)) {
      FJ_FUZZ_REQUIRE(r.op == protocol::Op::register_template, kRequest,
                      "a RegisterTemplate for another op");
      ids = {x->template_id, x->source};
      FJ_FUZZ_REQUIRE(is_valid_name(x->name), kRequest,
                      "accepted an invalid name: " + printable(x->name));
      fields["name"] = x->name;
    } else if (const auto* x = std::get_if<AddFork>(c)) {
      FJ_FUZZ_REQUIRE(r.op == protocol::Op::fork, kRequest, "an AddFork for another op");
      ids = {x->template_id, x->fork};
    } else if (const auto* x = std::get_if<RemoveFork>(c)) {
      FJ_FUZZ_REQUIRE(r.op == protocol::Op::unfork, kRequest, "a RemoveFork for another op");
      ids = {x->template_id, x->fork};
    } else if (const auto* x = std::get_if<RetireTemplate>(c)) {
      FJ_FUZZ_REQUIRE(r.op == protocol::Op::retire, kRequest, "a RetireTemplate for another op");
      ids = {x->template_id};
    } else {
      fail(kRequest, "a write op without its command");
    }
    for (std::string_view id : ids) {
      FJ_FUZZ_REQUIRE(is_valid_id(id), kRequest, "accepted an invalid id: " + printable(id));
      fields[std::string("id_") + std::to_string(fields.size())] = id;
    }
  }
  if (!r.request.request_id.empty()) fields["request_id"] = r.request.request_id;
  check_reply(protocol::ok_response(r.id, std::move(fields)), r.id, true);
  check_reply(protocol::error_response(r.id, "bad_request", "refused"), r.id, false);
}

// --- replay: fj::Projection::apply over decoded events ----------------------

inline constexpr std::string_view kReplay = "replay";

// A straightforward model of the fold (projection.h, AnomalyKind): which
// template each live fork belongs to, and which templates are retired.
struct ReplayModel {
  std::map<std::string, bool> retired;      // registered templates
  std::map<std::string, std::string> live;  // fork -> template
  std::map<std::string, std::string> lost;  // fork -> template of its fork_lost
  std::size_t anomalies = 0;

  void apply(const Event& e) {
    const auto tpl = retired.find(e.template_id);
    switch (e.type) {
      case EventType::template_registered:
        if (tpl != retired.end()) {
          ++anomalies;
        } else {
          retired.emplace(e.template_id, false);
        }
        return;
      case EventType::template_retired:
        if (tpl == retired.end() || tpl->second) {
          ++anomalies;
          return;
        }
        tpl->second = true;
        for (const auto& [fork, t] : live) {
          if (t == e.template_id) {
            ++anomalies;  // retire_with_live_forks: recorded once
            break;
          }
        }
        return;
      case EventType::fork_added:
      case EventType::fork_recovered:
        if (tpl == retired.end() || tpl->second || live.count(e.fork) != 0) {
          ++anomalies;
          return;
        }
        live.emplace(e.fork, e.template_id);
        lost.erase(e.fork);
        return;
      case EventType::fork_removed:
      case EventType::fork_lost: {
        const auto it = live.find(e.fork);
        if (tpl == retired.end() || it == live.end() || it->second != e.template_id) {
          ++anomalies;
          return;
        }
        live.erase(it);
        if (e.type == EventType::fork_lost) lost[e.fork] = e.template_id;
        return;
      }
      case EventType::reconcile_run:
        return;
    }
  }
};

inline void check_against_model(const Projection& p, const ReplayModel& m, std::uint64_t seq) {
  const auto at = [seq] { return " after seq " + std::to_string(seq); };
  FJ_FUZZ_REQUIRE(p.seq() == seq, kReplay, "seq() is " + std::to_string(p.seq()) + at());
  FJ_FUZZ_REQUIRE(p.template_count() == m.retired.size(), kReplay, "template count differs" + at());
  FJ_FUZZ_REQUIRE(p.live_fork_count() == m.live.size(), kReplay,
                  "live_fork_count() " + std::to_string(p.live_fork_count()) +
                      " but the model has " + std::to_string(m.live.size()) + at());
  FJ_FUZZ_REQUIRE(p.anomalies().size() == m.anomalies, kReplay,
                  std::to_string(p.anomalies().size()) + " anomalies but the model has " +
                      std::to_string(m.anomalies) + at());
  for (const auto& [id, retired] : m.retired) {
    const Template* t = p.find(id);
    FJ_FUZZ_REQUIRE(t != nullptr, kReplay, "template " + id + " missing" + at());
    FJ_FUZZ_REQUIRE((t->state == TemplateState::retired) == retired, kReplay,
                    "template " + id + " in the wrong state" + at());
  }
  for (const auto& [fork, tpl] : m.live) {
    const Template* owner = p.owner(fork);
    FJ_FUZZ_REQUIRE(owner != nullptr && owner->id.view() == tpl, kReplay,
                    "fork " + fork + " should be live under " + tpl + at());
  }
  for (const auto& [fork, tpl] : m.lost) {
    const auto l = p.lost(fork);
    FJ_FUZZ_REQUIRE(l.has_value() && l->first->id.view() == tpl, kReplay,
                    "fork " + fork + " should be lost from " + tpl + at());
  }
  check_projection(kReplay, p);
}

// Ids from small pools so that events collide; one of each pool is 64 bytes,
// the longest id.
inline const std::string& replay_template_id(unsigned i) {
  static const std::array<std::string, 4> ids{"t0", "t1", "t2.web", std::string(kMaxIdSize, 'T')};
  return ids[i % ids.size()];
}
inline const std::string& replay_fork_id(unsigned i) {
  static const std::array<std::string, 8> ids{"f0",
                                              "f1",
                                              "f2",
                                              "f3",
                                              "frk0web0000000000000001",
                                              "f-5",
                                              "f_6",
                                              std::string(kMaxIdSize, 'F')};
  return ids[i % ids.size()];
}

// Two bytes per event:
//   a: bits 0-2 type (0 -> reconcile_run, 1..7 -> that type), bit 3 second
//      reason, bits 4-7 origin
//   b: bits 0-1 template, bits 2-4 fork, bits 5-7 name/evidence variant
// The first byte of the input picks the seq after which a snapshot is taken.
inline Event replay_event(std::uint8_t a, std::uint8_t b) {
  Event e;
  const unsigned type = a & 7u;
  e.type = static_cast<EventType>(type == 0 ? kMaxEventType : type);
  e.origin = static_cast<Origin>(1 + (a >> 4) % kMaxOrigin);
  e.time_ns = 1'764'000'000'000'000'000ull + a * 1000ull + b;
  const bool second = (a & 8u) != 0;
  const unsigned variant = b >> 5;
  if (e.type == EventType::reconcile_run) {
    e.run = ReconcileStats{b, a, variant, 1, 0};
    return e;
  }
  e.template_id = replay_template_id(b & 3u);
  if (has_fork(e.type)) e.fork = replay_fork_id((b >> 2) & 7u);
  switch (e.type) {
    case EventType::template_registered:
      e.source = replay_fork_id(variant);
      e.name = variant == 0   ? ""
               : variant == 1 ? "web \xE2\x9C\x93"
                              : std::string(kMaxNameSize, 'n');
      break;
    case EventType::template_retired:
      e.reason = second ? Reason::orphaned : Reason::deleted;
      break;
    case EventType::fork_recovered:
      e.reason = second ? Reason::metadata_disagrees : Reason::untracked_fork;
      break;
    case EventType::fork_lost:
      e.reason = second ? Reason::metadata_disagrees : Reason::instance_missing;
      break;
    default:
      break;
  }
  if (e.type == EventType::fork_recovered || e.type == EventType::fork_lost) {
    e.evidence = variant == 7 ? std::string(kMaxEvidenceSize, 'e') : "guests/" + e.fork;
  }
  return e;
}

inline void check_replay(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t events = (size - 1) / 2;
  const std::size_t snapshot_at = data[0] % (events + 1);
  Projection full;
  ReplayModel model;
  std::optional<Projection> from_snapshot;
  std::string record;
  for (std::size_t i = 0; i < events; ++i) {
    const std::uint64_t seq = i + 1;
    const Event event = replay_event(data[1 + 2 * i], data[2 + 2 * i]);
    const auto valid = validate(view(event));
    FJ_FUZZ_REQUIRE(
        valid.has_value(), kReplay,
        "generated an invalid event: " + (valid ? std::string() : valid.error().message));
    // Apply the event as replay does: decoded from its record.
    record = encode(view(event));
    auto decoded = decode(seq, record);
    FJ_FUZZ_REQUIRE(
        decoded.has_value(), kReplay,
        "an encoded event does not decode: " + (decoded ? std::string() : decoded.error().message));
    FJ_FUZZ_REQUIRE(to_event(*decoded) == event, kReplay, "an event changed through encode/decode");
    full.apply(seq, *decoded);
    model.apply(event);
    check_against_model(full, model, seq);
    if (from_snapshot) from_snapshot->apply(seq, *decoded);
    if (seq == snapshot_at) {
      const std::uint32_t crc = stored_checksum(record);
      auto snap = SnapshotCodec::decode(SnapshotCodec::encode(full, crc));
      FJ_FUZZ_REQUIRE(snap.has_value(), kReplay,
                      "a snapshot of a replayed projection does not decode: " +
                          (snap ? std::string() : snap.error().message));
      FJ_FUZZ_REQUIRE(snap->record_crc == crc, kReplay, "the snapshot lost its record crc");
      FJ_FUZZ_REQUIRE(snap->projection == full, kReplay,
                      "a snapshot round trip changes the projection");
      from_snapshot = std::move(snap->projection);
    }
  }
  // Snapshot + tail equals the full replay.
  if (from_snapshot) {
    FJ_FUZZ_REQUIRE(
        *from_snapshot == full, kReplay,
        "snapshot at seq " + std::to_string(snapshot_at) + " + tail differs from the full replay");
    check_projection(kReplay, *from_snapshot);
  }
}

// --- the table of targets ----------------------------------------------------

struct Target {
  std::string_view name;  // fuzz/corpus/<name>, fuzz/regressions/<name>, <name>_fuzzer
  void (*check)(const std::uint8_t*, std::size_t);
};

inline constexpr std::array<Target, 5> kTargets{{
    {kRecord, check_record},
    {kSnapshot, check_snapshot},
    {kMetadata, check_metadata},
    {kRequest, check_request},
    {kReplay, check_replay},
}};

}  // namespace fj::fuzz
