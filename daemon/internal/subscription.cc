#include "daemon/internal/subscription.h"

#include "daemon/internal/connection.h"
#include "journal/chain_cursor.h"
#include "journal/events.h"
#include "present/render.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <utility>
#include <vector>

namespace fj::service {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

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
  const std::string& journal_id = journal.info().journal_id;
  auto start = journal.head();
  const std::uint64_t catch_up_to = start ? *start : 0;
  // Named: GCC 12 may destroy a temporary in a co_await expression twice.
  const std::string ack = protocol::ok_response(request.id, {{"subscribed", true},
                                                             {"from_seq", request.from_seq},
                                                             {"head_seq", catch_up_to},
                                                             {"journal", journal_id}});
  co_await connection->send(ack);

  std::optional<ChainCursor> chain;
  std::uint64_t last_sent = request.from_seq - 1;
  std::vector<std::pair<std::uint64_t, std::string>> lines;
  asio::steady_timer fallback(co_await asio::this_coro::executor);
  for (;;) {
    if (connection->closed()) co_return;
    if (context.stopping) break;
    lines.clear();
    std::uint64_t head = 0;
    bool chain_failed = false;
    auto read = journal.read([&](Reader& r) -> Result<void> {
      auto h = r.head();
      if (!h) return h.error();
      head = *h;
      if (!chain) {
        auto started = ChainCursor::before(r, request.from_seq, journal_id);
        if (!started) return started.error();
        chain.emplace(*started);
      }
      // One checkpoint window per read transaction at most: a transaction
      // stays short (it pins pages and holds the map-resize lock shared),
      // other connections run between two, and the window ends at a
      // checkpoint or the head, where its chain values are checked before
      // any of its lines go out.
      const std::uint64_t from = chain->next_seq();
      const std::uint64_t to = std::min(
          head, (from - 1) / kChainCheckpointEvery * kChainCheckpointEvery + kChainCheckpointEvery);
      if (from > to) return {};
      auto done = for_each_event(
          r, from, to,
          [&](std::uint64_t seq, const EventView& e, std::string_view record) -> Result<void> {
            auto value = chain->advance(r, record);
            if (!value) {
              chain_failed = true;
              return value.error();
            }
            lines.emplace_back(
                seq, protocol::ok_response(
                         request.id, {{"event", render::export_json(seq, e, journal_id, *value)}}));
            return {};
          });
      if (!done) return done;
      done = chain->check_head(r, head);
      chain_failed = !done;
      return done;
    });
    if (!read) {
      // The lines before a damaged record go out before it is reported; after
      // a chain disagreement, none of the window's, whose values are unchecked.
      if (chain_failed) lines.clear();
      for (auto& [seq, line] : lines) {
        co_await connection->send(line);
        last_sent = seq;
      }
      const std::string failed = error_line(request.id, protocol::error_code(read.error()),
                                            read.error().message, last_sent);
      connection->queue(failed);
      break;
    }
    for (auto& [seq, line] : lines) {
      if (seq <= catch_up_to) {
        co_await connection->send(line);
      } else if (!co_await connection->wait_for_room(std::chrono::steady_clock::now() +
                                                     kTooSlowAfter)) {
        if (connection->closed()) co_return;
        const std::string too_slow = error_line(
            request.id, "too_slow",
            "more than " + std::to_string(context.options.max_output) +
                " bytes of events stayed unread for " + std::to_string(kTooSlowAfter.count()) +
                " ms; subscribe again from last_seq + 1",
            last_sent);
        if (context.options.log) {
          context.options.log("closing a subscriber that fell behind at seq " +
                              std::to_string(last_sent) + " (" +
                              std::to_string(connection->unsent()) + " bytes unsent)");
        }
        connection->queue(too_slow);
        co_await connection->finish();
        co_return;
      } else {
        connection->queue(line);
      }
      if (connection->closed()) co_return;
      last_sent = seq;
    }
    if (chain && chain->next_seq() <= head) {
      // More to read: let the other connections run first.
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      continue;
    }
    if (context.options.heads) {
      // A wake-up that came while this loop was sending is not lost: the
      // head it announced is checked before waiting for the next.
      if (context.options.heads->head() >= chain->next_seq()) continue;
      co_await context.options.heads->wait(kFallbackWake);
    } else {
      fallback.expires_after(kFallbackWake);
      co_await fallback.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (connection->peer_gone()) break;
  }
  co_await connection->finish();
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic pop
#endif

}  // namespace fj::service
