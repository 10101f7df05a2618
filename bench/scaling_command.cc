// forkjournal-bench scaling: replay time at N/100, N/10 and N for
// forkjournal, SQLite and the bare LMDB scan, as a table and a gnuplot PNG.
#include "bench/commands.h"
#include "bench/replay_measures.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fj::bench {
namespace {

struct Point {
  std::uint64_t events = 0;
  Figure forkjournal, sqlite, scan, rss, rss_end;
};

Result<Point> measure_point(const ScalingArgs& args, std::uint64_t events, Progress& progress) {
  const CommonArgs& a = args.common;
  CorpusOptions options;
  options.spec = WorkloadSpec{events, a.templates, a.live_forks};
  auto corpus = build_corpus(options, progress);
  if (!corpus) return corpus.error();
  const int reps = a.repetitions;
  progress.note("timing " + grouped(events) + " events: fj::replay, SQLite, LMDB scan, memory");
  auto warm = time_warm(*corpus, reps);
  if (!warm) return warm.error();
  auto memory = measure_replay_memory(*corpus, reps);
  if (!memory) return memory.error();
  return Point{events,
               figure("forkjournal_seconds", "s", warm->replay, "fj::replay from seq 1"),
               figure("sqlite_seconds", "s", warm->sqlite_replay, "SQLite replay, decode + evolve"),
               figure("lmdb_scan_seconds", "s", warm->lmdb_scan, "bare LMDB cursor scan"),
               figure("rss_anon_mb", "MB", memory->peak_mb, "peak RssAnon of a replay"),
               figure("rss_anon_end_mb", "MB", memory->end_mb, "RssAnon at its end")};
}

// A gnuplot single-quoted string: everything is literal except a quote, doubled.
std::string gnuplot_quoted(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("''") : std::string(1, ch);
  return out + "'";
}

Result<void> plot(const std::string& gnuplot, const std::vector<Point>& points,
                  const std::string& png) {
  auto dir = TempDir::create("plot");
  if (!dir) return dir.error();
  const std::string data = dir->sub("scaling.dat");
  const std::string script = dir->sub("scaling.gp");
  {
    std::ofstream out(data);
    out << "# events forkjournal_s sqlite_s lmdb_scan_s\n";
    for (const Point& p : points) {
      out << p.events << " " << p.forkjournal.value.median << " " << p.sqlite.value.median << " "
          << p.scan.value.median << "\n";
    }
    if (!out) return make_error(Errc::io_error, "cannot write " + data);
  }
  {
    std::ofstream out(script);
    out << "set terminal pngcairo size 900,600 font ',11'\n"
        << "set output " << gnuplot_quoted(png) << "\n"
        << "set title 'forkjournal-bench scaling: replay time against journal size "
           "(median of repetitions)'\n"
        << "set xlabel 'events in the journal'\nset ylabel 'seconds'\n"
        << "set logscale xy\nset format x '10^{%L}'\nset format y '10^{%L}'\n"
        << "set grid\nset key top left\n"
        << "plot " << gnuplot_quoted(data) << " using 1:2 with linespoints lw 2 pt 7 title "
        << "'forkjournal replay (decode, CRC32C, evolve)', \\\n"
        << "     '' using 1:3 with linespoints lw 2 pt 5 title "
        << "'SQLite WAL replay (same decode + evolve)', \\\n"
        << "     '' using 1:4 with linespoints lw 2 pt 9 title 'bare LMDB cursor scan'\n";
    if (!out) return make_error(Errc::io_error, "cannot write " + script);
  }
  auto ran = run_program({gnuplot, script}, ChildStderr::quoted);
  if (!ran) return ran.error();
  auto size = file_size(png);
  if (!size || *size == 0) return make_error(Errc::io_error, "gnuplot wrote no plot to " + png);
  return {};
}

}  // namespace

