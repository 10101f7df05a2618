// Validation of the identifiers and names that events carry. Every write path
// checks its inputs with these before anything is written.
//
//   id:   1-64 bytes of [A-Za-z0-9._-], and not "." or ".."
//   name: 0-255 bytes of valid UTF-8 with no control characters (C0, DEL,
//         C1: so that one event always prints as one line) and no
//         bidirectional formatting characters (which reorder what a terminal
//         shows: a name could pose as another)
#pragma once

#include "journal/error.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace fj {

inline constexpr std::size_t kMaxIdSize = 64;
inline constexpr std::size_t kMaxNameSize = 255;

bool is_valid_id(std::string_view id) noexcept;
bool is_valid_name(std::string_view name) noexcept;
// The rule names were recorded under before C1 controls and bidirectional
// formatting were refused (only C0 and DEL were): what decoding accepts, so
// that no journal written before becomes unreadable.
bool is_recorded_name(std::string_view name) noexcept;
// The length of the C1 control (U+0080-U+009F) or bidirectional formatting
// character (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) whose
// UTF-8 starts at s[i], or 0: what output escapes in a recorded name.
std::size_t hidden_control_at(std::string_view s, std::size_t i) noexcept;
// A client request id: 1-128 bytes of printable ASCII.
bool is_valid_request_id(std::string_view id) noexcept;

// `s` cut to `max` bytes with every byte outside printable ASCII written as
// \xNN and a backslash as \\, then "... (N bytes)" if it was cut: safe to
// put in a one-line message, a log or JSON, and to print to a terminal
// whatever a client or a stream message sent.
std::string printable(std::string_view s, std::size_t max = 80);

// invalid_argument naming `what` ("template id", "fork id") and the value.
Result<void> check_id(std::string_view what, std::string_view id);
Result<void> check_name(std::string_view name);
// invalid_argument naming the request id (is_valid_request_id).
Result<void> check_request_id(std::string_view id);

}  // namespace fj
