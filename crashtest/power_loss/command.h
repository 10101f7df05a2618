// forkjournal-crashtest's --power-loss mode: its options, and the hidden
// --power-loss-workload mode the explorer runs under the write recorder.
//
// Errors: run_power_loss prints a one-line error and returns 2 when the run
// cannot be made; it returns 1 when the sync mode broke its promise
// (explorer.h), 0 otherwise.
#pragma once

#include "journal/journal.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace fj::power_loss {

struct PowerLossCli {
  bool power_loss = false;
  bool workload = false;
  SyncMode sync = SyncMode::full;
  bool json = false;
  std::uint64_t states = 2000;
  int requests = 120;
  std::string recorder;
  std::string keep;
  std::string workload_journal;
  std::string workload_data_root;
};

void add_power_loss_options(CLI::App& app, PowerLossCli& cli);

// Runs whichever mode `cli` selected with `seed`.
int run_power_loss(const PowerLossCli& cli, std::uint64_t seed);

}  // namespace fj::power_loss
