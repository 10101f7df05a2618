#include "daemon/protocol.h"

#include "journal/ids.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace fj::protocol {
namespace {

namespace json = boost::json;

constexpr std::array<std::pair<std::string_view, Op>, 12> kOps{{
    {"ping", Op::ping},
    {"register", Op::register_template},
    {"fork", Op::fork},
    {"unfork", Op::unfork},
    {"retire", Op::retire},
    {"counts", Op::counts},
    {"template", Op::template_info},
    {"reconcile", Op::reconcile},
    {"snapshot", Op::snapshot},
    {"stats", Op::stats},
    {"health", Op::health},
    {"subscribe", Op::subscribe},
}};

// Whether `text` is an integer (no fraction, no exponent) beyond 64 bits.
bool is_big_integer(std::string_view text) {
  const bool negative = text.starts_with('-');
  const std::string_view digits = text.substr(negative ? 1 : 0);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  std::errc err{};
  if (negative) {
    std::int64_t n = 0;
    err = std::from_chars(text.data(), text.data() + text.size(), n).ec;
  } else {
    std::uint64_t n = 0;
    err = std::from_chars(digits.data(), digits.data() + digits.size(), n).ec;
  }
  return err == std::errc::result_out_of_range;
}

// A basic_parser handler that builds a value on a value_stack, as
// boost::json::parser does, but converts fractional numbers from their text.
struct PreciseHandler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack stack;
  std::string number;  // the text of a number split across on_number_part calls
  // The text of the first integer that fits neither int64 nor uint64 (the
  // parser reads it as a double).
  std::optional<std::string> big_integer;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    stack.push_object(n);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    stack.push_key(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number.clear();
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number.clear();
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    if (!big_integer && is_big_integer(number)) big_integer = number;
    double exact = 0;
    const auto [end, err] = std::from_chars(number.data(), number.data() + number.size(), exact);
    // Out of range (1e400, 1e-400): keep the parser's value; infinities are
    // refused by the caller.
    if (err == std::errc{} && end == number.data() + number.size()) d = exact;
    number.clear();
    stack.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// Reads a required string field; an error names the field.
std::variant<std::string, ProtocolError> field(const json::object& o, std::string_view key,
                                               const json::value& id, bool is_id) {
  const auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) {
    return ProtocolError{id, "bad_request",
                         "field \"" + std::string(key) + "\" is missing or not a string"};
  }
  std::string value(it->value().get_string());
  if (is_id && !is_valid_id(value)) {
    return ProtocolError{
        id, "invalid_id",
        "field \"" + std::string(key) +
            "\" is not a valid id (1-64 characters of [A-Za-z0-9._-], not . or ..)"};
  }
  return value;
}

bool has_non_finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      return !std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& item : v.get_array()) {
        if (has_non_finite(item)) return true;
      }
      return false;
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (has_non_finite(kv.value())) return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace

json::value parse_json(std::string_view text, json::error_code& ec, std::size_t max_depth,
                       std::optional<std::string>* big_integer) {
  json::parse_options options;
  options.max_depth = max_depth;
  json::basic_parser<PreciseHandler> parser(options);
  parser.handler().stack.reset();
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (ec) return nullptr;
  if (big_integer != nullptr) *big_integer = std::move(parser.handler().big_integer);
  return parser.handler().stack.release();
}

