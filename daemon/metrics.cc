#include "daemon/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

namespace fj::service {
namespace {

namespace pm = prometheus;

pm::MetricFamily gauge_family(std::string name, std::string help) {
  pm::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = pm::MetricType::Gauge;
  return f;
}

void add_gauge(pm::MetricFamily& f, double value,
               std::vector<pm::ClientMetric::Label> labels = {}) {
  pm::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

// Shipping to NATS (--ship): gauges, and the shipper's own running counts
// of publishes exposed as one counter family.
void ship_families(const fleet::ShipState& ship, std::vector<pm::MetricFamily>& out) {
  const auto one = [&](const char* name, const char* help, double value) {
    out.push_back(gauge_family(name, help));
    add_gauge(out.back(), value);
  };
  one("forkjournal_ship_shipped_seq", "Seq of the newest event the fleet stream holds",
      static_cast<double>(ship.shipped_seq));
  one("forkjournal_ship_lag_events", "Events in the journal not yet in the fleet stream",
      static_cast<double>(ship.lag_events));
  one("forkjournal_ship_lag_seconds",
      "Age of the oldest event not yet in the fleet stream (0: none)", ship.lag_seconds);
  one("forkjournal_ship_connected", "1 while connected to a NATS server", ship.connected ? 1 : 0);
  one("forkjournal_ship_halted",
      "1 when shipping stopped because the stream disagrees with the journal", ship.halted ? 1 : 0);
  pm::MetricFamily publishes;
  publishes.name = "forkjournal_ship_publishes_total";
  publishes.help =
      "Publishes to the fleet stream by result: ok, duplicate (already stored), conflict (another "
      "incarnation stored first) or error";
  publishes.type = pm::MetricType::Counter;
  for (const auto& [result, count] :
       {std::pair{"ok", ship.published}, std::pair{"duplicate", ship.duplicates},
        std::pair{"conflict", ship.conflicts}, std::pair{"error", ship.failures}}) {
    pm::ClientMetric m;
    m.label = {{"result", result}};
    m.counter.value = static_cast<double>(count);
    publishes.metric.push_back(std::move(m));
  }
  out.push_back(std::move(publishes));
}

// A counter family's HELP and TYPE lines while it has no series yet:
// prometheus-cpp's Family leaves a family without series out of a scrape,
// so without this a family whose labels come from events (corrections)
// would be missing until its first event, and a reader could not tell a
// daemon that counts none from one that does not count them at all. It is
// registered after the registry and marked filled before the family's first
// series is added, so that no scrape shows the family twice.
class EmptyCounterFamily final : public pm::Collectable {
 public:
  EmptyCounterFamily(std::string name, std::string help) {
    family_.name = std::move(name);
    family_.help = std::move(help);
    family_.type = pm::MetricType::Counter;
  }
  // The family has a series now: this collectable goes quiet for good.
  void filled() { filled_.store(true); }

  std::vector<pm::MetricFamily> Collect() const override {
    if (filled_.load()) return {};
    return {family_};
  }

 private:
  pm::MetricFamily family_;
  std::atomic<bool> filled_{false};
};

constexpr const char* kCorrectionsName = "forkjournal_corrections_total";
constexpr const char* kCorrectionsHelp =
    "Corrections and sweeps reconciles committed, by event type and reason";

// The gauges, read from the sources at each scrape.
class Gauges final : public pm::Collectable {
 public:
  void set(Metrics::Sources sources) {
    std::lock_guard lock(mu_);
    sources_ = std::move(sources);
  }

  std::vector<pm::MetricFamily> Collect() const override {
    std::lock_guard lock(mu_);
    std::vector<pm::MetricFamily> out;
    if (sources_.stats) {
      const ServiceStats s = sources_.stats();
      const auto one = [&](const char* name, const char* help, double value) {
        out.push_back(gauge_family(name, help));
        add_gauge(out.back(), value);
      };
      one("forkjournal_head_seq", "Seq of the newest event in the journal",
          static_cast<double>(s.head_seq));
      one("forkjournal_snapshot_seq", "Seq of the newest snapshot this daemon wrote",
          static_cast<double>(s.snapshot_seq));
      one("forkjournal_map_used_bytes", "Size of data.mdb: LMDB pages in use, free ones included",
          static_cast<double>(s.map_used_bytes));
      one("forkjournal_map_size_bytes", "Size of the LMDB map now (it doubles when full)",
          static_cast<double>(s.map_size_bytes));
      if (s.map_limit_bytes != 0) {
        one("forkjournal_map_limit_bytes", "Size the LMDB map may grow to (--max-map-size)",
            static_cast<double>(s.map_limit_bytes));
      }
      one("forkjournal_writer_oldest_wait_seconds",
          "How long the oldest unfinished work has waited on the writer (0: idle)",
          s.oldest_wait_seconds);
      if (s.last_commit_age_seconds) {
        one("forkjournal_last_commit_age_seconds", "Time since the last commit",
            *s.last_commit_age_seconds);
      }
      if (s.ship) ship_families(*s.ship, out);
    }
    if (sources_.projection) {
      if (const auto p = sources_.projection()) {
        out.push_back(gauge_family("forkjournal_live_forks", "Live forks over all templates"));
        add_gauge(out.back(), static_cast<double>(p->live_forks));
        out.push_back(gauge_family("forkjournal_templates", "Registered templates by state"));
        add_gauge(out.back(), static_cast<double>(p->active_templates), {{"state", "active"}});
        add_gauge(out.back(), static_cast<double>(p->retired_templates), {{"state", "retired"}});
      }
    }
    return out;
  }

 private:
  mutable std::mutex mu_;  // the Exposer may scrape from several threads
  Metrics::Sources sources_;
};

// The metrics server's threads, each serving one connection at a time.
constexpr int kExposerThreads = 4;
// How long the server waits on one read or write of a connection.
constexpr std::chrono::milliseconds kRequestTimeout{5000};

pm::Histogram::BucketBoundaries commit_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

pm::Histogram::BucketBoundaries batch_buckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
}

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<pm::Registry> registry = std::make_shared<pm::Registry>();
  std::shared_ptr<Gauges> gauges = std::make_shared<Gauges>();
  std::mutex exposer_mu;
  std::unique_ptr<pm::Exposer> exposer;  // guarded by exposer_mu
  std::string address;

