#include "journal/ids.h"

#include "journal/hex.h"

#include <array>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fj {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not a valid,
// shortest-form encoding of a scalar value.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  std::size_t n;
  std::uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((at(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (at(i + k) & 0x3F);
  }
  const bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  if (overlong || surrogate || cp > 0x10FFFF) return 0;
  return n;
}

}  // namespace

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (unsigned char c : s.substr(0, max)) {
    if (c == '\\') {
      out += "\\\\";  // so that a literal "\\x1b" cannot pass for an escaped byte
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      append_hex(out, {&c, 1});
    }
  }
  if (s.size() > max) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

// The id alphabet as a table (for ids shorter than 16 bytes, and builds
// without SSE2): decode checks every replayed id, and a per-byte range test
// compiles to a data-dependent branch that random ids mispredict about every
// other byte (bench/README.md, "Where the replay time goes").
constexpr std::array<std::uint8_t, 256> kIdChar = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = 1;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = 1;
  for (int c = '0'; c <= '9'; ++c) t[c] = 1;
  t['.'] = t['_'] = t['-'] = 1;
  return t;
}();

#if defined(__SSE2__)
namespace {

// Whether all 16 bytes are in the id alphabet: letters (c | 0x20 in a..z),
// '-', '.' and digits (0x2D..0x39 without '/'), and '_'. The compares are
// signed, so bytes from 0x80 up fail every range.
[[gnu::always_inline]] inline bool id_chars_16(const char* p) noexcept {
  const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const auto in = [](__m128i v, char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  const __m128i letter = in(_mm_or_si128(c, _mm_set1_epi8(0x20)), 'a', 'z');
  const __m128i digit_or_dot =
      _mm_andnot_si128(_mm_cmpeq_epi8(c, _mm_set1_epi8('/')), in(c, '-', '9'));
  const __m128i underscore = _mm_cmpeq_epi8(c, _mm_set1_epi8('_'));
  const __m128i ok = _mm_or_si128(_mm_or_si128(letter, digit_or_dot), underscore);
  return _mm_movemask_epi8(ok) == 0xFFFF;
}

}  // namespace
#endif

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxIdSize) return false;
  if (id[0] == '.' && (id.size() == 1 || (id.size() == 2 && id[1] == '.'))) return false;
#if defined(__SSE2__)
  // 16 bytes at a time, the last block overlapping: never reads past the id.
  if (id.size() >= 16) {
    for (std::size_t at = 0; at + 16 < id.size(); at += 16) {
      if (!id_chars_16(id.data() + at)) return false;
    }
    return id_chars_16(id.data() + id.size() - 16);
  }
#endif
  unsigned ok = 1;
  for (unsigned char c : id) ok &= kIdChar[c];
  return ok != 0;
}

std::size_t hidden_control_at(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) {
    return k < s.size() ? static_cast<unsigned char>(s[k]) : 0;
  };
  const unsigned char c = at(i);
  if (c == 0xC2 && at(i + 1) >= 0x80 && at(i + 1) <= 0x9F) return 2;  // U+0080-U+009F
  if (c == 0xD8 && at(i + 1) == 0x9C) return 2;                       // U+061C
  if (c == 0xE2 && at(i + 1) == 0x80) {
    const unsigned char d = at(i + 2);
    if (d == 0x8E || d == 0x8F || (d >= 0xAA && d <= 0xAE)) return 3;  // U+200E-F, U+202A-E
  }
  if (c == 0xE2 && at(i + 1) == 0x81 && at(i + 2) >= 0xA6 && at(i + 2) <= 0xA9) {
    return 3;  // U+2066-U+2069
  }
  return 0;
}

namespace {

// Valid UTF-8 of at most kMaxNameSize bytes without C0 controls or DEL;
// with `strict`, without C1 controls and bidirectional formatting either.
bool is_name(std::string_view name, bool strict) noexcept {
  if (name.size() > kMaxNameSize) return false;
  for (std::size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (strict && hidden_control_at(name, i) != 0) return false;
    const std::size_t n = utf8_sequence(name, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace

bool is_valid_name(std::string_view name) noexcept {
  return is_name(name, true);
}

bool is_recorded_name(std::string_view name) noexcept {
  return is_name(name, false);
}

bool is_valid_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    if (c < 0x20 || c >= 0x7F) return false;
  }
  return true;
}

Result<void> check_request_id(std::string_view id) {
  if (is_valid_request_id(id)) return {};
  return make_error(Errc::invalid_argument, "invalid request_id '" + printable(id) +
                                                "': expected 1-128 bytes of printable ASCII");
}

Result<void> check_id(std::string_view what, std::string_view id) {
  if (is_valid_id(id)) return {};
  return make_error(Errc::invalid_argument,
                    "invalid " + std::string(what) + " '" + printable(id) +
                        "': expected 1-64 characters of [A-Za-z0-9._-], not '.' or '..'");
}

Result<void> check_name(std::string_view name) {
  if (is_valid_name(name)) return {};
  return make_error(Errc::invalid_argument,
                    "invalid name '" + printable(name) +
                        "': expected at most 255 bytes of UTF-8 without control characters "
                        "(C0, DEL, C1) or bidirectional formatting characters");
}

}  // namespace fj
