// forkjournald's requests and responses as JSON objects (docs/protocol.md):
// builders for the requests tests send, and checks of the responses' shapes
// for use in EXPECT_TRUE. u64() records a test failure when the number is
// missing; acked_seq() does not, so client threads may call it. Pure functions.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fj::testing {

std::string show(const boost::json::object& o);

// {"id": ..., "ok": true, ...} without an "error".
::testing::AssertionResult is_ok(const boost::json::object& r);

// {"id": ..., "ok": false, "error": {"code": code, "message": non-empty}}
::testing::AssertionResult is_error(const boost::json::object& r, std::string_view code);

// The count r[key]; 0 after a test failure when it is missing or not a count.
std::uint64_t u64(const boost::json::object& r, std::string_view key);

// The "seq" of a success response.
std::optional<std::uint64_t> acked_seq(const boost::json::object& r);

// The error message of an error response; empty when there is none.
std::string message_of(const boost::json::object& r);

// {"op": op, "template": tpl, "fork": fork} with "id" unless it is null.
boost::json::object fork_request(std::string_view op, std::string_view tpl, std::string_view fork,
                                 boost::json::value id = nullptr);

// {"op": "register", "template": tpl, "source": source} with "name" unless empty.
boost::json::object register_request(std::string_view tpl, std::string_view source,
                                     std::string_view name = "");

}  // namespace fj::testing
