// Reader::verify_chain (journal/verify.h).
#include "journal/internal/databases.h"
#include "journal/internal/lmdb.h"
#include "journal/journal.h"

#include <cstring>

namespace fj {
namespace {

std::string window(std::uint64_t checkpoint) {
  const std::uint64_t first =
      checkpoint >= kChainCheckpointEvery ? checkpoint - kChainCheckpointEvery + 1 : 1;
  return "seqs " + std::to_string(first) + "-" + std::to_string(checkpoint);
}

}  // namespace

Result<ChainWalk> Reader::verify_chain(const ChainHash& seed, const VerifyHooks& hooks) {
  return verify_chain(ChainPoint{0, seed}, hooks);
}

Result<ChainWalk> Reader::verify_chain(const ChainPoint& from, const VerifyHooks& hooks) {
  const auto find = [&](std::uint64_t seq, std::string_view kind, std::string detail) {
    if (hooks.finding) hooks.finding(seq, kind, std::move(detail));
  };
  ChainWalk walk;
  auto head = this->head();
  if (!head) return head.error();
  walk.head_seq = *head;
  auto stored_head = chain_head();
  if (!stored_head) find(0, "chain_head", stored_head.error().message);

  ChainHash chain = from.value;
  std::uint64_t last_good_checkpoint = from.seq;
  if (from.seq > 0 && from.seq % kChainCheckpointEvery == 0) {
    auto checkpoint = chain_checkpoint(from.seq);
    if (!checkpoint) return checkpoint.error();
    if (!*checkpoint) {
      find(from.seq, "chain_checkpoint_missing",
           "no stored chain checkpoint at seq " + std::to_string(from.seq));
    } else if (**checkpoint != chain) {
      find(from.seq, "chain_mismatch",
           "the stored checkpoint at seq " + std::to_string(from.seq) +
               " is not the chain value verified there: history up to it was rewritten");
    }
  }
  // The record at from.seq comes first: present, and not chained again.
  std::uint64_t expected = from.seq > 0 ? from.seq : 1;
  // A damaged page cannot be read past: corrupt_page, naming its first seq.
  if (auto sound = check_pages(expected); !sound) return sound.error();
  auto cursor = lmdb::Cursor::open(txn_, dbs_.events);
  if (!cursor) return cursor.error();
  const std::uint64_t start_key = expected;
  auto walked = cursor->each_from(
      lmdb::seq_key(start_key), [&](const MDB_val& key, const MDB_val& value) -> Result<void> {
        std::uint64_t seq = 0;
        if (key.mv_size != sizeof seq) {
          find(expected, "corrupt_record",
               "malformed key after seq " + std::to_string(expected - 1));
          return {};
        }
        std::memcpy(&seq, key.mv_data, sizeof seq);
        const std::string_view record = lmdb::to_view(value);
        if (seq != expected) {
          find(expected, "seq_gap",
               "seqs " + std::to_string(expected) + "-" + std::to_string(seq - 1) + " are missing");
        }
        expected = seq + 1;
        if (from.seq > 0 && seq == from.seq) return {};
        ++walk.records;

        chain = chain_next(chain, seq, record);
        if (seq % kChainCheckpointEvery == 0) {
          auto checkpoint = chain_checkpoint(seq);
          if (!checkpoint) return checkpoint.error();
          if (!*checkpoint) {
            find(seq, "chain_checkpoint_missing",
                 "no stored chain checkpoint at seq " + std::to_string(seq));
          } else if (**checkpoint != chain) {
            find(seq, "chain_mismatch",
                 "the hash chain differs from its checkpoint: a record in " + window(seq) +
                     " was changed, inserted or removed");
            chain = **checkpoint;  // resynchronise so later windows are judged on their own
          } else {
            last_good_checkpoint = seq;
          }
        }
        if (hooks.record) hooks.record(seq, record, chain);
        return {};
      });
  if (!walked) return walked.error();
  walk.chain = chain;

  if (stored_head) {
    if (stored_head->seq != *head) {
      find(*head, "chain_head",
           "the stored chain head is at seq " + std::to_string(stored_head->seq) +
               ", the journal's head at seq " + std::to_string(*head));
    } else if (stored_head->value != chain) {
      find(*head, "chain_mismatch",
           "the hash chain at the head differs from the stored one: a record after seq " +
               std::to_string(last_good_checkpoint) + " was changed, inserted or removed" +
               (from.seq > 0 && last_good_checkpoint == from.seq
                    ? ", or the history before it rewritten"
                    : ""));
    }
  }
  return walk;
}

}  // namespace fj
