#include "gc/internal/evidence.h"

#include "journal/ids.h"

#include <algorithm>
#include <optional>

namespace fj::gc {
namespace {

// Symlinks to symlinks are followed this far through the scan result.
constexpr int kMaxHops = 8;
// Bytes of a symlink target quoted in evidence (a target may be PATH_MAX long
// and hold any byte; it is escaped, and a record's evidence is capped).
constexpr std::size_t kMaxTargetShown = 512;

// X when `path` is guests/X/snapshots/snapshot-latest/memory.
std::optional<std::string_view> instance_of(std::string_view path) {
  constexpr std::string_view prefix = "guests/";
  constexpr std::string_view suffix = "/snapshots/snapshot-latest/memory";
  if (path.size() <= prefix.size() + suffix.size() || !path.starts_with(prefix) ||
      !path.ends_with(suffix)) {
    return std::nullopt;
  }
  const std::string_view id =
      path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  if (id.find('/') != std::string_view::npos) return std::nullopt;
  return id;
}

std::string inode_text(const Memory& m) {
  return "device:inode " + std::to_string(m.device) + ":" + std::to_string(m.inode) +
         ", link count " + std::to_string(m.links);
}

}  // namespace

bool Attribution::references(std::string_view template_id) const {
  return std::binary_search(templates.begin(), templates.end(), template_id);
}

MemoryIndex::MemoryIndex(const Projection& state, const ScanResult& scan) : scan_(scan) {
  for (const Template* t : state.templates()) {
    sources_[t->source.str()].push_back(t);
    add(t->source.view(), *t, "source");
  }
  for (const auto& [fork, t] : state.all_live_forks()) add(fork, *t, "live fork");
}

void MemoryIndex::add_owner(std::vector<Owner>& owners, const std::string& template_id,
                            std::string_view instance, const char* role) {
  for (Owner& o : owners) {
    if (o.template_id != template_id) continue;
    if (o.second.empty() && o.first != instance) {
      o.second = std::string(instance);
      o.second_role = role;
    }
    return;
  }
  owners.push_back(Owner{template_id, std::string(instance), {}, role});
}

void MemoryIndex::add(std::string_view instance, const Template& t, const char* role) {
  const std::string tid = t.id.str();
  const Memory* m = scan_.memory_of(instance);
  if (m != nullptr && (m->kind == MemoryKind::private_file || m->kind == MemoryKind::shared_file)) {
    add_owner(by_inode_[{m->device, m->inode}], tid, instance, role);
  }
  add_owner(by_instance_[std::string(instance)], tid, instance, role);
}

const std::vector<const Template*>& MemoryIndex::templates_of_source(std::string_view id) const {
  static const std::vector<const Template*> none;
  const auto it = sources_.find(id);
  return it == sources_.end() ? none : it->second;
}

bool MemoryIndex::is_source_of(std::string_view id, std::string_view template_id) const {
  const auto& templates = templates_of_source(id);
  return std::any_of(templates.begin(), templates.end(),
                     [&](const Template* t) { return t->id.view() == template_id; });
}

void MemoryIndex::describe(Attribution& a, const std::vector<Owner>& owners,
                           std::string_view self) {
  std::size_t named = 0;
  for (const Owner& o : owners) {
    // An entry never proves itself: name another instance, or skip.
    const bool first_is_self = o.first == self;
    if (first_is_self && o.second.empty()) continue;
    const std::string& instance = first_is_self ? o.second : o.first;
    const char* role = first_is_self ? o.second_role : o.role;
    a.templates.push_back(o.template_id);
    if (named++ == 0) {
      a.evidence += "guests/" + instance + ", " + role + " of template " + o.template_id;
    }
  }
  if (named > 1) a.evidence += " and " + std::to_string(named - 1) + " more";
  std::sort(a.templates.begin(), a.templates.end());
  a.templates.erase(std::unique(a.templates.begin(), a.templates.end()), a.templates.end());
  if (!a.templates.empty()) a.kind = Attribution::Kind::linked;
}

Attribution MemoryIndex::attribute(std::string_view id) const {
  Attribution a;
  a.kind = Attribution::Kind::unattributed;
  a.evidence = memory_path(id);
  std::string at(id);
  for (int hop = 0;; ++hop) {
    const Memory* m = scan_.memory_of(at);
    if (m == nullptr) {
      a.evidence += ": guests/" + at + " is not a directory";
      return a;
    }
    switch (m->kind) {
      case MemoryKind::absent:
        if (hop == 0) a.kind = Attribution::Kind::absent;
        a.evidence += hop == 0 ? ": no memory file" : " (no such file)";
        return a;
      case MemoryKind::unknown:
        a.evidence += ": " + m->detail;
        return a;
      case MemoryKind::private_file:
      case MemoryKind::shared_file: {
        const std::string inode = (hop == 0 ? " is " : ", ") + inode_text(*m);
        if (const auto it = by_inode_.find({m->device, m->inode}); it != by_inode_.end()) {
          Attribution found;
          found.evidence = a.evidence + inode + ", shared with ";
          describe(found, it->second, id);
          if (found.kind == Attribution::Kind::linked) return found;
        }
        if (hop == 0 && m->kind == MemoryKind::private_file) {
          a.kind = Attribution::Kind::private_file;
          a.evidence += ": a private file";
          return a;
        }
        a.evidence += inode + ", no known template's memory";
        return a;
      }
      case MemoryKind::symlink: {
        a.evidence += " -> " + printable(m->target, kMaxTargetShown);
        if (m->resolved.empty()) {
          a.evidence += " (outside the data root)";
          return a;
        }
        const auto target = instance_of(m->resolved);
        if (!target) {
          a.evidence += " (not an instance's memory file)";
          return a;
        }
        if (const auto it = by_instance_.find(*target); it != by_instance_.end()) {
          Attribution found;
          found.evidence = a.evidence + " (the memory of ";
          describe(found, it->second, id);
          if (found.kind == Attribution::Kind::linked) {
            found.evidence += ")";
            return found;
          }
        }
        if (*target == id || hop == kMaxHops) {
          a.evidence += " (a loop or too long a chain)";
          return a;
        }
        at = std::string(*target);
        break;
      }
    }
  }
}

}  // namespace fj::gc
