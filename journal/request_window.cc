#include "journal/request_window.h"

namespace fj {

bool outside_window(const RequestWindow& window, std::uint64_t held, std::uint64_t stored_ns,
                    std::uint64_t now_ns) noexcept {
  if (window.max_count != 0 && held > window.max_count) return true;
  if (window.max_age.count() <= 0 || stored_ns >= now_ns) return false;
  // In whole milliseconds: no product that could overflow for any max_age.
  const std::uint64_t age_ms = (now_ns - stored_ns) / 1'000'000;
  return age_ms > static_cast<std::uint64_t>(window.max_age.count());
}

}  // namespace fj
