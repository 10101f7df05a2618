#include "fleet/internal/stream_read.h"

#include <memory>
#include <string>

namespace fj::fleet::nats {
namespace {

struct SubscriptionFree {
  void operator()(natsSubscription* s) const noexcept { natsSubscription_Destroy(s); }
};
struct MetaFree {
  void operator()(jsMsgMetaData* m) const noexcept { jsMsgMetaData_Destroy(m); }
};

}  // namespace

Result<std::uint64_t> for_each_in_stream(
    const Connection& c, std::string_view stream, std::string_view subject,
    const std::function<Result<void>(natsMsg*, std::uint64_t)>& visit) {
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

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = name.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* raw = nullptr;
  // Without a subject, the stream's own subjects: the consumer then filters
  // nothing out.
  const std::string filter = !subj.empty() ? subj
                             : info->Config->SubjectsLen == 1
                                 ? std::string(info->Config->Subjects[0])
                                 : std::string(">");
  s = js_SubscribeSync(&raw, c.js(), filter.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) return error_from("subscribing to " + filter + " in stream " + name, s, jerr);
  std::unique_ptr<natsSubscription, SubscriptionFree> sub(raw);
  std::uint64_t visited = 0;
  for (;;) {
    natsMsg* next = nullptr;
    s = natsSubscription_NextMsg(&next, sub.get(), c.timeout().count());
    if (s != NATS_OK) {
      (void)natsSubscription_Unsubscribe(sub.get());  // the consumer goes either way
      return error_from("reading stream " + name + " in order", s);
    }
    MsgPtr msg(next);
    jsMsgMetaData* raw_meta = nullptr;
    s = natsMsg_GetMetaData(&raw_meta, msg.get());
    if (s != NATS_OK) return error_from("natsMsg_GetMetaData on stream " + name, s);
    std::unique_ptr<jsMsgMetaData, MetaFree> meta(raw_meta);
    const std::uint64_t seq = meta->Sequence.Stream;
    ++visited;
    if (auto r = visit(msg.get(), seq); !r) {
      (void)natsSubscription_Unsubscribe(sub.get());  // ending early; the visitor's error wins
      return r.error();
    }
    if (meta->NumPending == 0) break;
  }
  // An ephemeral consumer the server drops on its own if this fails.
  (void)natsSubscription_Unsubscribe(sub.get());
  return visited;
}

}  // namespace fj::fleet::nats
