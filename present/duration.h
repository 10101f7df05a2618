// Durations as forkjournal and forkjournald take them on the command line:
// digits with a unit of ms, s, m or h (seconds without one), e.g. 30s, 5m.
// Errors: none; an empty optional for text that is not one. Pure.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace fj::render {

// At most nine digits, so that every value fits in milliseconds.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace fj::render
