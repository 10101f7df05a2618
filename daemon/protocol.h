// The forkjournald wire protocol (docs/protocol.md): newline-delimited JSON
// over a Unix stream socket. Parsing and formatting are pure functions, so
// they are tested and fuzzed without a socket.
#pragma once

#include "projector/ledger.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace fj::protocol {

inline constexpr std::size_t kMaxLine = 64 * 1024;  // bytes, without the newline

enum class Op {
  ping,
  register_template,
  fork,
  unfork,
  retire,
  counts,
  template_info,
  reconcile,
  snapshot,
  stats,
  health,
  subscribe
};

struct ParsedRequest {
  boost::json::value id;  // echoed back; null when absent
  Op op{};
  Request request;             // for register, fork, unfork, retire
  std::string template_id;     // for template
  bool dry_run = false;        // for reconcile
  std::uint64_t from_seq = 0;  // for subscribe (0 when absent: refused as out of range)
};

struct ProtocolError {
  boost::json::value id;
  std::string code;  // bad_request, unknown_op, invalid_id, too_large
  std::string message;
};

// Parses JSON text like boost::json::parse, except that every number with a
// fraction or an exponent is the double nearest to its text (std::from_chars).
// Boost.JSON 1.81's own conversion can be one unit in the last place off, so
// an id like -4.5e-37 would come back as -4.4999999999999996e-37. An integer
// beyond 64 bits is read as the nearest double too; `big_integer`, when
// given, is set to the text of the first such integer (nullopt if none).
boost::json::value parse_json(std::string_view text, boost::json::error_code& ec,
                              std::size_t max_depth,
                              std::optional<std::string>* big_integer = nullptr);

// The op's name on the wire ("register" for Op::register_template).
std::string_view op_name(Op op);

// Parses one request line (without its newline). A number that JSON cannot
// carry back as it came (an integer beyond 64 bits, 1e400) is refused with
// bad_request, wherever it is. `named`, when given, is
// set to the op the line names as soon as it names a known one, so that a
// caller can count a refused line under its op (a fork request with a bad
// id is still a fork request); it stays nullopt for a line naming no known
// op. Never throws.
using Parsed = std::variant<ParsedRequest, ProtocolError>;
Parsed parse_request(std::string_view line, std::optional<Op>* named = nullptr);

// {"id": id, "ok": false, "error": {"code": code, "message": message}}
std::string error_response(const boost::json::value& id, std::string_view code,
                           std::string_view message);
// {"id": id, "ok": true, ...fields}
std::string ok_response(const boost::json::value& id, boost::json::object fields);
// The protocol code for a library error (refusal codes by name, bad_request,
// journal_full, internal).
std::string_view error_code(const Error& e);

}  // namespace fj::protocol
