// Text output shared by the forkjournal commands. Writes to std::cout; call
// from the command's thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fj::cli {

// "1 template", "2 templates", "3 anomalies".
std::string plural(std::uint64_t n, std::string_view word);

// Prints rows (the first is the heading) in columns two spaces apart; a
// column with right_align[i] is right-aligned. Rows all have the heading's
// width. `indent` is printed before every line.
void print_table(const std::vector<std::vector<std::string>>& rows,
                 const std::vector<bool>& right_align, std::string_view indent = {});

}  // namespace fj::cli
