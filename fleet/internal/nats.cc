#include "fleet/internal/nats.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <utility>

namespace fj::fleet::nats {
namespace {

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

}  // namespace

Error error_from(std::string_view what, natsStatus status, jsErrCode js_code, Errc code) {
  std::string message = std::string(what) + ": " + natsStatus_GetText(status);
  if (js_code != 0) message += " (JetStream error " + std::to_string(int(js_code)) + ")";
  // libnats keeps a thread's last error until it records another, and some
  // failures (a publish timing out) record none: a detail recorded with
  // another status is an earlier call's, and once read "Timeout: ... stream
  // not found" while the server was only down.
  natsStatus last = NATS_OK;
  if (const char* detail = nats_GetLastError(&last);
      last == status && detail != nullptr && *detail != '\0') {
    const std::string_view text(detail);
    if (message.find(text) == std::string::npos) message += ": " + std::string(text);
  }
  return make_error(code, std::move(message));
}

Result<std::vector<std::string>> parse_urls(std::string_view urls) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = urls.find(',', start);
    const std::string url = trim(urls.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    constexpr std::string_view kScheme = "nats://";
    if (url.size() <= kScheme.size() || url.compare(0, kScheme.size(), kScheme) != 0 ||
        url.find_first_of(" \t") != std::string::npos) {
      return make_error(
          Errc::invalid_argument,
          "'" + url + "' is not a NATS URL like nats://HOST:PORT (in '" + std::string(urls) + "')");
    }
    out.push_back(url);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// What the client's callbacks reach. libnats calls them on its own thread,
// also after natsConnection_Close returns; the closed callback comes last,
// so the object lives until then.
struct Callbacks {
  std::function<void(bool)> on_change;
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;  // guarded by mu

  static void disconnected(natsConnection*, void* self) {
    auto* c = static_cast<Callbacks*>(self);
    if (c->on_change) c->on_change(false);
  }
  static void reconnected(natsConnection*, void* self) {
    auto* c = static_cast<Callbacks*>(self);
    if (c->on_change) c->on_change(true);
  }
  static void closed_cb(natsConnection*, void* self) {
    auto* c = static_cast<Callbacks*>(self);
    // Notified under the lock: the waiter frees this object as soon as it
    // sees `closed`, so nothing here may touch it after the unlock.
    std::lock_guard lock(c->mu);
    c->closed = true;
    c->cv.notify_all();
  }
};

struct Connection::State {
  std::unique_ptr<Callbacks> callbacks = std::make_unique<Callbacks>();
  Owned<natsConnection, natsConnection_Destroy> nc;
  Owned<jsCtx, jsCtx_Destroy> js;
  std::chrono::milliseconds timeout{};
  // Subscriptions whose last message the read loop may not be past yet:
  // freed once the connection has closed (its read loop has ended).
  std::mutex retired_mu;
  std::vector<SubscriptionPtr> retired;  // guarded by retired_mu
  std::mutex close_mu;                   // one close() at a time
  bool gave_up = false;                  // guarded by close_mu: never reported closed

  ~State() {
    close();
    if (gave_up) {
      // The read loop may still run: what it may reach is left alive.
      for (SubscriptionPtr& sub : retired) (void)sub.release();
    }
    retired.clear();
    js.reset();
    nc.reset();
  }

  void close() {
    std::lock_guard closing(close_mu);
    if (!nc || gave_up) return;
    // The drain's flush gets at least 5 s: when it goes unanswered, libnats
    // frees the subscriptions anyway, under a read loop that may still run.
    const auto bound = std::max<std::chrono::milliseconds>(timeout, std::chrono::seconds(5));
    // Refused when the client holds no server (its read loop is not
    // running), reconnects, or is closed. (A reconnect that has just
    // started its new read loop is the one moment a close can still meet a
    // message: waiting for it would hold up every stop while NATS is down.)
    if (natsConnection_DrainTimeout(nc.get(), bound.count()) != NATS_OK)
      natsConnection_Close(nc.get());
    if (wait_closed(bound + std::chrono::seconds(10))) return;
    // The drain never finished: close anyway (the read loop then may still
    // meet a message, as before this workaround).
    natsConnection_Close(nc.get());
    if (wait_closed(std::chrono::seconds(10))) return;
    // The client never reported the close: its callbacks may still come,
    // so their object is left alive rather than freed under them.
    gave_up = true;
    (void)callbacks.release();
  }

  bool wait_closed(std::chrono::milliseconds limit) {
    if (!callbacks) return true;
    std::unique_lock lock(callbacks->mu);
    return callbacks->cv.wait_for(lock, limit, [&] { return callbacks->closed; });
  }
};

Connection::Connection(std::unique_ptr<State> state) : state_(std::move(state)) {}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

void Connection::close() {
  if (state_) state_->close();
}

void Connection::unsubscribe(SubscriptionPtr sub) const {
  if (!sub || !state_) return;
  // The server answers the flush's PING after the UNSUB, and the read loop
  // handles what arrives in order: once the PONG is in, no message for the
  // subscription is left in it.
  if (natsSubscription_Unsubscribe(sub.get()) == NATS_OK &&
      natsConnection_FlushTimeout(state_->nc.get(), state_->timeout.count()) == NATS_OK)
    return;
  std::lock_guard lock(state_->retired_mu);
  state_->retired.push_back(std::move(sub));
}

Result<Connection> Connection::open(std::string_view urls, const ConnectOptions& options) {
  auto list = parse_urls(urls);
  if (!list) return list.error();
  std::vector<const char*> servers;
  for (const std::string& u : *list) servers.push_back(u.c_str());

  natsOptions* raw_opts = nullptr;
  if (natsStatus s = natsOptions_Create(&raw_opts); s != NATS_OK)
    return error_from("natsOptions_Create", s);
  Owned<natsOptions, natsOptions_Destroy> opts(raw_opts);
  auto state = std::make_unique<State>();
  state->timeout = options.timeout;
  state->callbacks->on_change = options.on_change;
  natsStatus s = natsOptions_SetServers(opts.get(), servers.data(), int(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), "forkjournal");
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), options.timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), options.reconnect_wait.count());
  // A lost server is noticed within a few seconds, not the default minutes.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), 1000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts.get(), 2);
  Callbacks* cb = state->callbacks.get();
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts.get(), &Callbacks::disconnected, cb);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts.get(), &Callbacks::reconnected, cb);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts.get(), &Callbacks::closed_cb, cb);
  if (s != NATS_OK) return error_from("natsOptions", s, jsErrCode(0), Errc::invalid_argument);

  natsConnection* nc = nullptr;
  s = natsConnection_Connect(&nc, opts.get());
  if (s != NATS_OK) return error_from("connecting to " + std::string(urls), s);
  state->nc.reset(nc);

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options.timeout.count();
  jsCtx* js = nullptr;
  s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) return error_from("natsConnection_JetStream", s);
  state->js.reset(js);
  return Connection(std::move(state));
}

