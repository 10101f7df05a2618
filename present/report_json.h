// JSON renderings of reconciler and scanner reports, shared by
// `forkjournal reconcile --json` and forkjournald's reconcile op.
#pragma once

#include "gc/reconciler.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <vector>

namespace fj::gc {

// [{"instance", "reason", "detail"}]
boost::json::array to_json(const std::vector<UnreadableFile>& files);
// [{"instance", "template", "reason"}]
boost::json::array to_json(const std::vector<DanglingFork>& forks);
// [{"instance", "linked", "metadata", "evidence", "live"}]
boost::json::array to_json(const std::vector<LinkMismatch>& mismatches);
// based_on_seq, scanned, dry_run, corrections [{type, template, fork, reason,
// evidence}], swept, kept, kept_forks [{fork, template, reason, proven_by}],
// unreadable, dangling, leftovers [id], half_made [{instance, names,
// templates}], holders [{instance, reason, every_template,
// templates}], held [{template, retired, holders [instance]}] (each held
// template is also held by every holder with every_template),
// link_mismatches [{instance, linked, metadata, evidence, live}], link_counts
// [{template, source, links, found}], stuck_flags [{instance, template,
// reason}], sweep_blocked, left_alone, retired_with_files, committed,
// first_seq, last_seq, needs_attention.
boost::json::object to_json(const ReconcileReport& report);

}  // namespace fj::gc
