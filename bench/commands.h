// The forkjournal-bench commands. Each builds what it measures in temporary
// directories (removed when it returns, also on error), prints progress on
// stderr, and returns a Report; errors name the step that failed.
#pragma once

#include "bench/report.h"
#include "bench/workload.h"
#include "gc/scanner.h"
#include "journal/error.h"

#include <cstdint>
#include <string>

namespace fj::bench {

struct CommonArgs {
  std::uint32_t templates = 100;
  std::uint32_t live_forks = 10'000;
  int repetitions = 5;
};

struct ReplayArgs {
  CommonArgs common;
  std::uint64_t events = 0;
  Shape shape = Shape::steady;  // also picks the default templates and live forks
  // Non-zero: the shape's default templates, more than the events, which
  // common.templates holds instead (said in the report).
  std::uint32_t templates_clamped_from = 0;
};

struct AppendArgs {
  CommonArgs common;
  std::uint64_t events = 0;
  std::uint32_t clients = 64;  // for group_commit_eps (through the embeddable service)
  std::uint64_t durable_events = 2'000;
};

struct ScalingArgs {
  CommonArgs common;
  std::uint64_t max_events = 0;
  std::string plot;  // PNG path; empty: no plot
};

struct ScanArgs {
  std::uint64_t instances = 100'000;
  std::uint32_t templates = 100;
  std::string links = "symlink";  // the forks' memory files: "symlink" or "hardlink"
  int repetitions = 5;
  unsigned threads = gc::ScanOptions{}.threads;  // measured beside 1 thread
};

struct ShipArgs {
  CommonArgs common;
  std::uint64_t events = 0;            // caught up by a Shipper
  std::uint64_t group_events = 2'000;  // forks per group-commit run, shipping on and off
  std::uint32_t clients = 64;
};

struct SizeArgs {
  std::uint64_t events = 200'000;
  std::uint64_t per_commit = 64;  // events per write transaction
  std::uint32_t templates = 100;
  std::uint32_t live_forks = 10'000;
};

// Events per transaction for batch_append_eps.
inline constexpr std::size_t kAppendBatch = 10'000;

Result<Report> run_replay(const ReplayArgs& args);
Result<Report> run_append(const AppendArgs& args);
Result<Report> run_scaling(const ScalingArgs& args);
Result<Report> run_scan(const ScanArgs& args);
Result<Report> run_size(const SizeArgs& args);
// Needs nats-server on PATH: started on a free loopback port, stopped at the end.
Result<Report> run_ship(const ShipArgs& args);

}  // namespace fj::bench
