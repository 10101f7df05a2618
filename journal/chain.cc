#include "journal/chain.h"

#include "journal/hex.h"
#include "journal/internal/endian.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace fj {
namespace {

[[noreturn]] void digest_failed(const char* what) {
  std::fprintf(stderr, "forkjournal: SHA-256 of the hash chain failed: %s\n", what);
  std::abort();
}

// Fetched once: EVP_sha256() in an EVP_DigestInit_ex looks the algorithm up
// in the provider tables on every call, which cost more than the hashing of
// a short record.
const EVP_MD* sha256() {
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) digest_failed("EVP_MD_fetch");
    return fetched;
  }();
  return md;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// One context per thread, reinitialised for every digest: no allocation per
// record, and no sharing between threads.
EVP_MD_CTX* context() {
  thread_local const std::unique_ptr<EVP_MD_CTX, CtxFree> ctx{EVP_MD_CTX_new()};
  if (!ctx) digest_failed("EVP_MD_CTX_new");
  return ctx.get();
}

ChainHash digest(std::initializer_list<std::string_view> parts) {
  ChainHash out{};
  EVP_MD_CTX* ctx = context();
  // EVP_DigestInit_ex2 with the fetched digest: no provider lookup per
  // record (OpenSSL 3.0 still frees and allocates its small state here).
  if (EVP_DigestInit_ex2(ctx, sha256(), nullptr) != 1) digest_failed("EVP_DigestInit_ex2");
  for (std::string_view part : parts) {
    if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) digest_failed("EVP_DigestUpdate");
  }
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &size) != 1 || size != out.size()) {
    digest_failed("EVP_DigestFinal_ex");
  }
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
  // A record of the usual size goes to SHA-256 in one update of one buffer:
  // each EVP_DigestUpdate passes through the provider and the block buffer,
  // which for three short parts cost about a fifth of the digest.
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
