// The audit's chain hashing (journal/internal/chain_hasher.h): batches that
// start right after a stored checkpoint may be hashed by the waiting walker
// out of turn; every step must still get the chain value and checkpoint
// verdict of one thread hashing every record in order.
#include "journal/internal/chain_hasher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fj::detail {
namespace {

constexpr std::uint64_t kWindow = kChainCheckpointEvery;

class ChainHasherTest : public ::testing::Test {
 protected:
  // Records 1..last, and the checkpoints stored for them: the true chain
  // value, except where `wrong` (a stored value that differs) or `missing`.
  void build(std::uint64_t last, const std::vector<std::uint64_t>& wrong,
             const std::vector<std::uint64_t>& missing) {
    for (std::uint64_t seq = 1; seq <= last; ++seq) {
      records_.push_back("record " + std::to_string(seq) + std::string(seq % 50, 'x'));
    }
    ChainHash chain = seed_;
    for (std::uint64_t seq = 1; seq <= last; ++seq) {
      chain = chain_next(chain, seq, records_[seq - 1]);
      CheckpointCheck check = CheckpointCheck::none;
      if (seq % kWindow == 0) {
        check = CheckpointCheck::missing;
        if (std::find(missing.begin(), missing.end(), seq) == missing.end()) {
          ChainHash stored = chain;
          check = CheckpointCheck::good;
          if (std::find(wrong.begin(), wrong.end(), seq) != wrong.end()) {
            stored[0] ^= 1;
            chain = stored;  // the walk carries on from a stored value
            check = CheckpointCheck::mismatch;
          }
          stored_[seq] = stored;
        }
      }
      want_.push_back({chain, check});
    }
  }
  // The steps of seqs first..last, as the walker fills them.
  std::vector<ChainStep> steps(std::uint64_t first, std::uint64_t last) const {
    std::vector<ChainStep> out;
    for (std::uint64_t seq = first; seq <= last; ++seq) {
      ChainStep& s = out.emplace_back();
      s.seq = s.gap_from = seq;
      s.record = records_[seq - 1];
      s.chained = true;
      if (auto it = stored_.find(seq); it != stored_.end()) s.stored = it->second;
    }
    return out;
  }
  // The start a walker passes with the batch after `batch`.
  static std::optional<ChainHash> start_after(const std::vector<ChainStep>& batch) {
    const ChainStep& last = batch.back();
    return last.seq % kWindow == 0 ? last.stored : std::nullopt;
  }

  // A walk's batches: a first one of 100 windows that keeps the worker busy,
  // then batches the walker may hash out of turn while it waits (after a
  // good checkpoint; with a malformed key inside; after a wrong checkpoint;
  // one that ends inside a window, as a full batch does) and ones it may
  // not (after a batch that ended inside a window; after a missing
  // checkpoint). Hashed as `threaded` or all on the calling thread, then
  // checked against one thread hashing every record in order.
  void walk_and_check(bool threaded) {
    const std::uint64_t a = 100 * kWindow;
    build(a + 5 * kWindow + 52, {a + 2 * kWindow}, {a + 4 * kWindow});
    std::vector<std::vector<ChainStep>> batches = {
        steps(1, a),
        steps(a + 1, a + kWindow),
        steps(a + kWindow + 1, a + 2 * kWindow),
        steps(a + 2 * kWindow + 1, a + 3 * kWindow),
        steps(a + 3 * kWindow + 1, a + 3 * kWindow + 100),
        steps(a + 3 * kWindow + 101, a + 4 * kWindow),
        steps(a + 4 * kWindow + 1, a + 5 * kWindow),
        steps(a + 5 * kWindow + 1, a + 5 * kWindow + 52),
    };
    ChainStep malformed;
    malformed.seq = a + kWindow + 10;
    malformed.malformed = true;
    batches[2].insert(batches[2].begin() + 9, malformed);

    // Each batch is reported once, in order, with its values already set,
    // on the worker (on the caller's thread when there is none).
    std::vector<std::uint64_t> reported;  // each batch's first seq
    bool reported_on_worker = true;
    bool reported_on_caller = true;
    const auto caller = std::this_thread::get_id();
    ChainHasher hasher(seed_, /*decode=*/true, [&](std::span<const ChainStep> batch) {
      reported.push_back(batch.front().seq);
      (std::this_thread::get_id() == caller ? reported_on_worker : reported_on_caller) = false;
      for (const ChainStep& got : batch) {
        if (got.chained) {
          ASSERT_EQ(got.chain, want_[got.seq - 1].first) << "seq " << got.seq;
        }
      }
    });
    std::vector<std::uint64_t> tickets;
    std::optional<ChainHash> start = seed_;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      tickets.push_back(hasher.submit(batches[i], start, threaded && i + 1 < batches.size()));
      start = start_after(batches[i]);
    }
    for (std::uint64_t ticket : tickets) hasher.wait(ticket);

