#include "journal/request_window.h"

namespace fj {

bool outside_window(const RequestWindow& window, std::uint64_t held, std::uint64_t stored_ns,
                    std::uint64_t now_ns) noexcept {
  // In whole milliseconds: no product that could overflow for any age limit.
  const std::uint64_t age_ms = stored_ns >= now_ns ? 0 : (now_ns - stored_ns) / 1'000'000;
  const auto limit = [](std::chrono::milliseconds d) {
    return static_cast<std::uint64_t>(d.count());
  };
  if (window.max_age.count() > 0 && age_ms > limit(window.max_age)) return true;
  if (window.min_age.count() > 0 && age_ms < limit(window.min_age)) return false;
  return window.max_count != 0 && held > window.max_count;
}

}  // namespace fj
