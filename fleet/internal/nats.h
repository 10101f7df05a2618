// A small RAII layer over the NATS C client (libnats): a connection with
// JetStream, owners for what the client allocates, its failures as fj::Error,
// and the reads the fleet needs (the last message on a subject, a message by
// stream sequence, a subject's messages in order).
//
// Errors: a failed call is an Error whose message names the call, the
// client's status text and nats_GetLastError's detail. Its code is
// unavailable (no server, timeouts, a closed connection, JetStream not
// answering) unless a function below names another for a JetStream refusal.
//
// Threads: libnats is thread-safe; a Connection may be used from several
// threads, each call blocking its caller for at most the connection's
// request timeout. The client runs its own threads for I/O and reconnects;
// on_change runs on one of them.
#pragma once

#include "journal/error.h"

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fj::fleet::nats {

// Owns one libnats object and destroys it with its library function.
template <typename T, void (*Destroy)(T*)>
struct Destroyer {
  void operator()(T* p) const noexcept { Destroy(p); }
};
template <typename T, void (*Destroy)(T*)>
using Owned = std::unique_ptr<T, Destroyer<T, Destroy>>;

using MsgPtr = Owned<natsMsg, natsMsg_Destroy>;
using PubAckPtr = Owned<jsPubAck, jsPubAck_Destroy>;
using StreamInfoPtr = Owned<jsStreamInfo, jsStreamInfo_Destroy>;
using SubscriptionPtr = Owned<natsSubscription, natsSubscription_Destroy>;
using MetaPtr = Owned<jsMsgMetaData, jsMsgMetaData_Destroy>;

// The Error for a failed libnats call (`what` names it); code as above.
Error error_from(std::string_view what, natsStatus status, jsErrCode js_code = jsErrCode(0),
                 Errc code = Errc::unavailable);

// The URLs of a comma-separated list ("nats://a:4222,nats://b:4222"), each
// trimmed. Errors: invalid_argument for an empty list or an entry that is
// not nats://HOST:PORT.
Result<std::vector<std::string>> parse_urls(std::string_view urls);

struct ConnectOptions {
  // How long connecting may take, and each JetStream request (publish, get,
  // stream info) waits for its answer.
  std::chrono::milliseconds timeout{2000};
  // Wait between reconnect attempts once connected; reconnects never stop.
  std::chrono::milliseconds reconnect_wait{250};
  // Told (true/false) when the client loses or regains its server.
  std::function<void(bool connected)> on_change;
};

class Connection {
 public:
  // Connects to the first server of `urls` that answers (parse_urls).
  // Errors: invalid_argument (the URLs), unavailable (none answered).
  static Result<Connection> open(std::string_view urls, const ConnectOptions& options = {});

  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  // Closes the connection (close()) and frees it.
  ~Connection();

  // Closes the connection so that no subscription is freed under libnats'
  // read loop (3.4.1 looks a subscription up without a reference, and one
  // freed as a message for it arrives is used after it is freed): first it
  // drains (the server stops sending to every subscription and answers a
  // flush, so the read loop is past their last message), then it closes; at
  // once when it holds no server or reconnects. Requests in progress on
  // other threads fail ("Draining in progress" or "Connection Closed"), and
  // so does every later call. Returns once libnats reports the close; when
  // it never does, after the drain's bound (the timeout, at least 5 s) and
  // 20 s more. Safe from any thread but a libnats callback's (on_change),
  // also again.
  void close();

  // Unsubscribes `sub` and frees it once a flush has confirmed the server
  // sends it nothing more (see close()); when no confirmation comes within
  // the timeout, it is kept and freed after the connection closes.
  void unsubscribe(SubscriptionPtr sub) const;

  // True while the client holds a server (not while it reconnects).
  bool connected() const;
  jsCtx* js() const;
  std::chrono::milliseconds timeout() const;

 private:
  struct State;
  explicit Connection(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A header's value (nullopt when the message does not carry it). The view
// is valid as long as the message.
std::optional<std::string_view> header(natsMsg* msg, const char* key);
std::string_view body(natsMsg* msg);

// The last message stored on `subject` in `stream`; nullopt when the
// subject has none. Its stream sequence is natsMsg_GetSequence. Errors:
// not_found (no such stream), unavailable.
Result<std::optional<MsgPtr>> last_message(const Connection& c, std::string_view stream,
                                           std::string_view subject);

// The first message stored on `subject` at stream sequence `from` or later,
// by a direct get with next_by_subj (answered by any replica; the stream must
// allow direct gets, as fleet init makes it); nullopt when there is none.
// Unlike last_message this is right for a subject whose last message was
// deleted. Its stream sequence is direct_sequence(). Errors: unavailable
// (also a stream that does not allow direct gets, or no such stream).
Result<std::optional<MsgPtr>> next_message(const Connection& c, std::string_view stream,
                                           std::string_view subject, std::uint64_t from);

// The stream sequence a direct get answered with (its Nats-Sequence header);
// 0 when it has none.
std::uint64_t direct_sequence(natsMsg* msg);

struct SubjectState {
  std::uint64_t messages = 0;     // stored on the subject
  std::uint64_t stream_last = 0;  // the stream's last sequence, any subject
};

// What the stream's info says about `subject` (the stream info request
// filtered on that subject, one small answer): an account that nats-server
// 2.9 keeps right where its last-message lookup goes wrong. Errors:
// not_found (no such stream), unavailable.
Result<SubjectState> subject_state(const Connection& c, std::string_view stream,
                                   std::string_view subject);

// The message at stream sequence `seq`. Errors: not_found (no such stream
// or message), unavailable.
Result<MsgPtr> message_at(const Connection& c, std::string_view stream, std::uint64_t seq);

// Calls visit(msg, stream_seq) for every message on `subject` from stream
// sequence `from` through the subject's last message at the time of the call,
// in stream order; stops at the first error visit returns. An ordered
// consumer (ephemeral, pushed, no acks) streams them, where a get per
// message costs a round trip each. When no consumer can be made or it
// stalls for a timeout (a cluster that has just lost a node may take many
// seconds to place one), the rest come one direct get each (the stream
// allows direct gets: fleet init makes it so). Errors: as last_message,
// unavailable when a get fails.
// With Walk::direct, every message comes by direct get (no consumer).
enum class Walk { consumer_first, direct };
Result<void> for_each_message(const Connection& c, std::string_view stream,
                              std::string_view subject, std::uint64_t from,
                              const std::function<Result<void>(natsMsg*, std::uint64_t)>& visit,
                              Walk walk = Walk::consumer_first);

// Streams the messages of `stream` on `filter` from stream sequence `from`
// through an ordered consumer (ephemeral, pushed, no acks) and calls
// visit(msg, stream_seq, pending) for each until it returns false or an
// error. Returns the stream sequence after the last message visited
// (`from` when none). Without an error it also ends early, with no error,
// when no consumer can be placed or it stalls for a timeout: the caller
// reads on from there by direct gets. Errors: the first visit returns.
using PushedVisit = std::function<Result<bool>(natsMsg*, std::uint64_t, std::uint64_t)>;
Result<std::uint64_t> walk_pushed(const Connection& c, const std::string& stream,
                                  const std::string& filter, std::uint64_t from,
                                  const PushedVisit& visit);

struct Published {
  std::uint64_t stream_seq = 0;
  bool duplicate = false;  // the stream already held this message id (at stream_seq)
};

// Publishes `msg` with message id `msg_id`, accepted only if the last message
// on its subject sits at stream sequence `expect_last_subject_seq` (0: the
// subject is empty), and waits for the acknowledgement. Errors: head_moved
// (the subject's last message is elsewhere: someone stored first),
// not_found (no stream takes the subject), unavailable (no answer in time:
// the message may or may not be stored).
Result<Published> publish(const Connection& c, natsMsg* msg, const std::string& msg_id,
                          std::uint64_t expect_last_subject_seq);

}  // namespace fj::fleet::nats
