#include "journal/internal/chain_lanes.h"

#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#include <utility>
#endif

namespace fj::detail {

#if defined(__x86_64__)
namespace {

#define FJ_SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))
#define FJ_SHA_INLINE FJ_SHA_TARGET __attribute__((always_inline)) inline

constexpr std::size_t kBlock = 64;
// A message of up to four blocks: a record of up to 207 bytes after the
// chain value and the seq, which covers every record the journal's ids
// allow in practice; longer ones take chain_next.
constexpr std::size_t kMaxBlocks = 4;
constexpr std::size_t kPrefix = sizeof(ChainHash) + sizeof(std::uint64_t);

// SHA-256's round constants and initial value (FIPS 180-4, 4.2.2 and 5.3.3).
alignas(16) constexpr std::uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
alignas(16) constexpr std::uint32_t kInitial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// One message's padded bytes (FIPS 180-4, 5.1.1).
struct Message {
  alignas(16) unsigned char bytes[kMaxBlocks * kBlock];
  std::size_t blocks = 0;
};

// False when the message needs more than kMaxBlocks blocks.
bool pad(Message& m, const ChainLane& lane) {
  const std::size_t size = kPrefix + lane.record.size();
  m.blocks = (size + 1 + sizeof(std::uint64_t) + kBlock - 1) / kBlock;
  if (m.blocks > kMaxBlocks) return false;
  const std::size_t end = m.blocks * kBlock;
  std::memcpy(m.bytes, lane.chain.data(), lane.chain.size());
  std::memcpy(m.bytes + lane.chain.size(), &lane.seq, sizeof lane.seq);  // x86-64: little-endian
  std::memcpy(m.bytes + kPrefix, lane.record.data(), lane.record.size());
  m.bytes[size] = 0x80;
  std::memset(m.bytes + size + 1, 0, end - size - 1 - sizeof(std::uint64_t));
  const std::uint64_t bits = __builtin_bswap64(static_cast<std::uint64_t>(size) * 8);
  std::memcpy(m.bytes + end - sizeof bits, &bits, sizeof bits);
  return true;
}

// The state as the SHA round instruction takes it: words A, B, E, F in one
// register and C, D, G, H in the other (highest lane first), and the
// block's schedule, four words at a time.
struct Lane {
  __m128i abef;
  __m128i cdgh;
  __m128i w[4];
};

FJ_SHA_INLINE __m128i byte_swap_words() {
  return _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
}

FJ_SHA_INLINE void load_initial(Lane& lane) {
  const __m128i abcd =
      _mm_shuffle_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(kInitial)), 0xB1);
  const __m128i efgh =
      _mm_shuffle_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(kInitial + 4)), 0x1B);
  lane.abef = _mm_alignr_epi8(abcd, efgh, 8);
  lane.cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);
}

FJ_SHA_INLINE void store(const Lane& lane, ChainHash& out) {
  const __m128i feba = _mm_shuffle_epi32(lane.abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(lane.cdgh, 0xB1);
  const __m128i abcd = _mm_blend_epi16(feba, dchg, 0xF0);
  const __m128i efgh = _mm_alignr_epi8(dchg, feba, 8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out.data()),
                   _mm_shuffle_epi8(abcd, byte_swap_words()));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out.data() + 16),
                   _mm_shuffle_epi8(efgh, byte_swap_words()));
}

// Rounds 4G .. 4G+3 of one lane: w[G % 4] becomes schedule words 4G .. 4G+3
// (from the previous sixteen, FIPS 180-4, 6.2.2 step 1).
template <int G>
FJ_SHA_INLINE void rounds(Lane& lane, __m128i k) {
  __m128i& words = lane.w[G % 4];
  if constexpr (G >= 4) {
    __m128i next = _mm_sha256msg1_epu32(words, lane.w[(G + 1) % 4]);
    next = _mm_add_epi32(next, _mm_alignr_epi8(lane.w[(G + 3) % 4], lane.w[(G + 2) % 4], 4));
    words = _mm_sha256msg2_epu32(next, lane.w[(G + 3) % 4]);
  }
  const __m128i wk = _mm_add_epi32(words, k);
  lane.cdgh = _mm_sha256rnds2_epu32(lane.cdgh, lane.abef, wk);
  lane.abef = _mm_sha256rnds2_epu32(lane.abef, lane.cdgh, _mm_shuffle_epi32(wk, 0x0E));
}

