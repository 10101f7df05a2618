// The subscribe op (docs/protocol.md) on one connection: an ack line, the
// events from from_seq up to the head, then every event as it commits, one
// line each, until the peer goes away, the dispatcher stops or the
// subscriber is too slow. Events are read from the journal in short read
// transactions on the dispatcher's executor, never on the service's writer
// thread, and a commit never waits for a subscriber: the writer only wakes
// them (HeadSignal).
//
// Work and memory: a subscriber renders lines only as its peer takes them,
// in steps of bounded work (EventFeed, daemon/internal/event_feed.h), and
// posts itself behind the executor's other work between two steps, so that
// the other connections are served while many subscribers catch up. What it
// holds is its unsent output, at most max_output bytes and one line, and two
// chain cursors: no window of lines.
//
// Pace: the catch-up (the events up to the head when the subscription
// started) is written as fast as the peer takes it, like any reply
// (--write-timeout applies): its next lines are rendered once the unsent
// output has drained to half of max_output. After it, a subscriber whose
// unsent output stays above max_output for kTooSlowAfter while new events
// wait is too slow: it gets a final too_slow error line naming the last seq
// it was sent, and the connection is closed. It resumes by subscribing from
// that seq + 1.
//
// Errors: none thrown. A from_seq of 0 or past the head + 1 is refused with
// one bad_request line and the connection goes on; a journal error
// while streaming ends it with one error line (the code as for any request,
// with last_seq).
//
// Threads and lifetime: on the connection's executor; the journal, the head
// signal and the options must outlive the coroutine (the Dispatcher's
// lifetime rule).
#pragma once

#include "daemon/dispatcher.h"
#include "daemon/protocol.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace fj::service {

class Connection;

inline constexpr std::chrono::milliseconds kTooSlowAfter{1000};

struct SubscriptionContext {
  const Journal& journal;
  const DispatcherOptions& options;
  const bool& stopping;  // the dispatcher's: true once it stops
};

// The refusal line for a from_seq out of range (its code in `result`), or
// nullopt when the subscription may start.
std::optional<std::string> refuse_subscription(const Journal& journal,
                                               const protocol::ParsedRequest& request,
                                               std::string& result);

// Streams the subscription until it ends; the connection takes no more
// requests, and the caller drains and closes it.
boost::asio::awaitable<void> stream_subscription(std::shared_ptr<Connection> connection,
                                                 protocol::ParsedRequest request,
                                                 SubscriptionContext context);

}  // namespace fj::service
