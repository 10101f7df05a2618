// What a Service tells an observer about the work it commits, so that
// metrics can count exactly what became durable without the service knowing
// how they are exported (daemon/metrics.h is one observer).
//
// Threads: every member is called on the service's writer thread (boot runs
// on the thread calling Service::start), one call at a time, after the work
// it reports has committed. Calls must be quick and must not throw: the
// writer, and every request waiting on it, waits for them.
//
// Lifetime: ServiceOptions::observers are shared with the service and kept
// until the service is destroyed.
#pragma once

#include "gc/reconciler.h"
#include "journal/event.h"

#include <cstddef>
#include <cstdint>

namespace fj::service {

class ServiceObserver {
 public:
  virtual ~ServiceObserver() = default;

  // A write transaction of `requests` requests committed something (an
  // event or a request id); `seconds` is the time from its start to its
  // commit (fsync included). Refused requests are counted in the batch they
  // were refused in; a batch whose requests were all refused or replayed
  // stored nothing and is not reported.
  virtual void on_commit(double seconds, std::size_t requests) = 0;

  // `count` events of `type` were appended by this service (write requests
  // and reconciles; not what other processes appended).
  virtual void on_appended(EventType type, std::uint64_t count) = 0;

  // A reconcile finished (dry run or not). For a committed one, its events
  // have been reported through on_appended before this call.
  virtual void on_reconcile(const gc::ReconcileReport& report) = 0;

  // The journal's head moved to `head_seq`: after a commit of this service
  // (requests, reconciles) and after the writer caught up with what other
  // processes appended. Followers (subscribers, shippers) wake on it instead
  // of polling the journal.
  virtual void on_head(std::uint64_t head_seq) { (void)head_seq; }
};

}  // namespace fj::service
