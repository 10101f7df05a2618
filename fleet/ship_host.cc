#include "fleet/ship_host.h"

#include <cstdio>
#include <string>

namespace fj::fleet {
namespace {

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

Result<void> check_ship_host(std::string_view host) {
  if (host.empty()) return make_error(Errc::invalid_argument, "the host name is empty");
  if (host.size() > kMaxShipHost) {
    return make_error(Errc::invalid_argument, "the host name is " + std::to_string(host.size()) +
                                                  " bytes long; at most " +
                                                  std::to_string(kMaxShipHost) + " are allowed");
  }
  for (std::size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    if (host_char(c)) continue;
    // The byte by its code: a CR or LF written out would break the one-line error.
    char code[8];
    std::snprintf(code, sizeof code, "0x%02X", static_cast<unsigned char>(c));
    return make_error(Errc::invalid_argument,
                      "the host name has byte " + std::string(code) + " at offset " +
                          std::to_string(i) +
                          "; it may hold only letters, digits, '-', '.' and '_'");
  }
  return {};
}

}  // namespace fj::fleet
