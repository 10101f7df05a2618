#include "fleet/internal/stream_read.h"

#include <memory>
#include <string>

namespace fj::fleet::nats {

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
    bool done = false;
    auto pushed =
        walk_pushed(c, name, filter, next,
                    [&](natsMsg* msg, std::uint64_t seq, std::uint64_t pending) -> Result<bool> {
                      ++visited;
                      if (auto r = visit(msg, seq); !r) return r.error();
                      done = pending == 0;
                      return !done;
                    });
    if (!pushed) return pushed.error();
    if (done) return visited;
    next = *pushed;
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
    const std::uint64_t seq = direct_sequence(msg.get());
    if (seq < next) return error_from("a direct get without Nats-Sequence on " + filter, s);
    if (seq > through) break;
    ++visited;
    if (auto r = visit(msg.get(), seq); !r) return r.error();
    next = seq + 1;
  }
  return visited;
}

}  // namespace fj::fleet::nats