  pm::Family<pm::Counter>& appended =
      pm::BuildCounter()
          .Name("forkjournal_events_appended_total")
          .Help("Events this daemon appended, by type (requests and reconciles)")
          .Register(*registry);
  pm::Family<pm::Counter>& requests =
      pm::BuildCounter()
          .Name("forkjournal_requests_total")
          .Help(
              "Requests answered, and error lines a limit sent (too_large, timeout, busy), by op "
              "(invalid: the line names no known op) and result (ok or the error code)")
          .Register(*registry);
  pm::Family<pm::Counter>& closed =
      pm::BuildCounter()
          .Name("forkjournal_connections_closed_total")
          .Help(
              "Connections refused or closed by a limit, by reason: max_connections, too_large, "
              "line_timeout, idle_timeout, write_timeout, too_slow")
          .Register(*registry);
  pm::Family<pm::Counter>& reconciles = pm::BuildCounter()
                                            .Name("forkjournal_reconcile_runs_total")
                                            .Help("Reconciles finished, by dry_run")
                                            .Register(*registry);
  pm::Family<pm::Counter>& corrections =
      pm::BuildCounter().Name(kCorrectionsName).Help(kCorrectionsHelp).Register(*registry);
  std::shared_ptr<EmptyCounterFamily> no_corrections =
      std::make_shared<EmptyCounterFamily>(kCorrectionsName, kCorrectionsHelp);
  pm::Family<pm::Counter>& attention =
      pm::BuildCounter()
          .Name("forkjournal_reconcile_needs_attention_total")
          .Help("Reconciles (not dry runs) whose findings need a person")
          .Register(*registry);
  pm::Histogram& commit_duration =
      pm::BuildHistogram()
          .Name("forkjournal_commit_duration_seconds")
          .Help("Time of one write transaction of requests, from start to durable commit")
          .Register(*registry)
          .Add({}, commit_buckets());
  pm::Histogram& batch_size = pm::BuildHistogram()
                                  .Name("forkjournal_commit_batch_size")
                                  .Help("Requests per write transaction (group commit)")
                                  .Register(*registry)
                                  .Add({}, batch_buckets());
  std::array<pm::Counter*, kMaxEventType + 1> by_type{};

