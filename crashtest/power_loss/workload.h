// The seeded workload the power-loss explorer records: it runs in a process
// of its own under the write recorder (crashtest/recorder), boots the
// embeddable service on an empty journal directory, and sends registers,
// forks, unforks and retires in small concurrent bursts (so that group commit
// batches them), asks for a snapshot a third of the way in and a reconcile
// against `data_root` two thirds of the way in, then stops the service.
//
// Every event it is told is durable becomes a mark in the trace, written
// after the acknowledgement arrived:
//   "A <seq> <type> <origin> <template> <fork> <source>"  ("-" for empty)
// and every snapshot "S <seq>".
//
// Errors: run_workload returns 0, or 1 with a one-line message on stderr
// (the service failed to boot, a request failed other than by refusal, the
// recorder is not loaded).
// Threads: run_workload owns its threads and joins them.
#pragma once

#include "journal/journal.h"

#include <cstdint>
#include <string>

namespace fj::power_loss {

struct WorkloadOptions {
  std::string journal;    // an existing, empty directory
  std::string data_root;  // a data root with guests/, for the reconcile
  SyncMode sync = SyncMode::full;
  std::uint64_t seed = 0;
  int requests = 120;
};

// Fills `data_root` with the instances the workload's reconcile finds: forks
// of templates the workload registers that the journal never heard of, and
// the templates' sources.
void prepare_data_root(const std::string& data_root);

int run_workload(const WorkloadOptions& options);

}  // namespace fj::power_loss