bool Connection::connected() const {
  return state_ && state_->nc &&
         natsConnection_Status(state_->nc.get()) == NATS_CONN_STATUS_CONNECTED;
}
jsCtx* Connection::js() const {
  return state_->js.get();
}
std::chrono::milliseconds Connection::timeout() const {
  return state_->timeout;
}

std::optional<std::string_view> header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) return std::nullopt;
  return std::string_view(value);
}

std::string_view body(natsMsg* msg) {
  const char* data = natsMsg_GetData(msg);
  return data == nullptr ? std::string_view()
                         : std::string_view(data, std::size_t(natsMsg_GetDataLength(msg)));
}

Result<std::optional<MsgPtr>> last_message(const Connection& c, std::string_view stream,
                                           std::string_view subject) {
  const std::string name(stream), subj(subject);
  natsMsg* msg = nullptr;
  jsErrCode jerr = jsErrCode(0);
  const natsStatus s = js_GetLastMsg(&msg, c.js(), name.c_str(), subj.c_str(), nullptr, &jerr);
  if (s == NATS_OK) return std::optional<MsgPtr>(MsgPtr(msg));
  if (jerr == JSNoMessageFoundErr) return std::optional<MsgPtr>();
  if (jerr == JSStreamNotFoundErr) {
    return error_from("reading the last message on " + subj + ": stream " + name + " not found", s,
                      jerr, Errc::not_found);
  }
  return error_from("reading the last message on " + subj, s, jerr);
}

