#include "fleet/witness.h"

#include "fleet/internal/nats.h"
#include "fleet/internal/stream_read.h"
#include "fleet/stream.h"
#include "journal/hex.h"
#include "journal/ids.h"

#include <charconv>

namespace fj::fleet {
namespace {

// Ends the stream walk at the first difference, which is a finding, not a
// failure: the walk's caller tells it apart by this marker.
constexpr std::string_view kDifferenceMarker = "witness difference";

}  // namespace

Result<WitnessReport> witness(const Journal& journal, const std::string& urls,
                              std::chrono::milliseconds timeout) {
  nats::ConnectOptions options;
  options.timeout = timeout;
  auto conn = nats::Connection::open(urls, options);
  if (!conn) return conn.error();
  const std::string& id = journal.info().journal_id;
  WitnessReport report;
  auto done = journal.read([&](Reader& r) -> Result<void> {
    auto head = r.head();
    if (!head) return head.error();
    report.local_head = *head;
    ChainHash chain = chain_seed(id);
    std::uint64_t chained = 0;  // the local seq `chain` is the value after
    const auto differ = [&](std::uint64_t seq, std::uint64_t stream_seq, std::string detail) {
      report.difference = FoldBreak{seq, stream_seq, std::move(detail)};
      return make_error(Errc::invalid_argument, std::string(kDifferenceMarker));
    };
    auto walked = nats::for_each_in_stream(
        *conn, kStreamName, subject_for(id),
        [&](natsMsg* msg, std::uint64_t stream_seq) -> Result<void> {
          const std::uint64_t expected = report.shipped_head + 1;
          const auto text = nats::header(msg, kSeqHeader.data()).value_or("");
          std::uint64_t seq = 0;
          const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
          if (ec != std::errc() || end != text.data() + text.size() || seq == 0 ||
              (report.compared != 0 && seq != expected)) {
            return differ(expected, stream_seq,
                          "the stream's Fj-Seq '" + printable(text) + "' where " +
                              std::to_string(expected) + " was expected");
          }
          if (seq > report.local_head) {
            return differ(seq, stream_seq,
                          "the stream holds seq " + std::to_string(seq) +
                              " beyond the local head " + std::to_string(report.local_head) +
                              " (the journal lost shipped events, or the stream holds events "
                              "it never had)");
          }
          // Carry the local chain up to seq: from the seed over every local
          // record, so a stream that starts later (purged) is still checked
          // against the whole local history.
          for (; chained < seq; ++chained) {
            auto record = r.record(chained + 1);
            if (!record) return record.error();
            if (!*record) {
              return make_error(Errc::seq_gap,
                                "the journal has no record at seq " + std::to_string(chained + 1),
                                chained + 1);
            }
            chain = chain_next(chain, chained + 1, **record);
          }
          auto record = r.record(seq);
          if (!record) return record.error();
          if (nats::header(msg, kJournalHeader.data()) != std::string_view(id)) {
            return differ(seq, stream_seq, "the stream's Fj-Journal is not this journal's id");
          }
          if (nats::body(msg) != **record) {
            return differ(seq, stream_seq, "the local record differs from the shipped one");
          }
          const auto shipped_chain = nats::header(msg, kChainHeader.data()).value_or("none");
          if (shipped_chain != to_hex(chain)) {
            return differ(seq, stream_seq,
                          "the local chain value " + to_hex(chain) + " differs from the shipped " +
                              printable(shipped_chain));
          }
          if (report.compared == 0) report.shipped_first = seq;
          report.shipped_head = seq;
          ++report.compared;
          return {};
        });
    if (!walked && !(walked.error().code == Errc::invalid_argument &&
                     walked.error().message == kDifferenceMarker && report.difference)) {
      return walked.error();
    }
    return {};
  });
  if (!done) return done.error();
  return report;
}

}  // namespace fj::fleet
