#include "journal/chain.h"

#include "journal/endian.h"

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

std::string to_hex(const ChainHash& hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t b : hash) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::optional<ChainHash> chain_from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  ChainHash out{};
  for (std::size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (char c : hex.substr(2 * i, 2)) {
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        return std::nullopt;
    }
    out[i] = static_cast<std::uint8_t>(v);
  }
  return out;
}

}  // namespace fj
