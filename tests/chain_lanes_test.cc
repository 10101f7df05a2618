// Two chains stepped at once (journal/internal/chain_lanes.h) must give
// chain_next's values bit for bit, whatever the two records' lengths: the
// same block count or not, and past the four blocks the lanes take. On a
// processor without the SHA extensions both sides are chain_next, and only
// the last test, which says which path ran, checks anything of the lanes.
#include "journal/internal/chain_lanes.h"

#include "journal/hex.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace fj::detail {
namespace {

std::string random_record(std::mt19937_64& rng, std::size_t size) {
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

TEST(ChainLanesTest, EveryPairOfLengthsGivesChainNextsValues) {
  std::mt19937_64 rng(20261130);
  ChainHash a = chain_seed("lane a");
  ChainHash b = chain_seed("lane b");
  ChainHash want_a = a;
  ChainHash want_b = b;
  // Up to 240 bytes: one to four blocks, and past them (chain_next's path).
  for (std::size_t size_a = 0; size_a <= 240; size_a += 3) {
    for (std::size_t size_b = 0; size_b <= 240; size_b += 7) {
      const std::uint64_t seq_a = rng();
      const std::uint64_t seq_b = rng() >> (size_b % 64);
      const std::string rec_a = random_record(rng, size_a);
      const std::string rec_b = random_record(rng, size_b);
      want_a = chain_next(want_a, seq_a, rec_a);
      want_b = chain_next(want_b, seq_b, rec_b);
      chain_next_pair({a, seq_a, rec_a}, {b, seq_b, rec_b});
      ASSERT_EQ(to_hex(a), to_hex(want_a)) << "lane a, records of " << size_a << " and " << size_b;
      ASSERT_EQ(to_hex(b), to_hex(want_b)) << "lane b, records of " << size_a << " and " << size_b;
    }
  }
}

TEST(ChainLanesTest, EveryLengthAtTheBlockEdgesGivesChainNextsValues) {
  // 40 bytes of chain value and seq, 9 of padding: a record of 15 bytes
  // fills one block exactly, 16 needs two, and so on to 207 and 208.
  ChainHash a = chain_seed("edges");
  ChainHash b = chain_seed("edges");
  for (std::size_t size = 0; size <= 260; ++size) {
    const std::string record(size, static_cast<char>('a' + size % 26));
    const ChainHash want = chain_next(a, size, record);
    chain_next_pair({a, size, record}, {b, size, record});
    ASSERT_EQ(to_hex(a), to_hex(want)) << size;
    ASSERT_EQ(a, b) << size;
  }
}

TEST(ChainLanesTest, InterleavesWhereTheKernelReportsTheShaExtensions) {
  // The audit's speed depends on it (docs/decisions.md, "Two chains per
  // core"): a build or a CPU check that silently lost the path would only
  // be slower, so the kernel's view is checked against /proc/cpuinfo.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool sha = false, sse41 = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;) {
      sha = sha || w == "sha_ni";
      sse41 = sse41 || w == "sse4_1";
    }
    break;
  }
#if defined(__x86_64__)
  EXPECT_EQ(chain_lanes_interleave(), sha && sse41);
#else
  EXPECT_FALSE(chain_lanes_interleave());
#endif
}

}  // namespace
}  // namespace fj::detail
