// Reader::verify_chain (journal/verify.h).
#include "journal/internal/chain_hasher.h"
#include "journal/internal/databases.h"
#include "journal/internal/lmdb.h"
#include "journal/journal.h"

#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace fj {
namespace {

// Records per batch handed to the hasher, and batches in flight. A batch
// also ends at each checkpoint, so it holds at most one window and the
// already verified record a walk may start with. Several batches let either
// thread run ahead while the other waits for a core (the wake-up of a
// blocked thread on a busy machine takes milliseconds), and eight rather
// than four let the reading thread read further ahead before it turns to
// hashing, which balanced the two threads better (docs/decisions.md, "The
// audit reports on the hashing thread"); the set is about 9 MB with
// decoded events.
constexpr std::size_t kVerifyBatch = kChainCheckpointEvery + 1;
constexpr std::size_t kVerifyDepth = 8;
// How far ahead of `event` hooks.upcoming sees a record: the replay's own
// distance for the fork table's slot (docs/decisions.md, "The fork table's
// own slots").
constexpr std::size_t kUpcomingAhead = 8;
// How far ahead the report loop prefetches a record for the decoded event's
// views: the other thread hashed most records, so their bytes sit in its
// core's cache, and where the host leaves little shared cache each one
// cost the reporting thread a full miss when the event's ids were hashed
// for hooks.upcoming (docs/decisions.md, "The tags and the records
// prefetched"). 16, as the replay's ids.
constexpr std::size_t kRecordAhead = 16;

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

  const ChainHash& chain = from.value;
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
  // Checked a chunk ahead of the cursor, as for_each does, not the whole
  // tree before the first record: that was 15 ms of a 220 ms audit (2 M
  // events) in which the hashing thread had nothing to do.
  std::uint64_t checked_through = 0;
  if (auto sound = check_pages_ahead(expected, checked_through); !sound) return sound.error();
  auto cursor = lmdb::Cursor::open(txn_, dbs_.events);
  if (!cursor) return cursor.error();

  // Declared before the hasher, whose worker may still be reading a batch
  // when an error or exception leaves early: the hasher joins it first.
  // Each batch's steps are built once, as a walk first needs them, and
  // refilled in place after: building a step (288 bytes) for every record
  // cost the audit 5-11 % more CPU than refilling one (docs/decisions.md).
  std::array<std::vector<detail::ChainStep>, kVerifyDepth> steps;
  std::array<std::size_t, kVerifyDepth> counts{};
  std::array<std::uint64_t, kVerifyDepth> tickets{};
  for (auto& b : steps) b.reserve(kVerifyBatch);  // never moved while a batch is out
  const auto batch = [&](std::size_t i) {
    return std::span<detail::ChainStep>(steps[i].data(), counts[i]);
  };
  // The records go to the hasher a batch at a time; each batch comes back
  // with its chain values while the next ones are read, and its findings
  // are reported and its records handed to hooks.record and hooks.event
  // (decoded by the hasher when that hook is set) on the hasher's worker, in
  // key order. The walk's findings and calls are so in the order of a walk
  // that hashed each record as it read it.
  const bool decoding = static_cast<bool>(hooks.event);
  const bool hinting = decoding && hooks.upcoming;
  const detail::ChainHasher::Report report = [&](std::span<const detail::ChainStep> hashed) {
    for (std::size_t i = 0; i < hashed.size(); ++i) {
      const detail::ChainStep& s = hashed[i];
      if (decoding && i + kRecordAhead < hashed.size()) {
        // Its first and last lines: all of a typical record (70-90 bytes).
        const std::string_view record = hashed[i + kRecordAhead].record;
        if (!record.empty()) {
          __builtin_prefetch(record.data());
          __builtin_prefetch(record.data() + record.size() - 1);
        }
      }
      if (hinting && i + kUpcomingAhead < hashed.size()) {
        const detail::ChainStep& ahead = hashed[i + kUpcomingAhead];
        if (ahead.chained && ahead.decoded) hooks.upcoming(ahead.event);
      }
      if (s.malformed) {
        find(s.seq, "corrupt_record", "malformed key after seq " + std::to_string(s.seq - 1));
        continue;
      }
      if (s.gap_from != s.seq) {
        find(s.gap_from, "seq_gap",
             "seqs " + std::to_string(s.gap_from) + "-" + std::to_string(s.seq - 1) +
                 " are missing");
      }
      if (!s.chained) continue;
      switch (s.check) {
        case detail::CheckpointCheck::missing:
          find(s.seq, "chain_checkpoint_missing",
               "no stored chain checkpoint at seq " + std::to_string(s.seq));
          break;
        case detail::CheckpointCheck::mismatch:
          find(s.seq, "chain_mismatch",
               "the hash chain differs from its checkpoint: a record in " + window(s.seq) +
                   " was changed, inserted or removed");
          break;
        case detail::CheckpointCheck::good:
          last_good_checkpoint = s.seq;
          break;
        case detail::CheckpointCheck::none:
          break;
      }
      if (hooks.record) hooks.record(s.seq, s.record, s.chain);
      if (hooks.event) hooks.event(s.seq, s.decoded, s.event, s.chain);
    }
  };
  detail::ChainHasher hasher(chain, decoding, report);
  // An error that ends the walk early; what a hook threw before it wins.
  const auto fail = [&](Error e) -> Result<ChainWalk> {
    hasher.rethrow_if_failed();
    return e;
  };
  std::size_t filling = 0;
  std::uint64_t newest = 0;  // the newest ticket
  // The chain value before the batch being filled, when known without
  // hashing: a batch ends at each checkpoint, and the next one starts from
  // its stored value (ChainHasher).
  std::optional<ChainHash> start = chain;

