#include "journal/chain.h"

#include "journal/hex.h"
#include "journal/internal/endian.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP,
// whose 3.0 series frees and allocates the digest's state at every
// EVP_DigestInit: with a record per digest that cost 40 % of the chain step
// (docs/decisions.md). These keep the state on the stack and run the same
// assembly, with the processor's SHA extensions where present.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fj {
namespace {

[[noreturn]] void digest_failed(const char* what) {
  std::fprintf(stderr, "forkjournal: SHA-256 of the hash chain failed: %s\n", what);
  std::abort();
}

ChainHash digest(std::initializer_list<std::string_view> parts) {
  SHA256_CTX ctx;
  if (SHA256_Init(&ctx) != 1) digest_failed("SHA256_Init");
  for (std::string_view part : parts) {
    if (SHA256_Update(&ctx, part.data(), part.size()) != 1) digest_failed("SHA256_Update");
  }
  ChainHash out{};
  static_assert(sizeof out == SHA256_DIGEST_LENGTH);
  if (SHA256_Final(out.data(), &ctx) != 1) digest_failed("SHA256_Final");
  return out;
}

std::string_view bytes(const ChainHash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

}  // namespace

ChainHash chain_seed(std::string_view journal_id) {
  return digest({"forkjournal chain v1", journal_id});
}

ChainHash chain_next(const ChainHash& previous, std::uint64_t seq, std::string_view record) {
  const auto le = le_bytes(seq);
  // A record of the usual size is hashed as one buffer: SHA256_Update
  // copies short parts into its block buffer one by one, which cost about
  // a tenth of the step.
  constexpr std::size_t kJoined = 256;
  constexpr std::size_t kPrefix = sizeof previous + sizeof le;
  if (record.size() <= kJoined - kPrefix) {
    std::array<char, kJoined> joined;
    std::memcpy(joined.data(), previous.data(), previous.size());
    std::memcpy(joined.data() + previous.size(), le.data(), le.size());
    std::memcpy(joined.data() + kPrefix, record.data(), record.size());
    return digest({std::string_view(joined.data(), kPrefix + record.size())});
  }
  return digest({bytes(previous), std::string_view(le.data(), le.size()), record});
}

std::optional<ChainHash> chain_from_hex(std::string_view hex) {
  ChainHash out{};
  if (!from_hex(hex, out)) return std::nullopt;
  return out;
}

}  // namespace fj