    std::map<CheckpointCheck, int> checks;
    for (const auto& batch : batches) {
      for (const ChainStep& got : batch) {
        if (!got.chained) {
          EXPECT_EQ(got.chain, ChainHash{}) << "a malformed key is not hashed";
          EXPECT_TRUE(got.decoded) << "nor decoded";
          continue;
        }
        ASSERT_EQ(got.chain, want_[got.seq - 1].first) << "seq " << got.seq;
        ASSERT_EQ(got.check, want_[got.seq - 1].second) << "seq " << got.seq;
        ASSERT_FALSE(got.decoded) << "seq " << got.seq << ": decoded (these are no events)";
        ++checks[got.check];
      }
    }
    EXPECT_EQ(checks[CheckpointCheck::good], 103);
    EXPECT_EQ(checks[CheckpointCheck::mismatch], 1);
    EXPECT_EQ(checks[CheckpointCheck::missing], 1);
    EXPECT_EQ(hasher.chain(), want_.back().first);
    std::vector<std::uint64_t> firsts;
    for (const auto& batch : batches) firsts.push_back(batch.front().seq);
    EXPECT_EQ(reported, firsts);
    EXPECT_TRUE(threaded ? reported_on_worker : reported_on_caller);
    if (threaded) {
      // While the worker hashes the first batch (~40 ms) the waiting walker
      // takes the later ones it may (five at most: some may go to the
      // worker, hashed beside its own); only a walker kept off a core for
      // all that time would leave them all to the worker.
      EXPECT_GE(hasher.hashed_by_walker(), 1u);
      EXPECT_LE(hasher.hashed_by_walker(), 5u);
    } else {
      EXPECT_EQ(hasher.hashed_by_walker(), 0u);
    }
  }

  ChainHash seed_ = chain_seed("chain hasher test");
  std::vector<std::string> records_;
  std::map<std::uint64_t, ChainHash> stored_;
  // What one thread hashing every record in order gives each seq.
  std::vector<std::pair<ChainHash, CheckpointCheck>> want_;
};

TEST_F(ChainHasherTest, BatchesHashedOutOfTurnGetTheValuesOfAnInOrderWalk) {
  walk_and_check(true);
}

TEST_F(ChainHasherTest, AWalkWithoutAWorkerHashesInOrder) {
  walk_and_check(false);
}

TEST_F(ChainHasherTest, BatchesHashedTwoAtATimeGetTheValuesOfAnInOrderWalk) {
  // Forty windows submitted before the first wait: the worker steps each
  // batch beside the next from the front, the waiting walker the newest two
  // from the back (journal/internal/chain_lanes.h), across a wrong and a
  // missing checkpoint (after which a batch cannot start without its
  // predecessor's chain).
  const std::uint64_t windows = 40;
  build(windows * kWindow + 7, {10 * kWindow, 25 * kWindow}, {30 * kWindow});
  std::vector<std::vector<ChainStep>> batches;
  for (std::uint64_t w = 0; w < windows; ++w) {
    batches.push_back(steps(w * kWindow + 1, (w + 1) * kWindow));
  }
  batches.push_back(steps(windows * kWindow + 1, windows * kWindow + 7));
  // Steps that are not hashed, in every third window: a malformed key, and
  // a record already verified (as a walk from a ChainPoint starts with),
  // which the pair's lanes must skip without falling out of step.
  for (std::uint64_t w = 0; w < windows; w += 3) {
    ChainStep malformed;
    malformed.seq = w * kWindow + 20;
    malformed.malformed = true;
    batches[w].insert(batches[w].begin() + 19, malformed);
    ChainStep verified = batches[w][100];
    verified.chained = false;
    batches[w].insert(batches[w].begin() + 100, verified);
  }

  ChainHasher hasher(seed_);
  std::vector<std::uint64_t> tickets;
  std::optional<ChainHash> start = seed_;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    tickets.push_back(hasher.submit(batches[i], start, i + 1 < batches.size()));
    start = start_after(batches[i]);
  }
  for (std::uint64_t ticket : tickets) hasher.wait(ticket);

  std::size_t unhashed = 0;
  for (const auto& batch : batches) {
    for (const ChainStep& got : batch) {
      if (!got.chained) {
        EXPECT_EQ(got.chain, ChainHash{}) << "an unchained step is not hashed";
        ++unhashed;
        continue;
      }
      ASSERT_EQ(got.chain, want_[got.seq - 1].first) << "seq " << got.seq;
      ASSERT_EQ(got.check, want_[got.seq - 1].second) << "seq " << got.seq;
    }
  }
  EXPECT_EQ(unhashed, 2 * 14u);
  EXPECT_EQ(hasher.chain(), want_.back().first);
  EXPECT_GE(hasher.hashed_beside(), 1u);
}

TEST_F(ChainHasherTest, WhatTheReportThrowsIsRethrownAndTheHasherStillEnds) {
  // The report throws on the fourth batch, with later ones queued (some of
  // them perhaps claimed beside it): wait rethrows it, nothing later is
  // reported, and the destructor returns.
  const std::uint64_t windows = 12;
  build(windows * kWindow, {}, {});
  std::vector<std::vector<ChainStep>> batches;
  for (std::uint64_t w = 0; w < windows; ++w) {
    batches.push_back(steps(w * kWindow + 1, (w + 1) * kWindow));
  }
  std::vector<std::uint64_t> reported;
  {
    ChainHasher hasher(seed_, false, [&](std::span<const ChainStep> batch) {
      if (reported.size() == 3) throw std::runtime_error("report failed");
      reported.push_back(batch.front().seq);
    });
    std::vector<std::uint64_t> tickets;
    std::optional<ChainHash> start = seed_;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      tickets.push_back(hasher.submit(batches[i], start, true));
      start = start_after(batches[i]);
    }
    try {
      hasher.wait(tickets.back());
      ADD_FAILURE() << "wait returned after the report threw";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "report failed");
    }
    EXPECT_THROW(hasher.rethrow_if_failed(), std::runtime_error);
    EXPECT_THROW(hasher.submit(batches[0], start, true), std::runtime_error);
  }
  EXPECT_EQ(reported, (std::vector<std::uint64_t>{1, kWindow + 1, 2 * kWindow + 1}));
}

}  // namespace
}  // namespace fj::detail