std::variant<ParsedRequest, ProtocolError> parse_request(std::string_view line,
                                                         std::optional<Op>* named) {
  if (line.size() > kMaxLine) {
    return ProtocolError{nullptr, "too_large",
                         "request line longer than " + std::to_string(kMaxLine) + " bytes"};
  }
  json::error_code ec;
  std::optional<std::string> big_integer;
  json::value v = parse_json(line, ec, 16, &big_integer);
  if (ec) return ProtocolError{nullptr, "bad_request", "malformed JSON: " + ec.message()};
  if (big_integer) {
    // It would come back as a different number (the nearest double), so a
    // client could not match an id so written to its reply.
    return ProtocolError{nullptr, "bad_request",
                         "integer " + printable(*big_integer, 64) +
                             " is out of range: integers are 64-bit, from -9223372036854775808 "
                             "to 18446744073709551615"};
  }
  if (!v.is_object()) return ProtocolError{nullptr, "bad_request", "a request is a JSON object"};
  if (has_non_finite(v)) {
    // 1e400 parses as infinity, which JSON cannot carry back in a response.
    return ProtocolError{nullptr, "bad_request", "a number is out of range"};
  }
  const json::object& o = v.as_object();
  ParsedRequest out;
  if (const auto it = o.find("id"); it != o.end()) out.id = it->value();
  const auto op = o.find("op");
  if (op == o.end() || !op->value().is_string()) {
    return ProtocolError{out.id, "bad_request", "field \"op\" is missing or not a string"};
  }
  const auto known = std::find_if(
      kOps.begin(), kOps.end(), [&](const auto& p) { return p.first == op->value().get_string(); });
  if (known == kOps.end()) {
    return ProtocolError{out.id, "unknown_op",
                         "unknown op \"" + printable(op->value().get_string(), 64) + "\""};
  }
  out.op = known->second;
  if (named != nullptr) *named = out.op;

  if (const auto rid = o.find("request_id"); rid != o.end() && !rid->value().is_null()) {
    if (!rid->value().is_string() || !is_valid_request_id(rid->value().get_string())) {
      return ProtocolError{out.id, "bad_request",
                           "field \"request_id\" must be 1-128 bytes of printable ASCII"};
    }
    out.request.request_id = std::string(rid->value().get_string());
  }

  // Reads the listed fields in order, or returns the first error.
  std::vector<std::string> values;
  const auto read = [&](std::initializer_list<std::pair<std::string_view, bool>> keys)
      -> std::optional<ProtocolError> {
    for (const auto& [key, is_id] : keys) {
      auto value = field(o, key, out.id, is_id);
      if (auto* e = std::get_if<ProtocolError>(&value)) return std::move(*e);
      values.push_back(std::move(std::get<std::string>(value)));
    }
    return std::nullopt;
  };
  std::optional<ProtocolError> error;
  switch (out.op) {
    case Op::register_template: {
      error = read({{"template", true}, {"source", true}});
      if (error) return *error;
      std::string name;
      if (const auto it = o.find("name"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_string() || !is_valid_name(it->value().get_string())) {
          return ProtocolError{out.id, "bad_request",
                               "field \"name\" must be at most 255 bytes of UTF-8 without control "
                               "characters or bidirectional formatting"};
        }
        name = std::string(it->value().get_string());
      }
      out.request.command = RegisterTemplate{values[0], values[1], std::move(name)};
      break;
    }
    case Op::fork:
    case Op::unfork:
      error = read({{"template", true}, {"fork", true}});
      if (error) return *error;
      if (out.op == Op::fork) {
        out.request.command = AddFork{values[0], values[1]};
      } else {
        out.request.command = RemoveFork{values[0], values[1]};
      }
      break;
    case Op::retire:
      error = read({{"template", true}});
      if (error) return *error;
      out.request.command = RetireTemplate{values[0]};
      break;
    case Op::template_info:
      error = read({{"template", true}});
      if (error) return *error;
      out.template_id = values[0];
      break;
    case Op::reconcile:
      if (const auto it = o.find("dry_run"); it != o.end() && !it->value().is_null()) {
        if (!it->value().is_bool()) {
          return ProtocolError{out.id, "bad_request", "field \"dry_run\" must be a boolean"};
        }
        out.dry_run = it->value().get_bool();
      }
      break;
    case Op::subscribe: {
      const auto it = o.find("from_seq");
      if (it == o.end() ||
          !(it->value().is_uint64() || (it->value().is_int64() && it->value().get_int64() >= 0))) {
        return ProtocolError{out.id, "bad_request",
                             "field \"from_seq\" is missing or not a non-negative integer"};
      }
      out.from_seq = it->value().is_uint64() ? it->value().get_uint64()
                                             : static_cast<std::uint64_t>(it->value().get_int64());
      break;
    }
    case Op::ping:
    case Op::counts:
    case Op::snapshot:
    case Op::stats:
    case Op::health:
      break;
  }
  return out;
}

std::string_view op_name(Op op) {
  for (const auto& [name, known] : kOps) {
    if (known == op) return name;
  }
  return "unknown";
}

std::string error_response(const json::value& id, std::string_view code, std::string_view message) {
  return json::serialize(json::object{
      {"id", id},
      {"ok", false},
      {"error", json::object{{"code", code}, {"message", message}}},
  });
}

std::string ok_response(const json::value& id, json::object fields) {
  json::object out{{"id", id}, {"ok", true}};
  for (auto& kv : fields) out[kv.key()] = std::move(kv.value());
  return json::serialize(out);
}

std::string_view error_code(const Error& e) {
  if (e.refusal()) return code_name(e.code);
  if (e.code == Errc::invalid_argument) return "bad_request";
  if (e.code == Errc::journal_full) return "journal_full";
  if (e.code == Errc::stopping) return "stopping";
  return "internal";
}

}  // namespace fj::protocol