Result<MsgPtr> message_at(const Connection& c, std::string_view stream, std::uint64_t seq) {
  const std::string name(stream);
  natsMsg* msg = nullptr;
  jsErrCode jerr = jsErrCode(0);
  const natsStatus s = js_GetMsg(&msg, c.js(), name.c_str(), seq, nullptr, &jerr);
  if (s == NATS_OK) return MsgPtr(msg);
  const std::string what = "reading stream " + name + " at sequence " + std::to_string(seq);
  if (jerr == JSNoMessageFoundErr || jerr == JSStreamNotFoundErr)
    return error_from(what, s, jerr, Errc::not_found);
  return error_from(what, s, jerr);
}

std::uint64_t direct_sequence(natsMsg* msg) {
  if (const std::uint64_t seq = natsMsg_GetSequence(msg); seq != 0) return seq;
  const auto text = header(msg, JSSequence);
  std::uint64_t seq = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), seq);
  return seq;
}

Result<std::optional<MsgPtr>> next_message(const Connection& c, std::string_view stream,
                                           std::string_view subject, std::uint64_t from) {
  const std::string name(stream), subj(subject);
  jsDirectGetMsgOptions o;
  jsDirectGetMsgOptions_Init(&o);
  o.Sequence = from;
  o.NextBySubject = subj.c_str();
  natsMsg* raw = nullptr;
  const natsStatus s = js_DirectGetMsg(&raw, c.js(), name.c_str(), nullptr, &o);
  if (s == NATS_NOT_FOUND) return std::optional<MsgPtr>();
  if (s != NATS_OK) {
    return error_from("reading the first message on " + subj + " from stream sequence " +
                          std::to_string(from) + " (a direct get: stream " + name +
                          " must exist and allow direct gets, as fleet init makes it)",
                      s);
  }
  MsgPtr msg(raw);
  if (direct_sequence(msg.get()) < from)
    return error_from("a direct get without Nats-Sequence on " + subj, NATS_ERR);
  return std::optional<MsgPtr>(std::move(msg));
}

Result<SubjectState> subject_state(const Connection& c, std::string_view stream,
                                   std::string_view subject) {
  const std::string name(stream), subj(subject);
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Info.SubjectsFilter = subj.c_str();
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  const natsStatus s = js_GetStreamInfo(&raw, c.js(), name.c_str(), &o, &jerr);
  if (s != NATS_OK) {
    const std::string what = "reading stream " + name + "'s count of messages on " + subj;
    if (jerr == JSStreamNotFoundErr) return error_from(what, s, jerr, Errc::not_found);
    return error_from(what, s, jerr);
  }
  StreamInfoPtr info(raw);
  SubjectState out;
  out.stream_last = info->State.LastSeq;
  if (const jsStreamStateSubjects* subjects = info->State.Subjects; subjects != nullptr) {
    for (int i = 0; i < subjects->Count; ++i) {
      const jsStreamStateSubject& e = subjects->List[i];
      if (e.Subject != nullptr && subj == e.Subject) out.messages += e.Msgs;
    }
  }
  return out;
}

