#include "present/render.h"

#include "journal/hex.h"
#include "journal/ids.h"

#include <ctime>

namespace fj::render {

std::string rfc3339(std::uint64_t unix_ns) {
  const auto secs = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%09lluZ",
                static_cast<unsigned long long>(unix_ns % 1'000'000'000));
  return std::string(buf, n) + frac;
}

boost::json::object event_json(std::uint64_t seq, const EventView& e) {
  boost::json::object o;
  o["seq"] = seq;
  o["type"] = type_name(e.type);
  o["time"] = rfc3339(e.time_ns);
  o["origin"] = origin_name(e.origin);
  if (e.type == EventType::reconcile_run) {
    o["based_on_seq"] = e.run.based_on_seq;
    o["scanned"] = e.run.scanned;
    o["unreadable"] = e.run.unreadable;
    o["corrections"] = e.run.corrections;
    o["swept"] = e.run.swept;
    return o;
  }
  o["template"] = e.template_id;
  if (has_fork(e.type)) o["fork"] = e.fork;
  if (e.type == EventType::template_registered) {
    o["source"] = e.source;
    o["name"] = e.name;
  }
  if (e.reason != Reason::none) o["reason"] = reason_name(e.reason);
  if (e.type == EventType::fork_lost || e.type == EventType::fork_recovered) {
    o["evidence"] = e.evidence;
  }
  return o;
}

boost::json::object export_json(std::uint64_t seq, const EventView& e, std::string_view journal_id,
                                const ChainHash& chain) {
  boost::json::object o = event_json(seq, e);
  o["journal"] = journal_id;
  o["chain"] = to_hex(chain);
  return o;
}

namespace {

void append_byte_escape(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xF];
}

}  // namespace

std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (const std::size_t n = hidden_control_at(text, i); n != 0) {
      // Recorded before such names were refused: shown as its bytes, never
      // left to reorder or hide what the terminal shows.
      for (std::size_t k = 0; k < n; ++k) {
        append_byte_escape(out, static_cast<unsigned char>(text[i + k]));
      }
      i += n - 1;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      append_byte_escape(out, byte);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string event_details(const EventView& e) {
  if (e.type == EventType::reconcile_run) {
    return "based_on_seq=" + std::to_string(e.run.based_on_seq) +
           " scanned=" + std::to_string(e.run.scanned) +
           " unreadable=" + std::to_string(e.run.unreadable) +
           " corrections=" + std::to_string(e.run.corrections) +
           " swept=" + std::to_string(e.run.swept);
  }
  std::string s = "template=" + std::string(e.template_id);
  if (has_fork(e.type)) s += " fork=" + std::string(e.fork);
  if (e.type == EventType::template_registered) {
    s += " source=" + std::string(e.source);
    if (!e.name.empty()) s += " name=" + quoted(e.name);
  }
  if (e.reason != Reason::none) s += " reason=" + std::string(reason_name(e.reason));
  if (!e.evidence.empty()) s += " evidence=" + quoted(e.evidence);
  return s;
}

boost::json::object anomaly_json(const Anomaly& a) {
  boost::json::object o;
  o["seq"] = a.seq;
  o["kind"] = anomaly_name(a.kind);
  o["template"] = a.template_id;
  if (!a.fork.empty()) o["fork"] = a.fork;
  return o;
}

std::string anomaly_text(const Anomaly& a) {
  std::string s = "seq " + std::to_string(a.seq) + ": " + std::string(anomaly_name(a.kind)) +
                  " template=" + a.template_id;
  if (!a.fork.empty()) s += " fork=" + a.fork;
  return s;
}

boost::json::object template_json(const Template& t) {
  boost::json::object o;
  o["template"] = t.id.view();
  o["source"] = t.source.view();
  o["name"] = t.name;
  o["state"] = state_name(t.state);
  o["forks"] = t.forks;
  return o;
}

}  // namespace fj::render
