// forkjournal-bench: replay and append speed of a fork journal, measured side
// by side with a bare LMDB scan, SQLite and a mutable-counter file registry;
// and the speed of the hypeman metadata scanner (fj::gc::scan).
#include "bench/commands.h"
#include "bench/first_pass.h"
#include "bench/replay_measures.h"
#include "bench/stop_cleanup.h"
#include "present/usage_errors.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <string_view>

namespace {

// The shape named `text` (any case); nullopt for anything else, a number too.
std::optional<fj::bench::Shape> shape_named(std::string_view text) {
  using fj::bench::Shape;
  for (Shape shape : {Shape::steady, Shape::growing, Shape::soak}) {
    const std::string_view name = fj::bench::shape_name(shape);
    if (std::ranges::equal(text, name, [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return shape;
    }
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fj::bench;
  // First: every thread made later inherits the blocked stop signals.
  if (auto started = start_stop_cleanup(); !started) {
    std::fprintf(stderr, "forkjournal-bench: %s\n", started.error().message.c_str());
    return 2;
  }
  CLI::App app{
      "forkjournal-bench: replay and append speed of a fork journal, side by side with a bare\n"
      "LMDB scan, SQLite and a mutable-counter file registry; and fj::gc::scan over a VM-manager\n"
      "data root. Prints a table (or JSON with --json) on stdout and progress on stderr; works\n"
      "in temporary directories under $TMPDIR and removes them. Exit codes: 0 done, 2 usage or "
      "environment error.",
      "forkjournal-bench"};
  app.require_subcommand(1);

  ReplayArgs replay;
  AppendArgs append;
  ScalingArgs scaling;
  ScanArgs scan;
  ShipArgs ship;
  SizeArgs size;
  std::string probe_journal;
  bool json = false;
  std::function<fj::Result<Report>()> run;

  const auto common = [&](CLI::App* sub, CommonArgs& c) {
    sub->add_option("--templates", c.templates, "Active templates (default 100)")
        ->check(CLI::Range(1u, 1'000'000u));
    sub->add_option("--live-forks", c.live_forks,
                    "Live forks the fork/unfork mix keeps (default 10000)")
        ->check(CLI::Range(0u, 100'000'000u));
    sub->add_option("--repetitions", c.repetitions,
                    "Repetitions per figure after one warm-up, at least 5 (default 5)")
        ->check(CLI::Range(5, 1000));
    sub->add_flag("--json", json, "Print JSON instead of a table");
  };

  CLI::App* r = app.add_subcommand(
      "replay",
      "Replay speed: fj::replay, the bare LMDB scan and SQLite as a fresh process meets them "
      "(page cache warm, then cold), then the warm repeat; fj::audit's first pass, snapshot "
      "boot, memory");
  r->add_option("--events", replay.events, "Events in the journal (at least 100)")
      ->required()
      ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{1'000'000'000}));
  std::string shape_text = "steady";  // a string: bound to the enum, CLI11 reads numbers
  r->add_option("--shape", shape_text,
                "How the journal grows: steady (templates early, live forks hover), growing "
                "(templates all along, live forks climb to the end; default 2000 templates, "
                "40000 live forks) or soak (growing with 20000 templates, 65000 live forks) "
                "(default steady)")
      // The names only: CLI11's CheckedTransformer also took the enum's
      // values (1 for growing) and showed them in its errors.
      ->type_name("ENUM")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return shape_named(text) ? std::string()
                                     : "'" + text + "' is not one of steady, growing, soak";
          },
          "{steady,growing,soak}"));
  common(r, replay.common);
  r->callback([&] {
    replay.shape = *shape_named(shape_text);
    if (r->count("--templates") == 0) {
      // Each template costs an event; the soak shape's 20,000 do not fit a
      // small journal, which then registers one template per event.
      const std::uint32_t wanted = default_templates(replay.shape);
      replay.common.templates =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(wanted, replay.events));
      if (replay.common.templates < wanted) replay.templates_clamped_from = wanted;
    } else if (replay.common.templates > replay.events) {
      throw CLI::ValidationError("--templates", std::to_string(replay.common.templates) +
                                                    " is more than --events " +
                                                    std::to_string(replay.events) +
                                                    " (each template is registered by an event)");
    }
    if (r->count("--live-forks") == 0) replay.common.live_forks = default_live_forks(replay.shape);
    run = [&] { return run_replay(replay); };
  });

  CLI::App* a = app.add_subcommand(
      "append", "Append speed: batches, durable single commits, the file registry");
  a->add_option("--events", append.events, "Events for batch_append_eps (at least 100)")
      ->required()
      ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{1'000'000'000}));
  a->add_option("--clients", append.clients, "Concurrent clients for group_commit_eps (default 64)")
      ->check(CLI::Range(1u, 100'000u));
  a->add_option("--durable-events", append.durable_events,
                "Events for durable_single_eps and registry_file_eps (default 2000; each "
                "costs an fsync)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  common(a, append.common);
  a->callback([&] { run = [&] { return run_append(append); }; });

  CLI::App* s = app.add_subcommand(
      "scaling", "Replay time at N/100, N/10 and N: forkjournal, SQLite, bare LMDB scan");
  // At least 10,000: the smallest point, N/100, then has the 100 events that
  // replay --events asks for; below, a point times a journal of a few events
  // (1 and 10 at N = 100), which is all open and setup.
  s->add_option("--max-events", scaling.max_events,
                "N, the largest journal (at least 10000, so that N/100 has 100 events)")
      ->required()
      ->check(CLI::Range(std::uint64_t{10'000}, std::uint64_t{1'000'000'000}));
  s->add_option("--plot", scaling.plot, "Also write a PNG plot here (needs gnuplot)");
  common(s, scaling.common);
  s->callback([&] { run = [&] { return run_scaling(scaling); }; });

  CLI::App* g = app.add_subcommand(
      "scan", "fj::gc::scan over a generated VM-manager data root: warm, cold (needs root)");
  g->add_option("--instances", scan.instances,
                "Entries under guests/, template sources included (default 100000)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  g->add_option("--templates", scan.templates,
                "Templates, each with a source instance (default 100)")
      ->check(CLI::Range(1u, 1'000'000u));
  g->add_option("--links", scan.links,
                "The forks' memory files: symlink (to the source's absolute path) or hardlink "
                "(default symlink)")
      ->check(CLI::IsMember({"symlink", "hardlink"}));
  g->add_option("--threads", scan.threads,
                "Threads of the scan measured beside a one-thread scan (default: the "
                "library's, " +
                    std::to_string(scan.threads) + ")")
      ->check(CLI::Range(2u, 256u));
  g->add_option("--repetitions", scan.repetitions,
                "Warm runs after one warm-up, and cold runs; at least 5 (default 5)")
      ->check(CLI::Range(5, 1000));
  g->add_flag("--json", json, "Print JSON instead of a table");
  g->callback([&] { run = [&] { return run_scan(scan); }; });

  CLI::App* sh = app.add_subcommand(
      "ship",
      "Shipping to a local nats-server -js (on PATH): catch-up speed of a Shipper, and group "
      "commit with shipping on vs off");
  sh->add_option("--events", ship.events,
                 "Events a Shipper catches up (at least 100; 1000000 for the reference figure)")
      ->required()
      ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{1'000'000'000}));
  sh->add_option("--group-events", ship.group_events,
                 "Forks per group-commit run, shipping on and off (default 2000; each commit "
                 "costs an fsync)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  sh->add_option("--clients", ship.clients, "Concurrent clients for group commit (default 64)")
      ->check(CLI::Range(1u, 100'000u));
  common(sh, ship.common);
  sh->callback([&] { run = [&] { return run_ship(ship); }; });

  CLI::App* z = app.add_subcommand(
      "size",
      "Bytes per event on disk: no request ids, a request id per event (default window, no "
      "window), SQLite; with a breakdown by database");
  z->add_option("--events", size.events, "Events in each journal (default 200000)")
      ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{1'000'000'000}));
  z->add_option("--per-commit", size.per_commit,
                "Events per write transaction, as group commit makes them (default 64)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  z->add_option("--templates", size.templates, "Active templates (default 100)")
      ->check(CLI::Range(1u, 1'000'000u));
  z->add_option("--live-forks", size.live_forks,
                "Live forks the fork/unfork mix keeps (default 10000)")
      ->check(CLI::Range(0u, 100'000'000u));
  z->add_flag("--json", json, "Print JSON instead of a table");
  z->callback([&] { run = [&] { return run_size(size); }; });

  // Internal: the child process measure_replay_memory() runs (not listed in --help).
  CLI::App* probe = app.add_subcommand("rss-probe", "Replay a journal and print its memory use");
  probe->group("");
  probe->add_option("--journal", probe_journal, "Journal directory")->required();

  // Internal: the fresh process of a first-pass figure (bench/first_pass.h).
  std::string first_what, first_path;
  CLI::App* first = app.add_subcommand("first-pass", "Read a journal once and print the time");
  first->group("");
  first->add_option("--what", first_what, "replay, scan, audit or sqlite-replay")->required();
  first->add_option("--path", first_path, "Journal directory (SQLite file for sqlite-replay)")
      ->required();

  // Usage errors in one line, worded as forkjournal's (present/usage_errors.h).
  const auto usage = [&](const std::string& line) {
    std::fprintf(stderr, "forkjournal-bench: %s (see '%s')\n", line.c_str(),
                 fj::help_command(app).c_str());
    return 2;
  };
  if (const auto empty = fj::empty_option_value(app, argc, argv)) return usage(*empty);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RequiredError& e) {
    // No command parsed: CLI11 says "A subcommand is required" also when a
    // word names none.
    if (app.get_subcommands().empty()) {
      const std::vector<std::string> words = app.remaining(true);
      const std::string commands = "replay, append, scaling, scan, ship, size";
      if (!words.empty() && !words.front().starts_with('-')) {
        return usage("unknown command '" + words.front() + "' (commands: " + commands + ")");
      }
      return usage("a command is required (" + commands + ")");
    }
    return usage(e.what());
  } catch (const CLI::ParseError& e) {
    return usage(fj::usage_error(app, e));
  }
  if (probe->parsed()) return run_rss_probe(probe_journal);
  if (first->parsed()) return first_pass_child(first_what, first_path);

  auto report = run();
  // A run cut short by SIGINT or SIGTERM ends here, its error unsaid.
  wait_unless_stopping();
  if (!report) {
    std::fprintf(stderr, "forkjournal-bench: %s\n", report.error().message.c_str());
    return 2;
  }
  if (json) {
    print_json(*report, std::cout);
  } else {
    print_table(*report, std::cout);
  }
  if (!report->failure.empty()) {
    std::cout.flush();
    std::fprintf(stderr, "forkjournal-bench: %s\n", report->failure.c_str());
    return 2;
  }
  return 0;
}
