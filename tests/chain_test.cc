// The hash chain's values are part of the on-disk format (checkpoints, the
// witness in the fleet stream): these are SHA-256 values computed by another
// implementation (Python's hashlib) from the definition in docs/format.md,
// so a change of the hashing code cannot change them unnoticed.
#include "journal/chain.h"
#include "journal/hex.h"

#include <gtest/gtest.h>

#include <string>

namespace fj {
namespace {

// sha256("forkjournal chain v1" || journal id)
constexpr const char* kSeed = "484d6f50db7a2b20408238824d254efabcbe199e547b313822f1625e5a59b00d";
// sha256(seed || le64(7) || "a short record")
constexpr const char* kNext7 = "fbcfc490a9d5e10a3f42abdace3fe1172c6f9945a91d8a26758bc767186001a1";
// sha256(that || le64(8) || 300 x 'x'): longer than the one-buffer path
constexpr const char* kNext8 = "f5af24c054132b9438791be079dffe43e6eb05d439d88fc1a971218bcbc873f8";

TEST(ChainTest, ValuesMatchAnIndependentSha256) {
  const ChainHash seed = chain_seed("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(to_hex(seed), kSeed);
  const ChainHash next7 = chain_next(seed, 7, "a short record");
  EXPECT_EQ(to_hex(next7), kNext7);
  const ChainHash next8 = chain_next(next7, 8, std::string(300, 'x'));
  EXPECT_EQ(to_hex(next8), kNext8);
}

TEST(ChainTest, EveryInputChangesTheValue) {
  const ChainHash seed = chain_seed("0123456789abcdef0123456789abcdef");
  const ChainHash base = chain_next(seed, 7, "a short record");
  EXPECT_NE(chain_next(seed, 8, "a short record"), base);
  EXPECT_NE(chain_next(seed, 7, "a short recorD"), base);
  EXPECT_NE(chain_next(chain_seed("another journal"), 7, "a short record"), base);
}

}  // namespace
}  // namespace fj
