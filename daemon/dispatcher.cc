#include "daemon/dispatcher.h"

#include "daemon/internal/connection.h"
#include "daemon/internal/subscription.h"
#include "daemon/protocol.h"
#include "present/render.h"
#include "present/report_json.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <optional>

namespace fj::service {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using protocol::Op;

json::object outcome_json(const Outcome& o) {
  json::object out{{"seq", o.first_seq != 0 ? o.last_seq : o.already_at}};
  if (o.first_seq == 0) out["noop"] = true;
  if (o.replayed) out["replayed"] = true;
  return out;
}

json::value ship_json(const std::optional<fleet::ShipState>& ship) {
  if (!ship) return nullptr;
  const fleet::ShipState& s = *ship;
  return json::object{
      {"host", s.host},
      {"connected", s.connected},
      {"halted", s.halted},
      {"shipped_seq", s.shipped_seq},
      {"head_seq", s.head_seq},
      {"lag_events", s.lag_events},
      {"lag_seconds", s.lag_seconds},
      {"published", s.published},
      {"duplicates", s.duplicates},
      {"conflicts", s.conflicts},
      {"failures", s.failures},
      {"last_error", s.last_error.empty() ? json::value(nullptr) : json::value(s.last_error)}};
}

json::object stats_json(const ServiceStats& s) {
  return {{"events", s.head_seq},
          {"head_seq", s.head_seq},
          {"requests", s.requests},
          {"appended", s.appended},
          {"commits", s.commits},
          {"average_batch", s.average_batch},
          {"snapshots", s.snapshots},
          {"reconciles", s.reconciles},
          {"uptime_seconds", s.uptime_seconds},
          {"ship", ship_json(s.ship)}};
}

}  // namespace

Dispatcher::Dispatcher(asio::any_io_executor executor, Service& service, std::string version,
                       DispatcherOptions options)
    : executor_(std::move(executor)),
      service_(service),
      version_(std::move(version)),
      options_(std::move(options)),
      over_limit_options_(options_) {
  // An over-limit connection gets the same short wait for its line whether
  // the line has started or not.
  const auto wait = std::min(options_.line_timeout, std::chrono::milliseconds(kOverLimitWait));
  over_limit_options_.line_timeout = wait;
  over_limit_options_.idle_timeout = wait;
}

Dispatcher::~Dispatcher() = default;

std::string Dispatcher::busy_line() const {
  return protocol::error_response(nullptr, "busy",
                                  "the daemon serves its maximum of " +
                                      std::to_string(options_.max_connections) +
                                      " connections; try again later");
}

void Dispatcher::refuse_busy(Socket& socket) {
  // The socket is new, so its send buffer is empty and this short write
  // completes without waiting: the accept loop never stalls on it.
  const std::string busy = busy_line() + "\n";
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(busy), ignored);
  socket.close(ignored);
}

bool Dispatcher::serve(Socket socket) {
  if (connections_.size() >= options_.max_connections) {
    // Logged before the refusal, which the client may read and then read
    // the log.
    if (refused_++ == 0 && options_.log) {
      options_.log("refusing new connections: " + std::to_string(connections_.size()) +
                   " served, the maximum");
    }
    if (over_limit_.size() < kOverLimit && !stopping_) {
      auto it = over_limit_.insert(
          over_limit_.end(), std::make_shared<Connection>(std::move(socket), over_limit_options_));
      (*it)->on_close([this, connection = it->get()] { count_end(*connection, true); });
      asio::co_spawn(executor_, over_limit(it), asio::detached);
    } else {
      // Counted before the refusal, which the client may read and then scrape.
      if (options_.on_request) options_.on_request("invalid", "busy");
      if (options_.on_closed) options_.on_closed("max_connections");
      refuse_busy(socket);
    }
    return false;
  }
  if (refused_ != 0 && options_.log) {
    options_.log("serving new connections again after refusing " + std::to_string(refused_));
  }
  refused_ = 0;
  auto it = connections_.insert(connections_.end(),
                                std::make_shared<Connection>(std::move(socket), options_));
  (*it)->on_close([this, connection = it->get()] { count_end(*connection, false); });
  if (stopping_) (*it)->stop_reading();
  asio::co_spawn(executor_, session(it), asio::detached);
  return true;
}