// Rounds 4G .. 4G+3 of every lane, the lanes interleaved: while one lane's
// round waits for its last, the other's runs.
template <int Lanes, int G>
FJ_SHA_INLINE void group(Lane* lanes) {
  const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(kRound + 4 * G));
  rounds<G>(lanes[0], k);
  if constexpr (Lanes == 2) rounds<G>(lanes[1], k);
}

template <int Lanes, int... G>
FJ_SHA_INLINE void all_rounds(Lane* lanes, std::integer_sequence<int, G...>) {
  (group<Lanes, G>(lanes), ...);
}

// One block for each of Lanes lanes.
template <int Lanes>
FJ_SHA_INLINE void compress(Lane* lanes, const unsigned char* const* blocks) {
  Lane l[Lanes];  // local, so that the state stays in registers
  for (int i = 0; i < Lanes; ++i) {
    l[i].abef = lanes[i].abef;
    l[i].cdgh = lanes[i].cdgh;
    for (int j = 0; j < 4; ++j) {
      l[i].w[j] = _mm_shuffle_epi8(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[i] + 16 * j)), byte_swap_words());
    }
  }
  all_rounds<Lanes>(l, std::make_integer_sequence<int, 16>{});
  for (int i = 0; i < Lanes; ++i) {
    lanes[i].abef = _mm_add_epi32(lanes[i].abef, l[i].abef);
    lanes[i].cdgh = _mm_add_epi32(lanes[i].cdgh, l[i].cdgh);
  }
}

FJ_SHA_TARGET void hash_pair(const Message& a, const Message& b, ChainHash& out_a,
                             ChainHash& out_b) {
  Lane lanes[2];
  load_initial(lanes[0]);
  load_initial(lanes[1]);
  const std::size_t both = a.blocks < b.blocks ? a.blocks : b.blocks;
  for (std::size_t i = 0; i < both; ++i) {
    const unsigned char* blocks[2] = {a.bytes + i * kBlock, b.bytes + i * kBlock};
    compress<2>(lanes, blocks);
  }
  // The longer message's last blocks alone.
  const Message& longer = a.blocks > b.blocks ? a : b;
  Lane& rest = a.blocks > b.blocks ? lanes[0] : lanes[1];
  for (std::size_t i = both; i < longer.blocks; ++i) {
    const unsigned char* block = longer.bytes + i * kBlock;
    compress<1>(&rest, &block);
  }
  store(lanes[0], out_a);
  store(lanes[1], out_b);
}

bool have_sha_extensions() noexcept {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  if (!(c & bit_SSE4_1) || !(c & bit_SSSE3)) return false;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (b & bit_SHA) != 0;
}

const bool kInterleave = have_sha_extensions();

}  // namespace

bool chain_lanes_interleave() noexcept {
  return kInterleave;
}

void chain_next_pair(const ChainLane& a, const ChainLane& b) {
  Message ma, mb;
  if (kInterleave && pad(ma, a) && pad(mb, b)) {
    hash_pair(ma, mb, a.chain, b.chain);
    return;
  }
  a.chain = chain_next(a.chain, a.seq, a.record);
  b.chain = chain_next(b.chain, b.seq, b.record);
}

#else

bool chain_lanes_interleave() noexcept {
  return false;
}

void chain_next_pair(const ChainLane& a, const ChainLane& b) {
  a.chain = chain_next(a.chain, a.seq, a.record);
  b.chain = chain_next(b.chain, b.seq, b.record);
}

#endif

}  // namespace fj::detail
