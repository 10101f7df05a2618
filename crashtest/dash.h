// The crash tests' acknowledgement logs are space-separated fields, one
// request per line; an empty field is written as "-" so that the line keeps
// its field count. Pure.
#pragma once

#include <string>
#include <string_view>

namespace fj::crashtest {

inline std::string dash(std::string_view s) {
  return s.empty() ? "-" : std::string(s);
}

inline std::string undash(std::string_view s) {
  return s == "-" ? "" : std::string(s);
}

}  // namespace fj::crashtest
