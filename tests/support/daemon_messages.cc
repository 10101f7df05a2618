#include "support/daemon_messages.h"

namespace fj::testing {

namespace json = boost::json;

std::string show(const json::object& o) {
  return json::serialize(o);
}

::testing::AssertionResult is_ok(const json::object& r) {
  const auto* ok = r.if_contains("ok");
  if (ok == nullptr || !ok->is_bool() || !ok->get_bool() || r.contains("error")) {
    return ::testing::AssertionFailure() << "not a success response: " << show(r);
  }
  if (!r.contains("id")) return ::testing::AssertionFailure() << "no \"id\": " << show(r);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_error(const json::object& r, std::string_view code) {
  const auto* ok = r.if_contains("ok");
  const auto* error = r.if_contains("error");
  if (ok == nullptr || *ok != json::value(false) || error == nullptr || !error->is_object() ||
      !r.contains("id") || r.size() != 3) {
    return ::testing::AssertionFailure() << "not an error response: " << show(r);
  }
  const json::object& e = error->get_object();
  const auto* c = e.if_contains("code");
  const auto* m = e.if_contains("message");
  if (c == nullptr || !c->is_string() || c->get_string() != code) {
    return ::testing::AssertionFailure() << "expected error code " << code << ": " << show(r);
  }
  if (m == nullptr || !m->is_string() || m->get_string().empty()) {
    return ::testing::AssertionFailure() << "the error has no message: " << show(r);
  }
  return ::testing::AssertionSuccess();
}

std::uint64_t u64(const json::object& r, std::string_view key) {
  const auto* v = r.if_contains(key);
  if (v == nullptr || !v->is_number()) {
    ADD_FAILURE() << "no number \"" << key << "\" in " << show(r);
    return 0;
  }
  boost::system::error_code ec;
  const auto n = v->to_number<std::uint64_t>(ec);
  if (ec) ADD_FAILURE() << "\"" << key << "\" is not a count in " << show(r);
  return n;
}

std::optional<std::uint64_t> acked_seq(const json::object& r) {
  const auto* ok = r.if_contains("ok");
  const auto* seq = r.if_contains("seq");
  if (ok == nullptr || *ok != json::value(true) || seq == nullptr) return std::nullopt;
  boost::system::error_code ec;
  const auto n = seq->to_number<std::uint64_t>(ec);
  if (ec) return std::nullopt;
  return n;
}

std::string message_of(const json::object& r) {
  const auto* e = r.if_contains("error");
  if (e == nullptr || !e->is_object() || !e->get_object().contains("message")) return "";
  const auto& m = e->get_object().at("message");
  return m.is_string() ? std::string(m.get_string()) : "";
}

json::object fork_request(std::string_view op, std::string_view tpl, std::string_view fork,
                          json::value id) {
  json::object r{{"op", op}, {"template", tpl}, {"fork", fork}};
  if (!id.is_null()) r["id"] = std::move(id);
  return r;
}

json::object register_request(std::string_view tpl, std::string_view source,
                              std::string_view name) {
  json::object r{{"op", "register"}, {"template", tpl}, {"source", source}};
  if (!name.empty()) r["name"] = name;
  return r;
}

}  // namespace fj::testing