void Dispatcher::stop() {
  stopping_ = true;
  for (auto& connection : connections_) connection->stop_reading();
  for (auto& connection : over_limit_) connection->stop_reading();
  if (options_.heads) options_.heads->wake_all();
}

asio::awaitable<void> Dispatcher::session(Connections::iterator it) {
  const std::shared_ptr<Connection> connection = *it;
  for (;;) {
    std::optional<std::string> line = co_await connection->read_line();
    if (!line) break;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    if (line->empty()) continue;
    // Parsed once, here: the op decides, however the line spells it.
    std::optional<Op> named;
    auto parsed = protocol::parse_request(*line, &named);
    if (auto* request = std::get_if<protocol::ParsedRequest>(&parsed);
        request != nullptr && request->op == Op::subscribe) {
      std::string result = "ok";
      auto refused = refuse_subscription(service_.journal(), *request, result);
      if (options_.on_request) options_.on_request("subscribe", result);
      if (refused) {
        co_await connection->send(*refused);
        continue;
      }
      // The connection takes no more requests: it only streams from now on.
      co_await stream_subscription(connection, std::move(*request),
                                   SubscriptionContext{service_.journal(), options_, stopping_});
      break;
    }
    const std::string reply = co_await respond(std::move(parsed), named);
    co_await connection->send(reply);
  }
  co_await connection->drain();
  connection->close();  // counted first (on_close)
  connections_.erase(it);
}

void Dispatcher::count_end(const Connection& connection, bool over_limit) {
  if (options_.on_request && !connection.own_error().empty()) {
    options_.on_request("invalid", connection.own_error());
  }
  if (!options_.on_closed) return;
  if (over_limit) {
    options_.on_closed("max_connections");
  } else if (!connection.limit_reached().empty()) {
    options_.on_closed(connection.limit_reached());
  }
}

asio::awaitable<void> Dispatcher::over_limit(Connections::iterator it) {
  const std::shared_ptr<Connection> connection = *it;
  std::optional<std::string> line = co_await connection->read_line();
  if (line && !line->empty() && line->back() == '\r') line->pop_back();
  // Only a monitor's question, which needs no writer and changes nothing.
  // Not ping: clients (clients/go's Dial) take a pong for a connection
  // served, and this one is closed after its reply.
  std::optional<Op> named;
  std::optional<protocol::Parsed> parsed;
  if (line) parsed = protocol::parse_request(*line, &named);
  const auto* request = parsed ? std::get_if<protocol::ParsedRequest>(&*parsed) : nullptr;
  if (request != nullptr && request->op == Op::health) {
    const std::string reply = co_await respond(std::move(*parsed), named);
    connection->queue(reply);
  } else if (connection->own_error().empty()) {
    // (A line too long, too slow or cut short already got its own error line.)
    connection->queue(busy_line());
    if (options_.on_request)
      options_.on_request(named ? protocol::op_name(*named) : "invalid", "busy");
  }
  co_await connection->drain();
  connection->close();  // counted first (on_close)
  over_limit_.erase(it);
}

// GCC 12 inlines Asio's coroutine-frame allocation (aligned_alloc) and its
// sized operator delete into this coroutine's ramp and reports them as
// mismatched (-Wmismatched-new-delete), though Asio releases that memory with
// std::free, which matches; the warning is wrong, so off for this function.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<std::string> Dispatcher::reply(std::string_view line) {
  std::optional<Op> named;
  auto parsed = protocol::parse_request(line, &named);
  co_return co_await respond(std::move(parsed), named);
}

