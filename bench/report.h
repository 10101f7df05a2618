// What a harness command found, printed as a human table or as JSON.
//
// JSON shape (every command):
//   {"command": ..., "commit": "4ef7459" (build_commit.h), "date": "2026-11-29T14:05:09Z" (UTC),
//    "machine": {...}, "parameters": {...},
//    "figures": {NAME: {"median": x, "min": x, "max": x, "unit": ..., "repetitions": n}, ...},
//               (NAME: null when the figure could not be measured here)
//    "ratios": {NAME: x, ...},  (x: null when not finite, e.g. from such a figure)
//    "bars": [{"name": ..., "value": x, "limit": x, "at_least": bool, "pass": bool}, ...],
//    ...command-specific members (extra)}
#pragma once

#include "bench/measure.h"

#include <boost/json.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace fj::bench {

struct Figure {
  std::string name;
  std::string unit;  // "events/s", "s", "MB", "bytes"
  Summary value;
  std::size_t repetitions = 0;
  std::string note;  // what it measures, for the table
  // Non-empty: not measured here, and why in a few words ("needs root"); the
  // figure is null in JSON and "n/a (why)" in the table.
  std::string unavailable;
};

Figure figure(std::string name, std::string unit, const std::vector<double>& values,
              std::string note);

// A figure that could not be measured here (see Figure::unavailable).
Figure unavailable_figure(std::string name, std::string unit, std::string why, std::string note);

// {"median": x, "min": x, "max": x, "unit": ..., "repetitions": n}
boost::json::object to_json(const Figure& f);

// Three significant digits, with thousands grouping from 1000 up.
std::string number(double v);

// `s` padded with spaces to `width` (on the left when `right`).
std::string pad(std::string s, std::size_t width, bool right);

// A bar from the issue: value >= limit (at_least) or value <= limit.
struct Bar {
  std::string name;
  double value = 0;
  double limit = 0;
  bool at_least = true;
  bool pass() const { return at_least ? value >= limit : value <= limit; }
};

struct Report {
  std::string command;
  std::string title;  // first line of the table
  boost::json::object parameters;
  std::vector<Figure> figures;
  std::vector<std::pair<std::string, double>> ratios;
  std::vector<Bar> bars;
  boost::json::object extra;  // merged into the JSON top level
  std::string extra_text;     // printed after the figures in the table
  std::vector<std::string> notes;
  // Non-empty: a step after the measuring failed (scaling's plot). The
  // report is printed all the same, then this line on stderr, exit 2.
  std::string failure;

  const Figure* find(const std::string& name) const;
};

void print_json(const Report& report, std::ostream& out);
void print_table(const Report& report, std::ostream& out);

}  // namespace fj::bench
