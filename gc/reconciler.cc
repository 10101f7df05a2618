#include "gc/reconciler.h"

#include "gc/internal/evidence.h"
#include "gc/internal/recheck.h"
#include "journal/events.h"
#include "journal/internal/format.h"

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <cstdint>

namespace fj::gc {
namespace {

std::string metadata_evidence(const std::string& id, const std::string& fork_of) {
  return "guests/" + id + "/metadata.json: ForkOfTemplate=\"" + fork_of + "\"";
}

Event correction(EventType type, std::string tpl, std::string fork, Reason reason,
                 std::string evidence, std::uint64_t time_ns) {
  Event e;
  e.type = type;
  e.origin = Origin::reconcile;
  e.time_ns = time_ns;
  e.template_id = std::move(tpl);
  e.fork = std::move(fork);
  e.reason = reason;
  e.evidence = std::move(evidence);
  if (e.evidence.size() > kMaxEvidenceSize) {  // a record's cap: keep the start
    e.evidence.resize(kMaxEvidenceSize - 3);
    e.evidence += "...";
  }
  return e;
}

const Template* active(const Projection& state, std::string_view id) {
  const Template* t = state.find(id);
  return t != nullptr && t->state == TemplateState::active ? t : nullptr;
}

void dangle(ReconcilePlan& plan, const Projection& state, const Instance& in) {
  const Template* t = state.find(in.fork_of);
  plan.dangling.push_back(
      DanglingFork{in.id, in.fork_of, t == nullptr ? "unknown template" : "retired template"});
}

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The templates a half-made fork's copied metadata names: its TemplateID, its
// ForkOfTemplate, and every template whose source is the instance it names.
std::vector<std::string> named_templates(const HalfMadeFork& h, const Projection& state,
                                         const MemoryIndex& links) {
  std::vector<std::string> out;
  for (const std::string* id : {&h.template_id, &h.fork_of}) {
    if (!id->empty() && state.find(*id) != nullptr) out.push_back(*id);
  }
  for (const Template* t : links.templates_of_source(h.names)) out.push_back(t->id.str());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Scoped fail-closed: what a doubtful entry holds back, from its memory.
// `named` are the templates its own metadata names (a half-made fork's).
Holder hold_for(std::string id, std::string what, const Attribution& a, bool leftover,
                std::vector<std::string> named) {
  Holder h{std::move(id), std::move(what) + "; " + a.evidence, false, std::move(named)};
  switch (a.kind) {
    case Attribution::Kind::linked:
      h.templates.insert(h.templates.end(), a.templates.begin(), a.templates.end());
      break;
    case Attribution::Kind::private_file:
      break;
    case Attribution::Kind::unattributed:
      h.every = true;
      break;
    case Attribution::Kind::absent:
      // A fork's memory may be removed after it started; only a leftover
      // (deleted) or a half-made fork (its metadata names its template) says
      // which templates it could need.
      h.every = !leftover && h.templates.empty();
      break;
  }
  std::sort(h.templates.begin(), h.templates.end());
  h.templates.erase(std::unique(h.templates.begin(), h.templates.end()), h.templates.end());
  return h;
}

// One run's planning, rule by rule (see reconciler.h). Borrows its inputs.
class Planner {
 public:
  Planner(const Projection& state, const ScanResult& scan, std::uint64_t time_ns,
          const RecentForks& recent)
      : state_(state), scan_(scan), recent_(recent), links_(state, scan), time_ns_(time_ns) {
    plan_.based_on_seq = state.seq();
    plan_.scanned = static_cast<std::uint32_t>(scan.scanned());
    for (const UnreadableFile& u : scan.unreadable) {
      if (u.reason == Unreadable::missing) {
        plan_.leftovers.push_back(u.id);
      } else {
        plan_.unreadable.push_back(u);
      }
    }
    for (const HalfMadeFork& h : scan.half_made) {
      plan_.half_made.push_back(HalfMade{h, named_templates(h, state, links_)});
    }
    plan_.skipped = scan.skipped;
  }

  ReconcilePlan run() && {
    live_forks();
    instances();
    doubtful_entries();
    link_counts();
    sweep();
    keep_leftovers();
    return std::move(plan_);
  }

 private:
  void add(EventType type, const std::string& tpl, const std::string& fork, Reason reason,
           std::string evidence) {
    plan_.corrections.push_back(correction(type, tpl, fork, reason, std::move(evidence), time_ns_));
    delta_[tpl] += type == EventType::fork_recovered ? 1 : -1;
  }
  void hold(Holder h) {
    if (h.every || !h.templates.empty()) plan_.holders.push_back(std::move(h));
  }

  // Why a guests/ entry is not an instance.
  std::string not_an_instance(const std::string& id) const {
    if (const UnreadableFile* u = scan_.find_unreadable(id)) {
      return u->reason == Unreadable::missing
                 ? "a leftover (no metadata.json)"
                 : "metadata " + std::string(unreadable_name(u->reason));
    }
    if (const HalfMadeFork* h = scan_.find_half_made(id)) {
      return "half-made (its metadata.json names " + h->names + ")";
    }
    if (const Skipped* s = scan_.find_skipped(id)) return s->why;
    return "not an instance";
  }

  // Rule 2: every live fork.
  void live_forks() {
    for (const auto& [fork_view, tpl] : state_.all_live_forks()) {
      const std::string fork(fork_view);
      const std::string tid = tpl->id.str();
      if (!scan_.has_entry(fork)) {
        if (const auto r = recent_.find(fork, tid)) {
          // Cut short (seq 0), the fork's time is unknown: no age.
          const std::uint64_t age =
              r->seq != 0 && time_ns_ > r->time_ns ? time_ns_ - r->time_ns : 0;
          plan_.pending.push_back(PendingFork{fork, tid, r->seq, age});
        } else {
          add(EventType::fork_lost, tid, fork, Reason::instance_missing,
              "guests/" + fork + ": no such directory");
        }
        continue;
      }
      const Instance* in = scan_.find(fork);
      if (in != nullptr && in->fork_of == tid) continue;  // the common case: nothing to weigh
      const Attribution a = links_.attribute(fork);
      if (in == nullptr) {  // present but not readable as an instance: fail closed
        plan_.kept_forks.push_back(
            KeptFork{fork, tid, not_an_instance(fork), a.references(tid) ? a.evidence : ""});
        continue;
      }
      if (a.references(tid)) {  // the link outranks the metadata
        plan_.link_mismatches.push_back(LinkMismatch{fork, tid, in->fork_of, a.evidence, true});
        continue;
      }
      if (a.kind == Attribution::Kind::unattributed) {  // the memory may still be tid's
        plan_.kept_forks.push_back(
            KeptFork{fork, tid,
                     "ForkOfTemplate names " + (in->fork_of.empty() ? "none" : in->fork_of) +
                         ", but its memory may still be this template's (" + a.evidence + ")",
                     "", true});
        continue;
      }
      const std::string evidence = metadata_evidence(fork, in->fork_of);
      add(EventType::fork_lost, tid, fork, Reason::metadata_disagrees, evidence);
      if (in->fork_of.empty()) continue;
      if (active(state_, in->fork_of) != nullptr) {
        add(EventType::fork_recovered, in->fork_of, fork, Reason::metadata_disagrees, evidence);
      } else {
        dangle(plan_, state_, *in);
      }
    }
  }

  // The templates an instance belongs to: the one it is counted under, the
  // one this run recovers it under, and those it is the source of.
  std::vector<const Template*> own_templates(const Instance& in, const Template* owner,
                                             bool recovering) const {
    std::vector<const Template*> own = links_.templates_of_source(in.id);
    if (owner != nullptr) own.push_back(owner);
    if (recovering) own.push_back(active(state_, in.fork_of));
    return own;
  }

  // Whether guests/<id> is a template's source whose memory is a regular
  // file: that template's own memory. A hardlink has no direction: whoever
  // else shares that file links it, and is weighed as that entry.
  bool source_memory(std::string_view id) const {
    const Memory* m = scan_.memory_of(id);
    return links_.is_source(id) && m != nullptr &&
           (m->kind == MemoryKind::private_file || m->kind == MemoryKind::shared_file);
  }

  // Whether linking `linked` is no finding at all for `in`: it is one of its
  // own templates, or shares a source with one (a source reused for a new
  // template) while `in`'s metadata does not name it, or `in`'s memory is
  // its template's own (source_memory). A fork whose metadata names the
  // other template of a shared source still holds it: the VM manager counts
  // it there.
  bool belongs(const Instance& in, const std::vector<const Template*>& own,
               const Template& linked) const {
    if (source_memory(in.id)) return true;
    return std::any_of(own.begin(), own.end(), [&](const Template* t) {
      return t->id == linked.id || (t->source == linked.source && in.fork_of != linked.id.view());
    });
  }

  // The template among `own` (not one `in` is the source of) whose source's
  // memory itself links `linked`: a template made from a fork of `linked`. A
  // fork of it needs `linked` too, without any wrong link.
  const Template* through(const Instance& in, const std::vector<const Template*>& own,
                          const Template& linked) const {
    for (const Template* t : own) {
      if (t->source.view() != in.id &&
          links_.attribute(t->source.view()).references(linked.id.view())) {
        return t;
      }
    }
    return nullptr;
  }

  // Rule 3: forks on disk the projection lacks, by metadata; stuck source
  // flags; and links to templates an instance is not counted under.
  void instances() {
    for (const Instance& in : scan_.instances) {
      if (in.is_template && !in.template_id.empty()) {
        const Template* t = state_.find(in.template_id);
        if (t == nullptr || t->state == TemplateState::retired) {
          plan_.stuck_flags.push_back(StuckFlag{
              in.id, in.template_id, t == nullptr ? "unknown template" : "retired template"});
        }
      }
      const Template* owner = state_.owner(in.id);
      // A template's source may itself be a fork (of the template it links).
      const bool recovering =
          owner == nullptr && !in.fork_of.empty() && active(state_, in.fork_of) != nullptr;
      const Attribution a = links_.attribute(in.id);
      links(in, a, own_templates(in, owner, recovering), owner != nullptr);
      if (owner == nullptr && !recovering) unattributed(in, a);
      if (owner != nullptr || in.fork_of.empty()) continue;
      if (!recovering) {
        dangle(plan_, state_, in);
        continue;
      }
      add(EventType::fork_recovered, in.fork_of, in.id, Reason::untracked_fork,
          metadata_evidence(in.id, in.fork_of));
    }
  }

  // What an instance's memory links beyond its own templates: each such
  // template is held (active: its sweep; retired: its files), and a link no
  // own template explains is reported.
  void links(const Instance& in, const Attribution& a, const std::vector<const Template*>& own,
             bool live) {
    for (const std::string& id : a.templates) {
      const Template& linked = *state_.find(id);
      if (belongs(in, own, linked)) continue;
      if (const Template* via = through(in, own, linked)) {
        hold(Holder{in.id,
                    "its memory reaches template " + id + " through template " + via->id.str() +
                        "'s source; " + a.evidence,
                    false,
                    {id}});
        continue;
      }
      hold(Holder{in.id, "its memory links template " + id + "; " + a.evidence, false, {id}});
      if (id != in.fork_of) {
        plan_.link_mismatches.push_back(LinkMismatch{in.id, id, in.fork_of, a.evidence, live});
      }
    }
  }

  // An instance counted nowhere, even after this run, whose memory cannot be
  // attributed (not examinable, outside the data root, shared with no known
  // template's) may be any template's fork: doubt keeps, as for unreadable
  // metadata.
  void unattributed(const Instance& in, const Attribution& a) {
    if (a.kind != Attribution::Kind::unattributed || source_memory(in.id)) return;
    hold(Holder{in.id,
                "counted under no template, and its memory may be any template's; " + a.evidence,
                true,
                {}});
  }

  // Rule 6 and the doubtful entries' holds.
  void doubtful_entries() {
    for (const UnreadableFile& u : plan_.unreadable) {
      const Attribution a = links_.attribute(u.id);
      hold(hold_for(u.id, "metadata " + std::string(unreadable_name(u.reason)), a, false, {}));
      if (state_.owner(u.id) != nullptr || links_.is_source(u.id)) continue;
      std::vector<std::string> live;
      for (const std::string& t : a.templates) {
        if (active(state_, t) != nullptr) live.push_back(t);
      }
      if (live.size() == 1)
        add(EventType::fork_recovered, live[0], u.id, Reason::memory_link, a.evidence);
    }
    for (const std::string& id : plan_.leftovers) {
      hold(hold_for(id, "a leftover (no metadata.json)", links_.attribute(id), true, {}));
    }
    for (const HalfMade& h : plan_.half_made) {
      hold(hold_for(h.entry.id, "half-made (its metadata.json names " + h.entry.names + ")",
                    links_.attribute(h.entry.id), false, h.templates));
    }
    // A skipped guests/ entry is never read: it may be any fork.
    for (const Skipped& s : plan_.skipped) hold(Holder{s.name, s.why, true, {}});
  }

  // Rule 7: hardlinks of each template's source memory.
  void link_counts() {
    boost::unordered_flat_map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t,
                              boost::hash<std::pair<std::uint64_t, std::uint64_t>>>
        sharing;
    for (const MemoryRecord& r : scan_.memory) {
      if (r.memory.kind == MemoryKind::shared_file) ++sharing[{r.memory.device, r.memory.inode}];
    }
    for (const Template* t : state_.templates()) {
      const Memory* m = scan_.memory_of(t->source.view());
      if (t->state != TemplateState::active || m == nullptr || m->kind != MemoryKind::shared_file) {
        continue;
      }
      const std::uint64_t found = sharing[{m->device, m->inode}] - 1;
      if (found != m->links - 1) {
        plan_.link_counts.push_back(LinkCount{t->id.str(), t->source.str(), m->links - 1, found});
      }
    }
  }

  // Rule 4: the sweep, and which retired templates' files may go.
  void sweep() {
    boost::unordered_flat_map<std::string, std::vector<std::string>> scoped;
    bool any_every = false;
    for (const Holder& h : plan_.holders) {
      any_every = any_every || h.every;
      for (const std::string& t : h.templates) scoped[t].push_back(h.instance);
    }
    // True (and recorded) when an entry may share t's memory.
    const auto held = [&](const Template& t) {
      const auto it = scoped.find(t.id.str());
      if (it == scoped.end() && !any_every) return false;
      HeldTemplate h{t.id.str(), t.state == TemplateState::retired, {}};
      if (it != scoped.end()) h.holders = std::move(it->second);
      std::sort(h.holders.begin(), h.holders.end());
      h.holders.erase(std::unique(h.holders.begin(), h.holders.end()), h.holders.end());
      plan_.held.push_back(std::move(h));
      return true;
    };
    std::size_t orphans_held = 0;
    for (const Template* t : state_.templates()) {
      if (t->state == TemplateState::retired) {
        if (scan_.has_template_dir(t->id.view()) && !held(*t)) {
          plan_.retired_with_files.push_back(t->id.str());
        }
        continue;
      }
      if (scan_.has_entry(t->source.view())) continue;
      const auto it = delta_.find(t->id.str());
      const std::int64_t forks =
          static_cast<std::int64_t>(t->forks) + (it == delta_.end() ? 0 : it->second);
      if (forks > 0) {
        plan_.kept.push_back(KeptTemplate{
            t->id.str(), t->source.str(), static_cast<std::uint32_t>(forks),
            "source instance " + t->source.str() + " is gone but " +
                plural(static_cast<std::size_t>(forks), "live fork needs", "live forks need") +
                " the template"});
        continue;
      }
      if (held(*t)) {
        ++orphans_held;
        continue;
      }
      Event e;
      e.type = EventType::template_retired;
      e.origin = Origin::sweep;
      e.time_ns = time_ns_;
      e.template_id = t->id.str();
      e.reason = Reason::orphaned;
      plan_.sweeps.push_back(std::move(e));
    }
    if (orphans_held > 0) {
      plan_.sweep_blocked =
          plural(orphans_held, "orphan", "orphans") +
          " not swept: held back by entries that may share its memory (unreadable, leftover, "
          "half-made, skipped, linked, or whose memory cannot be examined)";
    }
  }

  // Whether a holder names template `id` or may be any template's.
  bool may_be_shared(std::string_view id) const {
    return std::any_of(plan_.holders.begin(), plan_.holders.end(), [&](const Holder& h) {
      return h.every || std::find(h.templates.begin(), h.templates.end(), id) != h.templates.end();
    });
  }

  // Why the journal still counts guests/<id>, or empty: a leftover it counts
  // is not the remains of a finished delete, whatever its directory lacks.
  std::string counted(const std::string& id) const {
    if (const Template* t = state_.owner(id)) return "live fork of template " + t->id.str();
    for (const Template* t : links_.templates_of_source(id)) {
      if (t->state == TemplateState::active) return "source of template " + t->id.str();
      if (t->forks > 0 || may_be_shared(t->id.view())) {
        return "source of retired template " + t->id.str() +
               ", which entries may share memory with";
      }
    }
    return "";
  }

  // Moves the leftovers the journal counts to kept_leftovers.
  void keep_leftovers() {
    std::vector<std::string> removable;
    for (std::string& id : plan_.leftovers) {
      std::string why = counted(id);
      if (why.empty()) {
        removable.push_back(std::move(id));
      } else {
        plan_.kept_leftovers.push_back(KeptLeftover{std::move(id), std::move(why)});
      }
    }
    plan_.leftovers = std::move(removable);
  }

  const Projection& state_;
  const ScanResult& scan_;
  const RecentForks& recent_;
  const MemoryIndex links_;
  const std::uint64_t time_ns_;
  ReconcilePlan plan_;
  // Net change per template from the corrections (for the sweep).
  boost::unordered_flat_map<std::string, std::int64_t> delta_;
};

}  // namespace

std::vector<ReconcilePlan::Finding> ReconcilePlan::findings() const {
  return {
      {"unreadable", unreadable.size()},  {"leftover", leftovers.size() + kept_leftovers.size()},
      {"half-made", half_made.size()},    {"skipped", skipped.size()},
      {"dangling", dangling.size()},      {"kept", kept.size()},
      {"kept fork", kept_forks.size()},   {"link mismatch", link_mismatches.size()},
      {"stuck flag", stuck_flags.size()}, {"held", held.size()}};
}

bool ReconcilePlan::needs_attention() const {
  const std::vector<Finding> all = findings();
  return std::any_of(all.begin(), all.end(), [](const Finding& f) { return f.count > 0; });
}

ReconcilePlan plan_reconcile(const Projection& state, const ScanResult& scan, std::uint64_t time_ns,
                             const RecentForks& recent) {
  return Planner(state, scan, time_ns, recent).run();
}

namespace {

// What the events in (after, to] touched, read from the journal.
Result<TouchedSince> touched_since(Reader& reader, std::uint64_t after, std::uint64_t to) {
  TouchedSince touched;
  auto walked = for_each_event(reader, after + 1, to, [&](std::uint64_t, const EventView& e) {
    if (has_fork(e.type)) touched.forks.emplace(e.fork);
    if (!e.template_id.empty()) touched.templates.emplace(e.template_id);
  });
  if (!walked) return walked.error();
  return touched;
}

}  // namespace

std::vector<Event> ReconcileReport::events() const {
  if (!dry_run) return appended;
  std::vector<Event> all = plan.corrections;
  all.insert(all.end(), plan.sweeps.begin(), plan.sweeps.end());
  return all;
}

Result<ReconcileReport> reconcile(Ledger& ledger, const std::string& data_root,
                                  const ReconcileOptions& options) {
  if (auto ok = ledger.catch_up(); !ok) return ok.error();
  auto scanned = scan(data_root, options.scan);
  if (!scanned) return scanned.error();
  const std::uint64_t now = ledger.now();
  // In nanoseconds, saturated: a grace beyond the clock's reach keeps every
  // missing fork pending (nine digits of hours fit in milliseconds only).
  const auto grace_ms =
      static_cast<std::uint64_t>(std::max<std::int64_t>(options.fork_grace.count(), 0));
  const std::uint64_t grace = grace_ms > UINT64_MAX / 1'000'000 ? UINT64_MAX : grace_ms * 1'000'000;
  const Projection& state = ledger.projection();
  auto recent = ledger.journal().read([&](Reader& reader) {
    return find_recent_forks(reader, state.seq(), now > grace ? now - grace : 0);
  });
  if (!recent) return recent.error();
  return apply_plan(ledger, plan_reconcile(state, *scanned, now, *recent), *scanned, options);
}

Result<ReconcileReport> apply_plan(Ledger& ledger, ReconcilePlan plan, const ScanResult& scan,
                                   const ReconcileOptions& options) {
  ReconcileReport report;
  report.plan = std::move(plan);
  report.dry_run = options.dry_run;
  if (options.dry_run) return report;

  const std::uint64_t time_ns = ledger.now();
  auto outcome = ledger.transact([&](const Projection& head, Reader& reader) -> Result<Decision> {
    auto touched = touched_since(reader, report.plan.based_on_seq, head.seq());
    if (!touched) return touched.error();
    Recheck checked = recheck(report.plan, head, *touched, time_ns);
    report.left_alone = std::move(checked.left_alone);
    report.appended = std::move(checked.still_right);
    return std::move(checked.decision);
  });
  if (!outcome) return outcome.error();
  report.committed = outcome->first_seq != 0;
  report.first_seq = outcome->first_seq;
  report.last_seq = outcome->last_seq;

  if (options.remove_template_files) {
    std::vector<std::string> targets = report.plan.retired_with_files;
    for (const Event& e : report.appended) {
      if (e.type == EventType::template_retired && scan.has_template_dir(e.template_id)) {
        targets.push_back(e.template_id);
      }
    }
    for (const std::string& id : targets) {
      // Whatever planned it, files go only with a retired, unused template.
      const Template* t = ledger.projection().find(id);
      if (t == nullptr || t->state != TemplateState::retired || t->forks != 0) continue;
      if (auto ok = options.remove_template_files(id); ok) {
        report.files_removed.push_back(id);
      } else {
        report.file_errors.push_back(id + ": " + ok.error().message);
      }
    }
  }
  return report;
}

}  // namespace fj::gc