  Impl() {
    for (std::uint8_t t = 1; t <= kMaxEventType; ++t) {
      by_type[t] = &appended.Add({{"type", std::string(type_name(static_cast<EventType>(t)))}});
    }
    // Every reason from the start, so that an alert sees the first one.
    for (const char* reason : {"max_connections", "too_large", "line_timeout", "idle_timeout",
                               "write_timeout", "too_slow"}) {
      closed.Add({{"reason", reason}});
    }
    reconciles.Add({{"dry_run", "false"}});
    reconciles.Add({{"dry_run", "true"}});
    attention.Add({});
  }
};

namespace {

struct Address {
  std::string host;  // without brackets
  std::string port;
  boost::asio::ip::address ip;
};

Result<Address> parse_address(const std::string& address, bool any_address) {
  const auto colon = address.rfind(':');
  const auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument, "--metrics '" + address + "': " + why);
  };
  if (colon == std::string::npos || colon == 0) return bad("not HOST:PORT");
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(host, ec);
  if (ec) return bad("the host is not a numeric IP address");
  if (!ip.is_loopback() && !any_address) {
    return bad(
        "not a loopback address; the metrics are unauthenticated (add "
        "--metrics-any-address to serve them there)");
  }
  return Address{std::move(host), port, ip};
}

// civetweb only says that it could not bind; a bind of our own names why: the
// address in use, or a family the service manager forbids (the packaged
// unit's RestrictAddressFamilies=AF_UNIX). `fallback` when ours succeeds.
std::string why_not_bound(const Address& at, std::string fallback) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io);
  const boost::asio::ip::tcp::endpoint endpoint(at.ip,
                                                static_cast<unsigned short>(std::stoul(at.port)));
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  return ec ? ec.message() : fallback;
}

}  // namespace

Result<void> Metrics::check_address(const std::string& address, bool any_address) {
  if (auto parsed = parse_address(address, any_address); !parsed) return parsed.error();
  return {};
}

Result<std::unique_ptr<Metrics>> Metrics::serve(const std::string& address, bool any_address) {
  auto parsed = parse_address(address, any_address);
  if (!parsed) return parsed.error();
  const auto& [host, port, ip] = *parsed;
  auto impl = std::make_unique<Impl>();
  try {
    // civetweb's defaults (prometheus-cpp's: 2 threads; civetweb's: a 30 s
    // timeout for each read and write) let two connections that never
    // finish their request headers hold every scrape for 30 s. More threads
    // and a short timeout bound that: a scrape is a few kilobytes over
    // loopback, far under 5 s, and Prometheus' default scrape timeout is 10 s.
    impl->exposer = std::make_unique<pm::Exposer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", std::to_string(kExposerThreads),
        "request_timeout_ms", std::to_string(kRequestTimeout.count())});
  } catch (const std::exception& e) {
    return make_error(Errc::io_error, "cannot serve metrics on " + address + ": " +
                                          why_not_bound(*parsed, e.what()));
  }
  const auto ports = impl->exposer->GetListeningPorts();
  const std::string shown = ip.is_v6() ? "[" + host + "]" : host;
  impl->address = shown + ":" + (ports.empty() ? port : std::to_string(ports.front()));
  impl->exposer->RegisterCollectable(impl->registry);
  // After the registry: a scrape collects in this order (EmptyCounterFamily).
  impl->exposer->RegisterCollectable(impl->no_corrections);
  impl->exposer->RegisterCollectable(impl->gauges);
  return std::unique_ptr<Metrics>(new Metrics(std::move(impl)));
}

Metrics::Metrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Metrics::~Metrics() {
  close();
}

std::string Metrics::address() const {
  return impl_->address;
}

void Metrics::set_sources(Sources sources) {
  impl_->gauges->set(std::move(sources));
}

void Metrics::close() {
  std::lock_guard lock(impl_->exposer_mu);
  impl_->exposer.reset();
}

void Metrics::on_request(std::string_view op, std::string_view result) {
  impl_->requests.Add({{"op", std::string(op)}, {"result", std::string(result)}}).Increment();
}

void Metrics::on_closed(std::string_view reason) {
  impl_->closed.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::on_commit(double seconds, std::size_t requests) {
  impl_->commit_duration.Observe(seconds);
  impl_->batch_size.Observe(static_cast<double>(requests));
}

void Metrics::on_appended(EventType type, std::uint64_t count) {
  const auto t = static_cast<std::uint8_t>(type);
  if (t < impl_->by_type.size() && impl_->by_type[t] != nullptr) {
    impl_->by_type[t]->Increment(static_cast<double>(count));
  }
}

void Metrics::on_reconcile(const gc::ReconcileReport& report) {
  impl_->reconciles.Add({{"dry_run", report.dry_run ? "true" : "false"}}).Increment();
  if (report.dry_run) return;
  if (report.plan.needs_attention()) impl_->attention.Add({}).Increment();
  if (!report.committed) return;
  for (const Event& e : report.appended) {
    impl_->no_corrections->filled();  // before the series exists: never both in a scrape
    impl_->corrections
        .Add({{"type", std::string(type_name(e.type))},
              {"reason", std::string(reason_name(e.reason))}})
        .Increment();
  }
}

}  // namespace fj::service
