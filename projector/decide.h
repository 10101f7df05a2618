// Command validation: decide(state, command) -> the events to append, or a
// refusal. Pure: no LMDB, no clock (the caller passes the time). Writers call
// it inside the write transaction, against the projection at the journal's
// head, so the decision and the append are atomic.
#pragma once

#include "journal/error.h"
#include "journal/event.h"
#include "projector/projection.h"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace fj {

struct RegisterTemplate {
  std::string template_id;
  std::string source;
  std::string name;
};
struct AddFork {
  std::string template_id;
  std::string fork;
};
struct RemoveFork {
  std::string template_id;
  std::string fork;
};
struct RetireTemplate {
  std::string template_id;
};

using Command = std::variant<RegisterTemplate, AddFork, RemoveFork, RetireTemplate>;

// The fields of a command, in declaration order (for fingerprints and logs).
inline std::vector<const std::string*> fields(const RegisterTemplate& c) {
  return {&c.template_id, &c.source, &c.name};
}
inline std::vector<const std::string*> fields(const AddFork& c) {
  return {&c.template_id, &c.fork};
}
inline std::vector<const std::string*> fields(const RemoveFork& c) {
  return {&c.template_id, &c.fork};
}
inline std::vector<const std::string*> fields(const RetireTemplate& c) {
  return {&c.template_id};
}

struct Decision {
  std::vector<Event> events;  // to append, in order; empty for an idempotent no-op
  // For a no-op: the seq of the event that already made the command true
  // (an unfork of a fork a reconciler recorded as lost).
  std::uint64_t already_at = 0;
};

// Errors: invalid_argument (a bad id or name, checked first); the refusals
// already_exists (register: id taken), not_found (unknown template, or unfork
// of a fork not live under that template), retired (fork/retire of a retired
// template), already_live (fork: live anywhere), in_use (retire with live
// forks; the message gives the count).
Result<Decision> decide(const Projection& state, const Command& command, Origin origin,
                        std::uint64_t time_ns);

}  // namespace fj
