#include "projector/decide.h"

namespace fj {
namespace {

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

Error refuse(Errc code, std::string message) {
  return make_error(code, std::move(message));
}

Result<const Template*> active_template(const Projection& state, std::string_view id) {
  const Template* t = state.find(id);
  if (t == nullptr) return refuse(Errc::not_found, "template " + quoted(id) + " is not registered");
  if (t->state == TemplateState::retired) {
    return refuse(Errc::retired, "template " + quoted(id) + " is retired");
  }
  return t;
}

struct Decider {
  const Projection& state;
  Origin origin;
  std::uint64_t time_ns;

  Event event(EventType type, std::string template_id) const {
    Event e;
    e.type = type;
    e.origin = origin;
    e.time_ns = time_ns;
    e.template_id = std::move(template_id);
    return e;
  }

  Result<Decision> operator()(const RegisterTemplate& c) const {
    if (auto ok = check_id("template id", c.template_id); !ok) return ok.error();
    if (auto ok = check_id("source id", c.source); !ok) return ok.error();
    if (auto ok = check_name(c.name); !ok) return ok.error();
    if (state.find(c.template_id) != nullptr) {
      return refuse(Errc::already_exists,
                    "template " + quoted(c.template_id) + " is already registered");
    }
    Event e = event(EventType::template_registered, c.template_id);
    e.source = c.source;
    e.name = c.name;
    return Decision{{std::move(e)}, 0};
  }

  Result<Decision> operator()(const AddFork& c) const {
    if (auto ok = check_id("template id", c.template_id); !ok) return ok.error();
    if (auto ok = check_id("fork id", c.fork); !ok) return ok.error();
    if (auto t = active_template(state, c.template_id); !t) return t.error();
    if (const Template* owner = state.owner(c.fork)) {
      return refuse(
          Errc::already_live,
          "fork " + quoted(c.fork) + " is already live under template " + quoted(owner->id.view()));
    }
    Event e = event(EventType::fork_added, c.template_id);
    e.fork = c.fork;
    return Decision{{std::move(e)}, 0};
  }

  Result<Decision> operator()(const RemoveFork& c) const {
    if (auto ok = check_id("template id", c.template_id); !ok) return ok.error();
    if (auto ok = check_id("fork id", c.fork); !ok) return ok.error();
    if (state.find(c.template_id) == nullptr) {
      return refuse(Errc::not_found, "template " + quoted(c.template_id) + " is not registered");
    }
    const Template* owner = state.owner(c.fork);
    if (owner == nullptr) {
      if (auto lost = state.lost(c.fork); lost && lost->first->id.view() == c.template_id) {
        return Decision{{}, lost->second};
      }
      return refuse(Errc::not_found, "fork " + quoted(c.fork) + " is not live under template " +
                                         quoted(c.template_id));
    }
    if (owner->id.view() != c.template_id) {
      return refuse(Errc::not_found, "fork " + quoted(c.fork) + " is live under template " +
                                         quoted(owner->id.view()) + ", not " +
                                         quoted(c.template_id));
    }
    Event e = event(EventType::fork_removed, c.template_id);
    e.fork = c.fork;
    return Decision{{std::move(e)}, 0};
  }

  Result<Decision> operator()(const RetireTemplate& c) const {
    if (auto ok = check_id("template id", c.template_id); !ok) return ok.error();
    auto t = active_template(state, c.template_id);
    if (!t) return t.error();
    if ((*t)->forks != 0) {
      return refuse(Errc::in_use, "template " + quoted(c.template_id) + " has " +
                                      std::to_string((*t)->forks) + " live fork" +
                                      ((*t)->forks == 1 ? "" : "s"));
    }
    Event e = event(EventType::template_retired, c.template_id);
    e.reason = Reason::deleted;
    return Decision{{std::move(e)}, 0};
  }
};

}  // namespace

Result<Decision> decide(const Projection& state, const Command& command, Origin origin,
                        std::uint64_t time_ns) {
  return std::visit(Decider{state, origin, time_ns}, command);
}

}  // namespace fj
