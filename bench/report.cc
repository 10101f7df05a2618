#include "bench/report.h"

#include "bench/build_commit.h"
#include "bench/platform.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace fj::bench {
namespace {

// Now, UTC, as 2026-11-29T14:05:09Z.
std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace

std::string number(double v) {
  if (!std::isfinite(v)) return "n/a";
  if (std::fabs(v) >= 1000) return grouped(static_cast<std::uint64_t>(std::llround(v)));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, std::fabs(v) >= 10 ? "%.1f" : "%.3g", v);
  return buffer;
}

std::string pad(std::string s, std::size_t width, bool right) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

Figure figure(std::string name, std::string unit, const std::vector<double>& values,
              std::string note) {
  const Summary value = summarize(values);
  return Figure{std::move(name), std::move(unit), value, values.size(), std::move(note), ""};
}

Figure unavailable_figure(std::string name, std::string unit, std::string why, std::string note) {
  return Figure{std::move(name), std::move(unit), {}, 0, std::move(note), std::move(why)};
}

boost::json::object to_json(const Figure& f) {
  return {{"median", f.value.median},
          {"min", f.value.min},
          {"max", f.value.max},
          {"unit", f.unit},
          {"repetitions", f.repetitions}};
}

const Figure* Report::find(const std::string& name) const {
  for (const Figure& f : figures) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void print_json(const Report& report, std::ostream& out) {
  const MachineInfo m = machine_info();
  boost::json::object root;
  root["command"] = report.command;
  root["commit"] = build_commit();
  root["date"] = utc_now();
  root["machine"] = {{"cpu", m.cpu}, {"cores", m.cores}, {"os", m.os}, {"kernel", m.kernel}};
  root["parameters"] = report.parameters;
  boost::json::object figures;
  for (const Figure& f : report.figures) {
    if (f.unavailable.empty()) {
      figures[f.name] = to_json(f);
    } else {
      figures[f.name] = nullptr;
    }
  }
  root["figures"] = std::move(figures);
  boost::json::object ratios;
  for (const auto& [name, value] : report.ratios) {
    if (std::isfinite(value)) {
      ratios[name] = value;
    } else {
      ratios[name] = nullptr;
    }
  }
  root["ratios"] = std::move(ratios);
  boost::json::array bars;
  for (const Bar& b : report.bars) {
    bars.push_back({{"name", b.name},
                    {"value", b.value},
                    {"limit", b.limit},
                    {"at_least", b.at_least},
                    {"pass", b.pass()}});
  }
  root["bars"] = std::move(bars);
  boost::json::array notes;
  for (const std::string& n : report.notes) notes.push_back(boost::json::string(n));
  root["notes"] = std::move(notes);
  for (const auto& member : report.extra) root[member.key()] = member.value();
  out << boost::json::serialize(root) << "\n";
}

void print_table(const Report& report, std::ostream& out) {
  const MachineInfo m = machine_info();
  out << report.title << "\n";
  out << "machine: " << m.cpu << ", " << m.cores << " cores, " << m.os << ", " << m.kernel << "\n";
  out << "commit: " << build_commit() << ", " << utc_now() << "\n";
  if (!report.figures.empty()) {
    const bool repeated = std::any_of(report.figures.begin(), report.figures.end(),
                                      [](const Figure& f) { return f.repetitions > 1; });
    if (repeated) {
      out << "each figure: median of " << report.figures.front().repetitions
          << " repetitions after a warm-up, [min - max]\n\n";
    } else {
      out << "each figure: measured once, not repeated\n\n";
    }
    std::size_t name_width = 6;
    std::size_t unit_width = 9;
    for (const Figure& f : report.figures) {
      name_width = std::max(name_width, f.name.size());
      unit_width = std::max(unit_width, f.unit.size());
    }
    out << pad("figure", name_width, false) << "  " << pad("median", 14, true) << "  "
        << pad("min", 12, true) << "  " << pad("max", 12, true) << "  "
        << pad("unit", unit_width, false) << "  what\n";
    for (const Figure& f : report.figures) {
      if (!f.unavailable.empty()) {
        out << pad(f.name, name_width, false) << "  "
            << pad(pad("n/a (" + f.unavailable + ")", 14, true), 42, false) << "  "
            << pad(f.unit, unit_width, false) << "  " << f.note << "\n";
        continue;
      }
      out << pad(f.name, name_width, false) << "  " << pad(number(f.value.median), 14, true) << "  "
          << pad(number(f.value.min), 12, true) << "  " << pad(number(f.value.max), 12, true)
          << "  " << pad(f.unit, unit_width, false) << "  " << f.note << "\n";
    }
  }
  if (!report.extra_text.empty()) out << "\n" << report.extra_text;
  if (!report.ratios.empty()) {
    out << "\nratios\n";
    for (const auto& [name, value] : report.ratios) {
      out << "  " << pad(name, 46, false) << pad(number(value), 12, true) << "\n";
    }
  }
  if (!report.bars.empty()) {
    out << "\nbars (meaningful on a warm journal of a few million events)\n";
    for (const Bar& b : report.bars) {
      out << "  " << pad(b.name, 52, false) << pad(number(b.value), 12, true)
          << (b.at_least ? "  >= " : "  <= ") << pad(number(b.limit), 12, false) << "  "
          << (b.pass() ? "pass" : "MISS") << "\n";
    }
  }
  for (const std::string& n : report.notes) out << "\nnote: " << n << "\n";
}

}  // namespace fj::bench
