#include "crashtest/power_loss/command.h"

#include "crashtest/cli_checks.h"
#include "crashtest/power_loss/explorer.h"
#include "crashtest/power_loss/workload.h"
#include "present/sync_option.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#ifndef FJ_RECORDER_INSTALLED
#define FJ_RECORDER_INSTALLED ""
#endif

namespace fj::power_loss {
namespace {

namespace fs = std::filesystem;

std::string self_path() {
  std::error_code ec;
  return fs::read_symlink("/proc/self/exe", ec).string();
}

// --recorder, else $FJ_RECORDER, else beside the build tree's bin/, else the
// installed one.
std::string find_recorder(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("FJ_RECORDER"); env != nullptr && *env != '\0') return env;
  const fs::path built =
      fs::path(self_path()).parent_path().parent_path() / "lib" / "libfjrecord.so";
  std::error_code ec;
  if (fs::exists(built, ec)) return built.string();
  return FJ_RECORDER_INSTALLED;
}

}  // namespace

void add_power_loss_options(CLI::App& app, PowerLossCli& cli) {
  const std::string group = "Power loss (--power-loss)";
  app.add_flag("--power-loss", cli.power_loss,
               "Instead of the kill -9 loop: record a seeded workload's writes (LD_PRELOAD "
               "recorder), build the crash states a power loss may leave, and check each")
      ->group(group);
  add_sync_option(app, cli.sync)->group(group);
  app.add_option("--states", cli.states,
                 "Check at most this many crash states, a seeded sample (0: all)")
      ->check(crashtest::whole_number(0, ""))
      ->default_val(cli.states)
      ->group(group);
  app.add_option("--requests", cli.requests, "Requests in the recorded workload")
      ->check(CLI::Range(10, 100000))
      ->default_val(cli.requests)
      ->group(group);
  app.add_flag("--json", cli.json,
               "Print {\"sync\",\"states\",\"opened\",\"acked_lost\",\"wrong_counts\","
               "\"refused\",...} instead of text")
      ->group(group);
  app.add_option("--recorder", cli.recorder,
                 "The write recorder library (default: $FJ_RECORDER, the build tree's "
                 "lib/libfjrecord.so, or the installed one)")
      ->group(group);
  app.add_option("--keep", cli.keep,
                 "Keep the trace, the recorded journal, up to 20 failing states (failed-K) and up "
                 "to 20 states that crashed the check (crashed-N, N the state's number in the "
                 "report) in this new directory")
      ->group(group);
  // What the explorer runs under the recorder.
  app.add_flag("--power-loss-workload", cli.workload)->group("");
  app.add_option("--workload-journal", cli.workload_journal)->group("");
  app.add_option("--workload-data-root", cli.workload_data_root)->group("");
}

int run_power_loss(const PowerLossCli& cli, std::uint64_t seed) {
  if (cli.workload) {
    return run_workload(WorkloadOptions{cli.workload_journal, cli.workload_data_root, cli.sync,
                                        seed, cli.requests});
  }
  ExploreOptions options;
  options.sync = cli.sync;
  options.seed = seed;
  options.max_states = cli.states;
  options.requests = cli.requests;
  options.recorder = find_recorder(cli.recorder);
  options.self = self_path();
  options.keep = cli.keep;
  options.progress = !cli.json && ::isatty(2) != 0;
  try {
    const ExploreReport report = explore(options);
    std::cout << (cli.json ? to_json(report) + "\n" : to_text(report)) << std::flush;
    return report.promise_kept() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "forkjournal-crashtest: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace fj::power_loss
