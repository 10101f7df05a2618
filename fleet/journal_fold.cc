#include "fleet/journal_fold.h"

#include "fleet/ship_host.h"
#include "fleet/stream.h"
#include "journal/codec.h"
#include "journal/hex.h"
#include "journal/ids.h"

#include <algorithm>
#include <charconv>

namespace fj::fleet {
namespace {

bool is_journal_id(std::string_view id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::optional<std::uint64_t> parse_seq(std::string_view text) {
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || v == 0 || text.front() == '0') return std::nullopt;
  return v;
}

std::string shown(std::optional<std::string_view> header) {
  return header ? "'" + printable(*header) + "'" : std::string("none");
}

}  // namespace

std::optional<std::string_view> journal_of_subject(std::string_view subject) {
  if (!subject.starts_with(kSubjectPrefix)) return std::nullopt;
  return subject.substr(kSubjectPrefix.size());
}

JournalFold::JournalFold(std::string journal_id) : journal_id_(std::move(journal_id)) {}

void JournalFold::fail(std::uint64_t seq, std::uint64_t stream_seq, std::string detail) {
  broken_ = FoldBreak{seq, stream_seq, std::move(detail)};
}

void JournalFold::add(const ShippedMessage& m) {
  ++messages_;
  if (broken_) return;
  const std::uint64_t expected = head_seq() + 1;
  const bool first = first_seq_ == 0;
  if (!m.repeated_header.empty()) {
    return fail(
        expected, m.stream_seq,
        "header " + printable(m.repeated_header) + " appears more than once: a malformed message");
  }
  if (!is_journal_id(journal_id_)) {
    return fail(expected, m.stream_seq, "the subject's journal id is not 32 hex digits");
  }
  const auto seq = m.seq ? parse_seq(*m.seq) : std::nullopt;
  if (!seq) return fail(expected, m.stream_seq, "Fj-Seq " + shown(m.seq) + " is not a seq");
  if (!first && *seq != expected) {
    std::string why = *seq > expected ? "seqs " + std::to_string(expected) + ".." +
                                            std::to_string(*seq - 1) + " are missing"
                                      : "seq " + std::to_string(*seq) + " again";
    return fail(expected, m.stream_seq,
                "Fj-Seq " + std::to_string(*seq) + " where " + std::to_string(expected) +
                    " was expected (" + why + ")");
  }
  if (m.journal != std::optional<std::string_view>(journal_id_)) {
    return fail(*seq, m.stream_seq, "Fj-Journal " + shown(m.journal) + " is not the subject's");
  }
  if (m.msg_id != std::optional<std::string_view>(message_id(journal_id_, *seq))) {
    return fail(*seq, m.stream_seq,
                "Nats-Msg-Id " + shown(m.msg_id) + ", not " + message_id(journal_id_, *seq));
  }
  if (!m.host || m.host->empty()) return fail(*seq, m.stream_seq, "no Fj-Host");
  // The rule forkjournald applies to --ship-host: anything else did not come
  // from a shipper, and printing it could rewrite the reader's terminal.
  if (auto host = check_ship_host(*m.host); !host) {
    return fail(*seq, m.stream_seq,
                "Fj-Host " + shown(m.host) + " is not a host name: " + host.error().message);
  }
  if (auto decoded = decode_into(*seq, m.body, event_); !decoded) {
    return fail(*seq, m.stream_seq,
                std::string(code_name(decoded.error().code)) + ": " + decoded.error().message);
  }
  const auto chain = m.chain ? chain_from_hex(*m.chain) : std::nullopt;
  if (!chain) return fail(*seq, m.stream_seq, "Fj-Chain " + shown(m.chain) + " is not 64 hex");
  if (first && *seq > 1) {
    // The messages before it are gone from the stream: the chain can only
    // be carried on from the value this one states.
    chain_ = *chain;
  } else {
    const ChainHash before = first ? chain_seed(journal_id_) : chain_;
    const ChainHash after = chain_next(before, *seq, m.body);
    if (after != *chain) {
      return fail(*seq, m.stream_seq,
                  "Fj-Chain " + std::string(*m.chain) + ", but the records give " + to_hex(after));
    }
    chain_ = after;
  }
  if (first) first_seq_ = *seq;
  host_.assign(*m.host);
  evolve(state_, *seq, event_);
}

}  // namespace fj::fleet
