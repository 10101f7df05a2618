// Group commit through the embeddable service (daemon/service.h), the
// measure behind `append`'s group_commit_eps and `ship`'s ship_on_over_off.
// Works in a temporary directory it removes; call from one thread at a time.
#pragma once

#include "fleet/shipper.h"
#include "journal/error.h"

#include <cstdint>
#include <optional>

namespace fj::bench {

struct GroupCommitRun {
  double seconds = 0;
  double events_per_commit = 0;
  // CPU seconds the whole process used meanwhile (getrusage, every thread:
  // the clients, the service's writer, the kernel's side of each fsync).
  double cpu_seconds = 0;
  // The shipper's shipped seq when the clients were done (0 without `ship`):
  // shipping keeps up, or only follows.
  std::uint64_t shipped = 0;
};

// `clients` concurrent clients record forks through the embeddable service in
// full-sync mode, `count` acknowledged forks in all, the service shipping to
// NATS as `ship` says (nullopt: no shipping). Each client is a chain of
// asynchronous calls on one io_context thread, as in an Asio daemon (and in
// forkjournald, whose connections are such chains): a client issues its next
// fork from the completion of the previous one, so it has one request in
// flight at a time. Errors: the service's start, io_error when an append
// failed.
Result<GroupCommitRun> time_group_commit(std::uint64_t count, std::uint32_t clients,
                                         const std::optional<fleet::ShipOptions>& ship = {});

}  // namespace fj::bench
