// The forkjournal commands. Each returns the process exit code:
// 0 done; 1 refused or findings; 2 usage, environment or corruption error.
// Output goes to stdout; errors go to stderr as one line.
#pragma once

#include "journal/journal.h"

#include <cstdint>
#include <optional>
#include <string>

namespace fj::cli {

struct Options {
  std::string journal;
  SyncMode sync = SyncMode::full;
  bool json = false;
  std::string template_id;
  std::string fork;
  std::string source;
  std::string name;
  std::optional<std::uint64_t> as_of;
  std::optional<std::uint64_t> from;
  std::optional<std::uint64_t> to;
  std::optional<std::string> template_filter;
  std::string data_root;
  bool dry_run = false;
  std::string fork_grace = "10m";  // reconcile: gc::kDefaultForkGrace
  bool follow = false;             // export: keep printing what is committed after the head
  std::string expect_head;         // SEQ:HEX
  std::string dest;                // backup's target directory
  std::string socket;              // forkjournald's socket, for health
  int health_timeout_s = 10;       // health: the whole exchange within this
  std::string nats;                // NATS URLs, comma-separated, for fleet
  int replicas = 1;                // the fleet stream's replicas
  std::string witness;             // NATS URLs of the fleet stream, for audit --witness
};

int cmd_init(const Options& o);
int cmd_register(const Options& o);
int cmd_fork(const Options& o);
int cmd_unfork(const Options& o);
int cmd_retire(const Options& o);
int cmd_counts(const Options& o);
int cmd_log(const Options& o);
int cmd_export(const Options& o);
int cmd_explain(const Options& o);
int cmd_replay(const Options& o);
int cmd_snapshot(const Options& o);
int cmd_stats(const Options& o);
int cmd_reconcile(const Options& o);
int cmd_import(const Options& o);
int cmd_audit(const Options& o);
// Copy --journal into the new or empty directory o.dest (backup), or the
// journal at o.source into the new or empty --journal directory (restore).
int cmd_backup(const Options& o);
int cmd_restore(const Options& o);
// Asks forkjournald on o.socket for its health (docs/protocol.md): 0 healthy,
// 1 degraded, 2 unreachable or not answering (one line on stderr). Needs no
// journal.
int cmd_health(const Options& o);

// Creates the fleet stream on the NATS servers o.nats with o.replicas copies
// (fleet/stream_setup.h); 0 also when it exists as asked, 1 when it exists
// otherwise, 2 when NATS cannot be reached. Needs no journal.
int cmd_fleet_init(const Options& o);
// The fleet stream on o.nats read alone (fleet/fleet_view.h): every
// journal's shipped head and counts (2 when a journal's messages are broken),
// or their check (1 naming each broken journal and seq). 2 when NATS cannot
// be read. Need no journal.
int cmd_fleet_counts(const Options& o);
int cmd_fleet_verify(const Options& o);

// Prints "forkjournal: <message>" to stderr and returns the exit code for it.
int report(const Error& e);

}  // namespace fj::cli