asio::awaitable<std::string> Dispatcher::respond(protocol::Parsed parsed, std::optional<Op> named) {
  std::string_view op = "invalid";
  std::string result = "ok";
  std::string out = co_await answer(parsed, named, op, result);
  if (options_.on_request) options_.on_request(op, result);
  co_return out;
}

asio::awaitable<std::string> Dispatcher::answer(protocol::Parsed& parsed,
                                                std::optional<protocol::Op> named,
                                                std::string_view& op, std::string& result) {
  if (auto* e = std::get_if<protocol::ProtocolError>(&parsed)) {
    if (named) op = protocol::op_name(*named);
    result = e->code;
    co_return protocol::error_response(e->id, e->code, e->message);
  }
  auto& r = std::get<protocol::ParsedRequest>(parsed);
  op = protocol::op_name(r.op);
  const auto refuse = [&](const Error& e) {
    result = protocol::error_code(e);
    return protocol::error_response(r.id, result, e.message);
  };
  switch (r.op) {
    case Op::ping:
      co_return protocol::ok_response(r.id, {{"version", version_}});
    case Op::register_template:
    case Op::fork:
    case Op::unfork:
    case Op::retire: {
      auto outcome = co_await service_.async_execute(std::move(r.request), asio::use_awaitable);
      if (!outcome) co_return refuse(outcome.error());
      co_return protocol::ok_response(r.id, outcome_json(*outcome));
    }
    case Op::counts: {
      auto counts = co_await service_.async_read(
          [](const Projection& p) {
            json::array templates;
            for (const Template* t : p.templates()) templates.push_back(render::template_json(*t));
            return json::object{{"seq", p.seq()}, {"templates", std::move(templates)}};
          },
          asio::use_awaitable);
      if (!counts) co_return refuse(counts.error());
      co_return protocol::ok_response(r.id, std::move(*counts));
    }
    case Op::template_info: {
      // A named callable: GCC 12 mishandles a capturing lambda temporary
      // inside a co_await expression (its captures are destroyed twice).
      auto describe = [id = r.template_id](const Projection& p) -> std::optional<json::object> {
        const Template* t = p.find(id);
        if (t == nullptr) return std::nullopt;
        json::object out = render::template_json(*t);
        json::array forks;
        for (const auto& f : p.live_forks(id)) forks.push_back(json::string(f));
        out["live_forks"] = std::move(forks);
        out["last_seq"] = t->last_seq;
        out["seq"] = p.seq();
        return out;
      };
      auto info = co_await service_.async_read(std::move(describe), asio::use_awaitable);
      if (!info) co_return refuse(info.error());
      if (!*info) {
        result = "not_found";
        co_return protocol::error_response(r.id, "not_found",
                                           "template '" + r.template_id + "' is not registered");
      }
      co_return protocol::ok_response(r.id, std::move(**info));
    }
    case Op::reconcile: {
      auto report = co_await service_.async_reconcile(r.dry_run, asio::use_awaitable);
      if (!report) co_return refuse(report.error());
      co_return protocol::ok_response(r.id, gc::to_json(*report));
    }
    case Op::snapshot: {
      auto seq = co_await service_.async_snapshot(asio::use_awaitable);
      if (!seq) co_return refuse(seq.error());
      co_return protocol::ok_response(r.id, {{"seq", *seq}});
    }
    case Op::stats:
      co_return protocol::ok_response(r.id, stats_json(service_.stats()));
    case Op::health:
      co_return protocol::ok_response(r.id, health_json(service_.stats(), options_.health));
    case Op::subscribe:
      // A subscription streams on its connection (session()); a lone line
      // handed to reply() has none.
      result = "bad_request";
      co_return protocol::error_response(r.id, result,
                                         "subscribe streams on a connection, not as one reply");
  }
  result = "unknown_op";
  co_return protocol::error_response(r.id, "unknown_op", "unknown op");
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic pop
#endif

}  // namespace fj::service