  const std::uint64_t start_key = expected;
  MDB_val key = lmdb::seq_key(start_key);
  MDB_val value{};
  for (auto found = cursor->get(key, value, MDB_SET_RANGE);;
       found = cursor->get(key, value, MDB_NEXT)) {
    if (!found) return fail(found.error());
    if (!*found) break;
    if (counts[filling] == steps[filling].size()) steps[filling].emplace_back();
    detail::ChainStep& s = steps[filling][counts[filling]++];
    s.malformed = false;
    s.chained = false;
    s.stored.reset();
    bool ends_window = false;
    std::uint64_t seq = 0;
    if (key.mv_size != sizeof seq) {
      s.malformed = true;
      s.seq = expected;
    } else {
      std::memcpy(&seq, key.mv_data, sizeof seq);
      s.seq = seq;
      s.gap_from = expected;
      s.record = lmdb::to_view(value);
      expected = seq + 1;
      s.chained = !(from.seq > 0 && seq == from.seq);
      if (s.chained) {
        ++walk.records;
        if (seq % kChainCheckpointEvery == 0) {
          auto checkpoint = chain_checkpoint(seq);
          if (!checkpoint) return fail(checkpoint.error());
          s.stored = *checkpoint;
          ends_window = true;
        }
      }
    }
    // The next key's pages. After a malformed key the rest of the tree at
    // once: such a key says nothing of where the cursor steps next.
    if (s.malformed && checked_through != kHead) {
      if (auto sound = check_pages(expected, kHead); !sound) return fail(sound.error());
      checked_through = kHead;
    }
    if (auto sound = check_pages_ahead(expected, checked_through); !sound) {
      return fail(sound.error());
    }
    if (counts[filling] == kVerifyBatch || ends_window) {
      const std::optional<ChainHash> after = ends_window ? s.stored : std::nullopt;
      tickets[filling] = newest = hasher.submit(batch(filling), start, true);
      start = after;
      filling = (filling + 1) % kVerifyDepth;
      if (counts[filling] != 0) {  // the oldest in flight
        hasher.wait(tickets[filling]);
        counts[filling] = 0;
      }
    }
  }
  // The one being filled, then every batch: the newest waits for them all.
  if (counts[filling] != 0) newest = hasher.submit(batch(filling), start, false);
  if (newest != 0) hasher.wait(newest);
  const ChainHash& chain_at_end = hasher.chain();
  walk.chain = chain_at_end;

  if (stored_head) {
    if (stored_head->seq != *head) {
      find(*head, "chain_head",
           "the stored chain head is at seq " + std::to_string(stored_head->seq) +
               ", the journal's head at seq " + std::to_string(*head));
    } else if (stored_head->value != chain_at_end) {
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
