#include "daemon/health.h"

#include <boost/json/array.hpp>

#include <cstdio>
#include <string>

namespace fj::service {
namespace {

namespace json = boost::json;

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

json::object health_json(const ServiceStats& s, const HealthOptions& options) {
  json::array reasons;

  json::object map{{"used_bytes", s.map_used_bytes},
                   {"size_bytes", s.map_size_bytes},
                   {"limit_bytes", nullptr},
                   {"used_fraction", nullptr}};
  if (s.map_limit_bytes != 0) {
    const double fraction =
        static_cast<double>(s.map_used_bytes) / static_cast<double>(s.map_limit_bytes);
    map["limit_bytes"] = s.map_limit_bytes;
    map["used_fraction"] = fraction;
    if (fraction > options.map_fraction) {
      reasons.emplace_back("map " + fixed(fraction * 100, 1) + "% used, above " +
                           fixed(options.map_fraction * 100, 0) + "% of its limit of " +
                           std::to_string(s.map_limit_bytes) + " bytes");
    }
  }

  const double stuck_after = std::chrono::duration<double>(options.stuck_after).count();
  json::object writer{{"oldest_wait_seconds", s.oldest_wait_seconds},
                      {"stuck_after_seconds", stuck_after}};
  if (s.oldest_wait_seconds > stuck_after) {
    reasons.emplace_back("writer stuck: work has waited " + fixed(s.oldest_wait_seconds, 1) +
                         " s (limit " + fixed(stuck_after, 1) + " s)");
  }

  json::value reader = nullptr;
  if (const auto& r = s.oldest_reader) {
    const double after = std::chrono::duration<double>(options.reader_after).count();
    reader = json::object{{"pid", r->pid},
                          {"txn_lag", r->txn_lag},
                          {"age_seconds", r->age_seconds},
                          {"reader_after_seconds", after}};
    if (r->age_seconds > after) {
      reasons.emplace_back("process " + std::to_string(r->pid) +
                           " has held a read transaction for " + fixed(r->age_seconds, 0) + " s (" +
                           std::to_string(r->txn_lag) + " commits behind; limit " +
                           fixed(after, 0) +
                           " s): the journal's file cannot reuse pages meanwhile");
    }
  }

  json::value reconcile = nullptr;
  if (const auto& r = s.last_reconcile) {
    reconcile =
        json::object{{"based_on_seq", r->based_on_seq}, {"last_seq", r->last_seq},
                     {"age_seconds", r->age_seconds},   {"needs_attention", r->needs_attention},
                     {"unreadable", r->unreadable},     {"leftovers", r->leftovers},
                     {"half_made", r->half_made},       {"skipped", r->skipped},
                     {"dangling", r->dangling},         {"kept", r->kept},
                     {"kept_forks", r->kept_forks},     {"link_mismatches", r->link_mismatches},
                     {"stuck_flags", r->stuck_flags},   {"held", r->held}};
    if (r->needs_attention) {
      reasons.emplace_back("the last reconcile (based on seq " + std::to_string(r->based_on_seq) +
                           ") needs a person: see `forkjournal reconcile --dry-run`");
    }
  }

  json::value age = nullptr;
  if (s.last_commit_age_seconds) age = *s.last_commit_age_seconds;
  return {{"status", reasons.empty() ? "healthy" : "degraded"},
          {"reasons", std::move(reasons)},
          {"head_seq", s.head_seq},
          {"last_commit_age_seconds", std::move(age)},
          {"map", std::move(map)},
          {"writer", std::move(writer)},
          {"oldest_reader", std::move(reader)},
          {"last_reconcile", std::move(reconcile)}};
}

}  // namespace fj::service
