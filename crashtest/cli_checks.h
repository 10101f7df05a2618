// forkjournal-crashtest's checks of its command line: whole numbers in words
// a person reads, and the scratch directories it fills (--journal,
// --data-root), which must be new or empty. Pure but for looking at the
// directory.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

namespace fj::crashtest {

// Accepts the decimal digits of a number from `min` up to 2^64 - 1
// ("-1", "1e3" and "0x10" are refused, where CLI11 would take some).
// `description` is shown in --help after the type ("UINT:POSITIVE").
inline CLI::Validator whole_number(std::uint64_t min, const std::string& description) {
  return CLI::Validator(
      [min](std::string& v) -> std::string {
        const std::string want =
            min == 0 ? "a whole number" : "a whole number from " + std::to_string(min);
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
          return "'" + v + "' is not " + want;
        }
        std::uint64_t n = 0;
        for (const char c : v) {
          const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
          if (n > (UINT64_MAX - digit) / 10)
            return "'" + v + "' is out of range (at most 2^64 - 1)";
          n = n * 10 + digit;
        }
        if (n < min) return "'" + v + "' is not " + want;
        return std::string();
      },
      description);
}

// Why `path`, given as `option`, cannot hold the test's own scratch `what`
// ("journal", "data root"), or nothing: it may be missing or an empty
// directory, never anything that holds files (the test would write its fake
// events or guests among them).
inline std::optional<std::string> scratch_dir_problem(const std::string& path,
                                                      const std::string& option,
                                                      const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) return std::nullopt;
  if (ec) return option + " " + path + ": cannot inspect it: " + ec.message();
  const std::string mine = ": the test creates its own scratch " + what +
                           " there and fills it with fake data; give a new or empty directory";
  if (!fs::is_directory(status))
    return option + " " + path + " exists and is not a directory" + mine;
  fs::directory_iterator entries(path, ec);
  if (ec) return option + " " + path + ": cannot list it: " + ec.message();
  if (entries != fs::directory_iterator()) return option + " " + path + " is not empty" + mine;
  return std::nullopt;
}

}  // namespace fj::crashtest
