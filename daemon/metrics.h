// forkjournald's Prometheus metrics (text exposition at http://ADDR/metrics,
// served by prometheus-cpp's Exposer). Counters are kept as the service
// reports commits (a ServiceObserver) and the dispatcher answers requests;
// gauges are read from the service when scraped. The names are listed in
// README.md (forkjournald, metrics).
//
// Threads: the observer members run on the writer thread, on_request on the
// dispatcher's; scrapes run on the Exposer's own threads. All members are
// thread-safe.
//
// Lifetime: the Sources are called until close() returns; call close()
// before destroying what they read (the Service).
#pragma once

#include "daemon/observer.h"
#include "daemon/service.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace fj::service {

class Metrics final : public ServiceObserver {
 public:
  struct ProjectionCounts {
    std::uint64_t live_forks = 0;
    std::uint64_t active_templates = 0;
    std::uint64_t retired_templates = 0;
  };
  // What a scrape reads. Either may be empty; projection returns nullopt when
  // the state cannot be read in time (its gauges are then left out).
  struct Sources {
    std::function<ServiceStats()> stats;
    std::function<std::optional<ProjectionCounts>()> projection;
  };

  // Listens on `address`, HOST:PORT with a numeric host (127.0.0.1:9464,
  // [::1]:9464; port 0 picks a free one). Errors: invalid_argument (not
  // HOST:PORT, or a host that is not a loopback address while any_address
  // is false), io_error (the address cannot be listened on).
  static Result<std::unique_ptr<Metrics>> serve(const std::string& address, bool any_address);
  // serve's invalid_argument checks alone, without listening: lets a caller
  // refuse a bad address before it does any other work.
  static Result<void> check_address(const std::string& address, bool any_address);
  ~Metrics() override;

  // HOST:PORT actually listened on.
  std::string address() const;

  void set_sources(Sources sources);
  // One request answered: its op and "ok" or its error code.
  void on_request(std::string_view op, std::string_view result);
  // One connection refused or closed by a limit (DispatcherOptions::on_closed).
  void on_closed(std::string_view reason);
  // Stops serving; waits for the scrapes in progress. Idempotent.
  void close();

  void on_commit(double seconds, std::size_t requests) override;
  void on_appended(EventType type, std::uint64_t count) override;
  void on_reconcile(const gc::ReconcileReport& report) override;

 private:
  struct Impl;
  explicit Metrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fj::service
