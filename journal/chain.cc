#include "journal/chain.h"

#include "journal/hex.h"
#include "journal/internal/endian.h"

#include <openssl/evp.h>

namespace fj {
namespace {

ChainHash digest(std::initializer_list<std::string_view> parts) {
  ChainHash out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (std::string_view part : parts) EVP_DigestUpdate(ctx, part.data(), part.size());
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, out.data(), &size);
  EVP_MD_CTX_free(ctx);
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
  std::string le;
  put_le(le, seq);
  return digest({bytes(previous), le, record});
}

std::optional<ChainHash> chain_from_hex(std::string_view hex) {
  ChainHash out{};
  if (!from_hex(hex, out)) return std::nullopt;
  return out;
}

}  // namespace fj
