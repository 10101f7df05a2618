// Lowercase hexadecimal: the one encoder (and its decoder) for every byte
// string the project prints or stores as text (journal ids, chain values,
// escaped bytes in messages). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace fj {

// Appends two lowercase hex digits per byte, most significant nibble first.
void append_hex(std::string& out, std::span<const std::uint8_t> bytes);
std::string to_hex(std::span<const std::uint8_t> bytes);

// Decodes exactly out.size() bytes from 2 * out.size() hex digits (either
// case). False, with `out` unspecified, for any other length or a non-hex
// character.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out);

}  // namespace fj
