#include "cli/event_line.h"

#include "present/render.h"

#include <boost/json/serialize.hpp>

namespace fj::cli {

void print_event_line(std::ostream& out, std::uint64_t seq, const EventView& e) {
  out << boost::json::serialize(render::event_json(seq, e)) << '\n';
}

std::string export_line(std::uint64_t seq, const EventView& e, std::string_view journal_id,
                        const ChainHash& chain) {
  return boost::json::serialize(render::export_json(seq, e, journal_id, chain));
}

}  // namespace fj::cli