Result<Report> run_scaling(const ScalingArgs& args) {
  const std::uint64_t n = args.max_events;
  std::string gnuplot;
  if (!args.plot.empty()) {
    // Checked before measuring, which takes minutes at the sizes that matter.
    const std::filesystem::path dir = std::filesystem::path(args.plot).parent_path().empty()
                                          ? std::filesystem::path(".")
                                          : std::filesystem::path(args.plot).parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      return make_error(
          Errc::invalid_argument,
          "scaling --plot " + args.plot + ": " + dir.string() +
              (std::filesystem::exists(dir, ec) ? " is not a directory" : " does not exist"));
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      return errno_error("scaling --plot " + args.plot + ": cannot write in " + dir.string(),
                         errno);
    }
    gnuplot = find_in_path("gnuplot");
    if (gnuplot.empty()) {
      return make_error(Errc::invalid_argument,
                        "scaling --plot needs gnuplot, which is not on PATH "
                        "(Debian: apt-get install gnuplot-nox)");
    }
  }
  Progress progress;
  std::vector<Point> points;
  for (std::uint64_t events : {n / 100, n / 10, n}) {
    auto p = measure_point(args, events, progress);
    if (!p) return p.error();
    points.push_back(std::move(*p));
  }

  Report r;
  r.command = "scaling";
  r.title = "forkjournal-bench scaling: replay time at " + grouped(n / 100) + ", " +
            grouped(n / 10) + " and " + grouped(n) + " events";
  r.parameters = {{"max_events", n},
                  {"templates", args.common.templates},
                  {"live_forks", args.common.live_forks},
                  {"repetitions", args.common.repetitions}};
  boost::json::array json_points;
  std::ostringstream table;
  table << "each time: median of " << args.common.repetitions
        << " repetitions after a warm-up, in seconds\n\n"
        << pad("events", 12, true) << pad("forkjournal", 14, true) << pad("sqlite", 12, true)
        << pad("lmdb_scan", 12, true) << pad("fj events/s", 14, true)
        << pad("rss_anon_mb", 13, true) << pad("(at end)", 10, true) << "\n";
  for (const Point& p : points) {
    json_points.push_back({{"events", p.events},
                           {"figures",
                            {{p.forkjournal.name, to_json(p.forkjournal)},
                             {p.sqlite.name, to_json(p.sqlite)},
                             {p.scan.name, to_json(p.scan)},
                             {p.rss.name, to_json(p.rss)},
                             {p.rss_end.name, to_json(p.rss_end)}}}});
    table << pad(grouped(p.events), 12, true) << pad(number(p.forkjournal.value.median), 14, true)
          << pad(number(p.sqlite.value.median), 12, true)
          << pad(number(p.scan.value.median), 12, true)
          << pad(number(static_cast<double>(p.events) / p.forkjournal.value.median), 14, true)
          << pad(number(p.rss.value.median), 13, true)
          << pad(number(p.rss_end.value.median), 10, true) << "\n";
  }
  r.extra["points"] = std::move(json_points);
  r.extra_text = table.str();

  // Growth over the last tenfold step (N/10 -> N), where the live set has
  // long reached its size; N/100 -> N/10 is shown for completeness.
  const auto growth = [&](std::size_t from, const Figure Point::*f) {
    return (points[from + 1].*f).value.median / (points[from].*f).value.median;
  };
  for (std::size_t i = 0; i + 1 < points.size(); ++i) {
    const std::string step = grouped(points[i].events) + " -> " + grouped(points[i + 1].events);
    r.ratios.push_back({"forkjournal time growth " + step, growth(i, &Point::forkjournal)});
    r.ratios.push_back({"sqlite time growth " + step, growth(i, &Point::sqlite)});
    r.ratios.push_back({"lmdb_scan time growth " + step, growth(i, &Point::scan)});
    r.ratios.push_back({"rss_anon_mb growth " + step, growth(i, &Point::rss)});
  }
  r.bars = {
      {"forkjournal time growth N/10 -> N (10x events) <= 12x", growth(1, &Point::forkjournal), 12,
       false},
      {"rss_anon_mb growth N/10 -> N <= 1.1x (flat)", growth(1, &Point::rss), 1.1, false},
  };
  if (!args.plot.empty()) {
    progress.note("plotting " + args.plot);
    // The figures took long to make: printed all the same.
    if (auto ok = plot(gnuplot, points, args.plot); ok) {
      r.extra["plot"] = args.plot;
    } else {
      r.failure = "scaling --plot " + args.plot + ": " + ok.error().message;
    }
  }
  progress.note("done");
  return r;
}

}  // namespace fj::bench
