#include "fleet/internal/stream_read.h"

#include <charconv>
#include <memory>
#include <string>

namespace fj::fleet::nats {
namespace {

// The stream sequence a direct get answered with (its Nats-Sequence header).
std::uint64_t direct_seq(natsMsg* msg) {
  if (const std::uint64_t seq = natsMsg_GetSequence(msg); seq != 0) return seq;
  const auto text = header(msg, JSSequence);
  std::uint64_t seq = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), seq);
  return seq;
}

}  // namespace

Result<std::uint64_t> for_each_in_stream(
    const Connection& c, std::string_view stream, std::string_view subject,
    const std::function<Result<void>(natsMsg*, std::uint64_t)>& visit, Walk walk) {
  const std::string name(stream), subj(subject);
  jsOptions jo;
  jsOptions_Init(&jo);
  if (!subj.empty()) jo.Stream.Info.SubjectsFilter = subj.c_str();
  jsStreamInfo* raw_info = nullptr;
  jsErrCode jerr = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&raw_info, c.js(), name.c_str(), &jo, &jerr);
  if (s != NATS_OK) {
    if (jerr == JSStreamNotFoundErr || s == NATS_NOT_FOUND) {
      return error_from("stream " + name + " not found (forkjournal fleet init creates it)", s,
                        jerr, Errc::not_found);
    }
    return error_from("reading stream " + name + "'s info", s, jerr);
  }
  StreamInfoPtr info(raw_info);
  std::uint64_t stored = info->State.Msgs;
  if (!subj.empty()) {
    stored = 0;
    if (const jsStreamStateSubjects* listed = info->State.Subjects) {
      for (int i = 0; i < listed->Count; ++i) stored += listed->List[i].Msgs;
    }
  }
  // A consumer over nothing would wait for the next message to be stored.
  if (stored == 0) return std::uint64_t{0};
  const std::uint64_t through = info->State.LastSeq;
  // Without a subject, the stream's own subjects: the consumer then filters
  // nothing out.
  const std::string filter = !subj.empty() ? subj
                             : info->Config->SubjectsLen == 1
                                 ? std::string(info->Config->Subjects[0])
                                 : std::string(">");
  std::uint64_t next = 1;  // the next stream sequence to read from
  std::uint64_t visited = 0;

  if (walk == Walk::consumer_first) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = name.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription* raw = nullptr;
    s = js_SubscribeSync(&raw, c.js(), filter.c_str(), nullptr, &so, &jerr);
    SubscriptionPtr sub(s == NATS_OK ? raw : nullptr);
    bool done = false;
    while (sub && !done) {
      natsMsg* got = nullptr;
      if (natsSubscription_NextMsg(&got, sub.get(), c.timeout().count()) != NATS_OK) break;
      MsgPtr msg(got);
      jsMsgMetaData* raw_meta = nullptr;
      if (natsMsg_GetMetaData(&raw_meta, msg.get()) != NATS_OK) break;
      MetaPtr meta(raw_meta);
      const std::uint64_t seq = meta->Sequence.Stream;
      ++visited;
      if (auto r = visit(msg.get(), seq); !r) {
        (void)natsSubscription_Unsubscribe(sub.get());  // ending early; the visitor's error wins
        return r.error();
      }
      next = seq + 1;
      done = meta->NumPending == 0;
    }
    // An ephemeral consumer the server drops on its own if this fails.
    if (sub) (void)natsSubscription_Unsubscribe(sub.get());
    if (done) return visited;
  }

  // No consumer could be placed in time (a cluster that has just lost a node
  // may take many seconds), or it stalled: the rest one direct get each,
  // which any replica answers, up to the last sequence stored at the start.
  while (next <= through) {
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = next;
    o.NextBySubject = filter.c_str();
    natsMsg* raw = nullptr;
    s = js_DirectGetMsg(&raw, c.js(), name.c_str(), nullptr, &o);
    if (s == NATS_NOT_FOUND) break;
    if (s != NATS_OK) {
      return error_from("reading " + filter + " in stream " + name + " at stream sequence " +
                            std::to_string(next),
                        s);
    }
    MsgPtr msg(raw);
    const std::uint64_t seq = direct_seq(msg.get());
    if (seq < next) return error_from("a direct get without Nats-Sequence on " + filter, s);
    if (seq > through) break;
    ++visited;
    if (auto r = visit(msg.get(), seq); !r) return r.error();
    next = seq + 1;
  }
  return visited;
}

}  // namespace fj::fleet::nats
