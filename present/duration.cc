#include "present/duration.h"

#include <regex>

namespace fj::render {

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  static const std::regex re(R"(^(\d{1,9})(ms|s|m|h)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  const long long n = std::stoll(m[1]);
  const std::string unit = m[2];
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  return std::chrono::seconds(n);
}

}  // namespace fj::render
