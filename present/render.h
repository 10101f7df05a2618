// Text and JSON renderings of events and templates, shared by forkjournal and
// forkjournald.
#pragma once

#include "journal/chain.h"
#include "journal/event.h"
#include "projector/projection.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace fj::render {

// RFC 3339 in UTC with nanoseconds: 2026-11-26T05:50:38.123456789Z
std::string rfc3339(std::uint64_t unix_ns);

// {"seq", "type", "time", "origin", and the type's fields by the design's names}
boost::json::object event_json(std::uint64_t seq, const EventView& e);

// event_json and "journal" (the journal id) and "chain" (64 hex digits: the
// hash chain's value after the event, journal/chain.h): what
// `forkjournal export` and forkjournald's subscribe hand out per event.
boost::json::object export_json(std::uint64_t seq, const EventView& e, std::string_view journal_id,
                                const ChainHash& chain);

// A free-text field (a name, evidence) for human output: in double quotes,
// with '"' and '\\' escaped by a backslash, and every control character
// (a byte below 0x20, or 0x7F) as \n, \r, \t or \xNN, so that the field
// always reads as one field on one line, whatever it holds. Bytes from 0x80
// up are left alone (names are valid UTF-8).
std::string quoted(std::string_view text);

// The type's fields as "key=value" pairs for human output; free text quoted.
std::string event_details(const EventView& e);

boost::json::object anomaly_json(const Anomaly& a);
std::string anomaly_text(const Anomaly& a);

// {"template", "source", "name", "state", "forks"}
boost::json::object template_json(const Template& t);

}  // namespace fj::render
