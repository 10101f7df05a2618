#include "journal/request_window.h"

namespace fj {

bool outside_window(const RequestWindow& window, std::uint64_t held, std::uint64_t stored_ns,
                    std::uint64_t now_ns) noexcept {
  // In whole milliseconds: no product that could overflow for any age limit.
  const bool ahead = stored_ns > now_ns;
  const std::uint64_t age_ms = ahead ? 0 : (now_ns - stored_ns) / 1'000'000;
  const std::uint64_t ahead_ms = ahead ? (stored_ns - now_ns) / 1'000'000 : 0;
  const auto limit = [](std::chrono::milliseconds d) {
    return static_cast<std::uint64_t>(d.count());
  };
  if (window.max_age.count() > 0 && age_ms > limit(window.max_age)) return true;
  // Young; or stamped ahead by less than min_age (a small step of the
  // clock). A stamp further ahead does not hold the count off: the oldest id
  // blocks every newer one, so it would hold it off for the whole step.
  if (window.min_age.count() > 0 && (ahead ? ahead_ms : age_ms) < limit(window.min_age)) {
    return false;
  }
  return window.max_count != 0 && held > window.max_count;
}

}  // namespace fj
