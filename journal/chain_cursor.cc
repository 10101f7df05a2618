#include "journal/chain_cursor.h"

namespace fj {
namespace {

Error disagrees(std::uint64_t seq, const char* what) {
  return make_error(Errc::corrupt_meta,
                    "the hash chain recomputed up to seq " + std::to_string(seq) +
                        " disagrees with the stored " + what,
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

Result<ChainCursor> ChainCursor::before(Reader& reader, std::uint64_t first,
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
  if (base + 1 <= first - 1) {
    auto walked = reader.for_each(base + 1, first - 1,
                                  [&](std::uint64_t seq, std::string_view record) -> Result<void> {
                                    at = {seq, chain_next(at.value, seq, record)};
                                    return {};
                                  });
    if (!walked) return walked.error();
  }
  return ChainCursor(at);
}

Result<ChainHash> ChainCursor::advance(Reader& reader, std::string_view record) {
  const std::uint64_t seq = at_.seq + 1;
  const ChainHash value = chain_next(at_.value, seq, record);
  if (seq % kChainCheckpointEvery == 0) {
    auto stored = stored_checkpoint(reader, seq);
    if (!stored) return stored.error();
    if (*stored != value) return disagrees(seq, "checkpoint");
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
  if (stored->value != at_.value) return disagrees(head, "chain head");
  return {};
}

}  // namespace fj
