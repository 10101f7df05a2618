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
#include <string>
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

  ChainHash seed_ = chain_seed("chain hasher test");
  std::vector<std::string> records_;
  std::map<std::uint64_t, ChainHash> stored_;
  // What one thread hashing every record in order gives each seq.
  std::vector<std::pair<ChainHash, CheckpointCheck>> want_;
};

TEST_F(ChainHasherTest, BatchesHashedOutOfTurnGetTheValuesOfAnInOrderWalk) {
  // A first batch of 40 windows keeps the worker busy while the walker,
  // waiting for it, hashes the later batches whose start it knows: after a
  // good checkpoint, after a wrong one; not the one after a missing one.
  const std::uint64_t a = 40 * kWindow;
  build(a + 4 * kWindow + 52, {a + 2 * kWindow}, {a + 3 * kWindow});
  std::vector<std::vector<ChainStep>> batches = {
      steps(1, a),
      steps(a + 1, a + kWindow),
      steps(a + kWindow + 1, a + 2 * kWindow),
      steps(a + 2 * kWindow + 1, a + 3 * kWindow),
      steps(a + 3 * kWindow + 1, a + 4 * kWindow),
      steps(a + 4 * kWindow + 1, a + 4 * kWindow + 52),
  };
  ChainHasher hasher(seed_);
  std::vector<std::uint64_t> tickets;
  std::optional<ChainHash> start = seed_;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    tickets.push_back(hasher.submit(batches[i], start, i + 1 < batches.size()));
    start = start_after(batches[i]);
  }
  for (std::uint64_t ticket : tickets) hasher.wait(ticket);

  std::map<CheckpointCheck, int> checks;
  for (const auto& batch : batches) {
    for (const ChainStep& got : batch) {
      ASSERT_EQ(got.chain, want_[got.seq - 1].first) << "seq " << got.seq;
      ASSERT_EQ(got.check, want_[got.seq - 1].second) << "seq " << got.seq;
      ++checks[got.check];
    }
  }
  EXPECT_EQ(checks[CheckpointCheck::good], 42);
  EXPECT_EQ(checks[CheckpointCheck::mismatch], 1);
  EXPECT_EQ(checks[CheckpointCheck::missing], 1);
  EXPECT_EQ(hasher.chain(), want_.back().first);
}

}  // namespace
}  // namespace fj::detail
