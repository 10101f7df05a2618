#include "cli/event_line.h"

#include "present/render.h"

#include <boost/json/serialize.hpp>

namespace fj::cli {

void print_event_line(std::ostream& out, std::uint64_t seq, const EventView& e) {
  out << boost::json::serialize(render::event_json(seq, e)) << '\n';
}

}  // namespace fj::cli