namespace {

// The subject's messages from `from` through `through`, one direct get each:
// any replica answers, and no consumer has to be placed.
Result<void> walk_direct(const Connection& c, const std::string& stream, const std::string& subject,
                         std::uint64_t from, std::uint64_t through,
                         const std::function<Result<void>(natsMsg*, std::uint64_t)>& visit) {
  for (std::uint64_t next = from; next <= through;) {
    auto msg = next_message(c, stream, subject, next);
    if (!msg) return msg.error();
    if (!*msg) return {};
    natsMsg* raw = msg->value().get();
    const std::uint64_t seq = direct_sequence(raw);
    if (seq > through) return {};
    if (auto r = visit(raw, seq); !r) return r;
    next = seq + 1;
  }
  return {};
}

}  // namespace

Result<void> for_each_message(const Connection& c, std::string_view stream,
                              std::string_view subject, std::uint64_t from,
                              const std::function<Result<void>(natsMsg*, std::uint64_t)>& visit,
                              Walk walk) {
  auto last = last_message(c, stream, subject);
  if (!last) return last.error();
  if (!*last) return {};
  const std::uint64_t through = natsMsg_GetSequence(last->value().get());
  std::uint64_t next = std::max<std::uint64_t>(from, 1);
  if (next > through) return {};

  const std::string name(stream), subj(subject);
  if (walk == Walk::consumer_first) {
    auto pushed = walk_pushed(c, name, subj, next,
                              [&](natsMsg* msg, std::uint64_t seq, std::uint64_t) -> Result<bool> {
                                if (auto r = visit(msg, seq); !r) return r.error();
                                return seq < through;
                              });
    if (!pushed) return pushed.error();
    next = *pushed;
  }
  if (next > through) return {};
  // No consumer could be placed in time (a cluster that has just lost a node
  // may take many seconds), or it stalled: the rest by direct gets.
  return walk_direct(c, name, subj, next, through, visit);
}

Result<std::uint64_t> walk_pushed(const Connection& c, const std::string& stream,
                                  const std::string& filter, std::uint64_t from,
                                  const PushedVisit& visit) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = from;
  natsSubscription* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  if (js_SubscribeSync(&raw, c.js(), filter.c_str(), nullptr, &so, &jerr) != NATS_OK) return from;
  SubscriptionPtr sub(raw);
  std::uint64_t next = from;
  for (;;) {
    natsMsg* got = nullptr;
    if (natsSubscription_NextMsg(&got, sub.get(), c.timeout().count()) != NATS_OK) break;
    MsgPtr msg(got);
    jsMsgMetaData* raw_meta = nullptr;
    if (natsMsg_GetMetaData(&raw_meta, msg.get()) != NATS_OK) break;
    MetaPtr meta(raw_meta);
    const std::uint64_t seq = meta->Sequence.Stream;
    auto more = visit(msg.get(), seq, meta->NumPending);
    if (!more) {
      c.unsubscribe(std::move(sub));
      return more.error();
    }
    next = seq + 1;
    if (!*more) break;
  }
  // The server drops the ephemeral consumer on its own if this fails.
  c.unsubscribe(std::move(sub));
  return next;
}

Result<Published> publish(const Connection& c, natsMsg* msg, const std::string& msg_id,
                          std::uint64_t expect_last_subject_seq) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  po.MaxWait = c.timeout().count();
  if (expect_last_subject_seq == 0) {
    po.ExpectNoMessage = true;
  } else {
    po.ExpectLastSubjectSeq = expect_last_subject_seq;
  }
  jsPubAck* raw = nullptr;
  jsErrCode jerr = jsErrCode(0);
  const natsStatus s = js_PublishMsg(&raw, c.js(), msg, &po, &jerr);
  if (s == NATS_OK) {
    PubAckPtr ack(raw);
    return Published{ack->Sequence, ack->Duplicate};
  }
  const std::string what = "publishing " + msg_id;
  if (jerr == JSStreamWrongLastSequenceErr) return error_from(what, s, jerr, Errc::head_moved);
  if (s == NATS_NO_RESPONDERS)
    return error_from(what + ": no stream takes the subject", s, jerr, Errc::not_found);
  return error_from(what, s, jerr);
}

}  // namespace fj::fleet::nats
