#include "cli/table.h"

#include <algorithm>
#include <iostream>

namespace fj::cli {

std::string plural(std::uint64_t n, std::string_view word) {
  std::string s = std::to_string(n) + " " + std::string(word);
  if (n == 1) return s;
  if (word.ends_with('y')) return s.substr(0, s.size() - 1) + "ies";
  return s + "s";
}

void print_table(const std::vector<std::vector<std::string>>& rows,
                 const std::vector<bool>& right_align, std::string_view indent) {
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line(indent);
    for (std::size_t i = 0; i < row.size(); ++i) {
      const std::size_t pad = width[i] - row[i].size();
      if (i > 0) line += "  ";
      if (right_align[i]) line.append(pad, ' ');
      line += row[i];
      if (!right_align[i] && i + 1 < row.size()) line.append(pad, ' ');
    }
    std::cout << line << '\n';
  }
}

}  // namespace fj::cli
