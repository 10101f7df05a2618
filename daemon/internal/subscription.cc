#include "daemon/internal/subscription.h"

#include "daemon/internal/connection.h"
#include "daemon/internal/event_feed.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace fj::service {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

using Clock = std::chrono::steady_clock;

// What must have drained before a catching-up subscriber renders more lines:
// half of max_output, so that a step renders at least that much (or
// EventFeed::kSliceEvents lines) and a reading client never waits on an
// empty buffer.
std::size_t catch_up_room(std::size_t max_output) {
  return max_output / 2;
}

// How long a subscriber sleeps when no wake-up comes (no HeadSignal, or one
// lost to a peer that went away unnoticed).
constexpr std::chrono::milliseconds kFallbackWake{1000};

std::string error_line(const json::value& id, std::string_view code, std::string_view message,
                       std::uint64_t last_seq) {
  return json::serialize(json::object{
      {"id", id},
      {"ok", false},
      {"error", json::object{{"code", code}, {"message", message}}},
      {"last_seq", last_seq},
  });
}

}  // namespace

std::optional<std::string> refuse_subscription(const Journal& journal,
                                               const protocol::ParsedRequest& request,
                                               std::string& result) {
  auto head = journal.head();
  if (!head) {
    result = protocol::error_code(head.error());
    return protocol::error_response(request.id, result, head.error().message);
  }
  if (request.from_seq != 0 && request.from_seq <= *head + 1) return std::nullopt;
  result = "bad_request";
  return protocol::error_response(request.id, result,
                                  "from_seq " + std::to_string(request.from_seq) +
                                      " is not within 1 and the head + 1 (" +
                                      std::to_string(*head + 1) + ")");
}

// GCC 12 inlines Asio's coroutine-frame allocation (aligned_alloc) and its
// sized operator delete into this coroutine's ramp and reports them as
// mismatched (-Wmismatched-new-delete), though Asio releases that memory with
// std::free, which matches; the warning is wrong, so off for this function.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> stream_subscription(std::shared_ptr<Connection> connection,
                                          protocol::ParsedRequest request,
                                          SubscriptionContext context) {
  const Journal& journal = context.journal;
  const std::size_t max_output = context.options.max_output;
  auto start = journal.head();
  const std::uint64_t catch_up_to = start ? *start : 0;
  // Named: GCC 12 may destroy a temporary in a co_await expression twice.
  const std::string ack =
      protocol::ok_response(request.id, {{"subscribed", true},
                                         {"from_seq", request.from_seq},
                                         {"head_seq", catch_up_to},
                                         {"journal", journal.info().journal_id}});
  co_await connection->send(ack);

  EventFeed feed(request.from_seq, request.id, journal.info().journal_id);
  const auto emit = [&connection](std::string_view line) { connection->queue(line); };
  asio::steady_timer fallback(co_await asio::this_coro::executor);
  for (;;) {
    if (connection->closed()) co_return;
    if (context.stopping) break;
    const bool live = feed.next_seq() > catch_up_to;
    if (feed.has_lines() && live) {
      if (!co_await connection->wait_for_room(Clock::now() + kTooSlowAfter, max_output)) {
        if (connection->closed()) co_return;
        const std::string too_slow = error_line(
            request.id, "too_slow",
            "more than " + std::to_string(max_output) + " bytes of events stayed unread for " +
                std::to_string(kTooSlowAfter.count()) + " ms; subscribe again from last_seq + 1",
            feed.last_sent());
        if (context.options.log) {
          context.options.log("closing a subscriber that fell behind at seq " +
                              std::to_string(feed.last_sent()) + " (" +
                              std::to_string(connection->unsent()) + " bytes unsent)");
        }
        connection->queue(too_slow);
        co_return;
      }
    } else if (feed.has_lines()) {
      // Catching up, the next lines are rendered only once what is queued
      // has drained below half of max_output, so that each step renders a
      // useful slice and what is queued stays within max_output and a line.
      co_await connection->wait_for_room(Clock::time_point::max(), catch_up_room(max_output));
      if (connection->closed()) co_return;
    } else if (const auto& failure = feed.failure()) {
      const std::string failed = error_line(request.id, protocol::error_code(*failure),
                                            failure->message, feed.last_sent());
      connection->queue(failed);
      break;
    }
    // The lines of one step fill the room left below max_output (at least
    // one line goes out), never past the end of the catch-up, so that the
    // catch-up's lines and the live ones are paced apart.
    const std::size_t unsent = connection->unsent();
    const bool room = unsent <= (live ? max_output : catch_up_room(max_output));
    const std::size_t budget =
        room ? std::max<std::size_t>(max_output - std::min(unsent, max_output), 1) : 0;
    const std::uint64_t through = live ? kHead : catch_up_to;
    std::uint64_t head = 0;
    auto read = journal.read([&](Reader& r) -> Result<void> {
      head = feed.step(r, budget, through, emit);
      return {};
    });
    if (!read) feed.fail(read.error());
    if (connection->closed()) co_return;
    if (feed.has_lines() || feed.failure() || feed.read_through() < head) {
      // More to do: let the other connections run first.
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      continue;
    }
    if (context.options.heads) {
      // A wake-up that came while this loop was sending is not lost: the
      // head it announced is checked before waiting for the next.
      if (context.options.heads->head() > feed.read_through()) continue;
      co_await context.options.heads->wait(kFallbackWake);
    } else {
      fallback.expires_after(kFallbackWake);
      co_await fallback.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (connection->peer_gone()) break;
  }
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic pop
#endif

}  // namespace fj::service
