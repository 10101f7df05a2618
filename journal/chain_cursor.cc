#include "journal/chain_cursor.h"

#include "journal/codec.h"

#include <algorithm>

namespace fj {
namespace {

// Where a recomputed chain starts: the seed, or a stored checkpoint.
std::string start_text(std::uint64_t checked) {
  return checked == 0 ? std::string("from seq 1")
                      : "from the checkpoint at seq " + std::to_string(checked);
}

// The recomputed chain disagrees with the value stored at `seq`. The chain
// cannot say which record differs from what was hashed when it was stored:
// any record after the last value it agreed with, or a stored value itself.
// The message names those seqs and the audit, which checks every record from
// seq 1 (and names a record whose own checksum fails by its seq).
Error disagrees(std::uint64_t checked, std::uint64_t seq, const char* what) {
  const std::string records =
      checked + 1 == seq
          ? "record " + std::to_string(seq)
          : "a record in seqs " + std::to_string(checked + 1) + "-" + std::to_string(seq);
  return make_error(Errc::corrupt_meta,
                    "the hash chain recomputed " + start_text(checked) + " disagrees with the " +
                        "stored " + what + " at seq " + std::to_string(seq) + ": " + records +
                        ", or a stored chain value, changed (the chain cannot say which; " +
                        "'forkjournal audit' checks every record from seq 1)",
                    seq);
}

Result<ChainHash> stored_checkpoint(Reader& reader, std::uint64_t seq) {
  auto stored = reader.chain_checkpoint(seq);
  if (!stored) return stored.error();
  if (!*stored) {
    return make_error(Errc::corrupt_meta,
                      "the chain checkpoint at seq " + std::to_string(seq) + " is missing", seq);
  }
  return **stored;
}

}  // namespace

Result<ChainCursor> ChainCursor::at_checkpoint(Reader& reader, std::uint64_t first,
                                               std::string_view journal_id) {
  auto head = reader.head();
  if (!head) return head.error();
  if (first == 0 || first > *head + 1) {
    return make_error(Errc::invalid_argument, "seq " + std::to_string(first) +
                                                  " is not within 1 and the head + 1 (" +
                                                  std::to_string(*head + 1) + ")");
  }
  const std::uint64_t base = (first - 1) / kChainCheckpointEvery * kChainCheckpointEvery;
  ChainPoint at{base, chain_seed(journal_id)};
  if (base != 0) {
    auto stored = stored_checkpoint(reader, base);
    if (!stored) return stored.error();
    at.value = *stored;
  }
  return ChainCursor(at);
}

Result<void> ChainCursor::walk_towards(Reader& reader, std::uint64_t first, std::uint64_t through) {
  auto walked = walk(reader, std::min(through, first - 1));
  if (walked) return {};
  Error e = walked.error();
  // A damaged record before `first` is named by its own seq: the chain
  // values from `first` on are computed over it.
  const bool record_damage = e.code == Errc::corrupt_record || e.code == Errc::checksum_mismatch ||
                             e.code == Errc::unknown_version || e.code == Errc::unknown_type;
  if (record_damage) {
    const std::uint64_t base = (first - 1) / kChainCheckpointEvery * kChainCheckpointEvery;
    e.message += " (the hash chain to seq " + std::to_string(first) + " is recomputed over it " +
                 start_text(base) + ")";
  }
  return e;
}

Result<ChainCursor> ChainCursor::before(Reader& reader, std::uint64_t first,
                                        std::string_view journal_id) {
  auto cursor = at_checkpoint(reader, first, journal_id);
  if (!cursor) return cursor.error();
  if (auto walked = cursor->walk_towards(reader, first, first - 1); !walked) return walked.error();
  return cursor;
}

Result<void> ChainCursor::walk(Reader& reader, std::uint64_t through) {
  if (through <= at_.seq) return {};
  return reader.for_each(at_.seq + 1, through,
                         [&](std::uint64_t seq, std::string_view record) -> Result<void> {
                           // A record that fails its own checks is named by
                           // them, not by the chain value it spoils.
                           if (auto decoded = decode(seq, record); !decoded) {
                             return decoded.error();
                           }
                           auto value = advance(reader, record);
                           if (!value) return value.error();
                           return {};
                         });
}

Result<ChainHash> ChainCursor::advance(Reader& reader, std::string_view record) {
  const std::uint64_t seq = at_.seq + 1;
  const ChainHash value = chain_next(at_.value, seq, record);
  if (seq % kChainCheckpointEvery == 0) {
    auto stored = stored_checkpoint(reader, seq);
    if (!stored) return stored.error();
    if (*stored != value) return disagrees(checked_, seq, "checkpoint");
    checked_ = seq;
  }
  at_ = {seq, value};
  return value;
}

Result<void> ChainCursor::check_head(Reader& reader, std::uint64_t head) const {
  if (at_.seq != head || head == 0) return {};
  auto stored = reader.chain_head();
  if (!stored) return stored.error();
  if (stored->seq != head) {
    return make_error(Errc::corrupt_meta,
                      "the stored chain head is at seq " + std::to_string(stored->seq) +
                          ", not at the head " + std::to_string(head),
                      head);
  }
  if (stored->value != at_.value) return disagrees(checked_, head, "chain head");
  return {};
}

}  // namespace fj
