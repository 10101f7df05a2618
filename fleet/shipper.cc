#include "fleet/shipper.h"

#include "fleet/internal/nats.h"
#include "fleet/ship_host.h"
#include "fleet/stream.h"
#include "journal/chain.h"
#include "journal/codec.h"
#include "journal/hex.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace fj::fleet {
namespace {

// Events read from the journal per read transaction.
constexpr std::size_t kBatch = 512;
// Stream re-reads in a row without a stored publish before shipping halts.
constexpr int kMaxRereads = 5;

std::string local_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

std::optional<std::uint64_t> parse_seq(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// The chain value after `seq`: from the nearest stored checkpoint at or below
// it (the seed when there is none), over at most kChainCheckpointEvery - 1
// records.
Result<ChainHash> chain_at(Reader& r, const std::string& journal_id, std::uint64_t seq) {
  std::uint64_t base = seq - seq % kChainCheckpointEvery;
  ChainHash h = chain_seed(journal_id);
  if (base != 0) {
    auto checkpoint = r.chain_checkpoint(base);
    if (!checkpoint) return checkpoint.error();
    if (*checkpoint) {
      h = **checkpoint;
    } else {
      base = 0;
    }
  }
  if (seq == base) return h;
  auto walked = r.for_each(base + 1, seq, [&](std::uint64_t s, std::string_view bytes) {
    h = chain_next(h, s, bytes);
    return Result<void>();
  });
  if (!walked) return walked.error();
  return h;
}

struct Pending {
  std::uint64_t seq;
  std::string bytes;
};

}  // namespace

struct Shipper::Impl {
  Impl(const Journal& j, ShipOptions o)
      : journal(j), options(std::move(o)), subject(subject_for(j.info().journal_id)) {
    if (options.host.empty()) options.host = local_host_name();
    if (!options.log) options.log = [](const std::string&) {};
    st.host = options.host;
  }

  const Journal& journal;
  ShipOptions options;
  const std::string subject;

  // Wakes the thread; never held across I/O.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;            // guarded by mu
  std::uint64_t notified_head = 0;  // guarded by mu
  bool woken = false;               // guarded by mu
  // Whether the thread waits for notify(): only then does notify() signal
  // the condition variable. Under load the thread mostly waits for the
  // writer to go idle, and waking it on every commit would take CPU from
  // the commits it is yielding to.
  bool listening = false;  // guarded by mu

  // The connection: created and destroyed by the thread under conn_mu, which
  // stop() takes to close it from outside (libnats then fails a request in
  // progress).
  mutable std::mutex conn_mu;
  std::optional<nats::Connection> conn;

  mutable std::mutex st_mu;
  ShipState st;                          // guarded by st_mu
  std::int64_t oldest_unshipped_ns = 0;  // guarded by st_mu; 0: none
  std::atomic<bool> connected{false};

  // Thread state.
  bool positioned = false;
  std::uint64_t shipped = 0;          // the Fj-Seq of the subject's last message
  std::uint64_t last_stream_seq = 0;  // its stream sequence (0: none)
  // The server's last-message lookup finds no message on the subject although
  // it holds `last_stream_seq` (nats-server 2.9, once the subject's last
  // message was deleted). Its check of an expected last subject sequence
  // uses the same lookup, so it takes only "no message" (0) then, and only
  // for as long as nothing was stored on the subject since.
  bool server_sees_no_last = false;
  // The highest seq this process saw the stream hold: a stream that later
  // holds nothing on the subject lost that history.
  std::uint64_t confirmed = 0;
  // When an idle shipper next reads the subject's last message to notice a
  // stream deleted, purged or cut short while nothing was shipped.
  std::chrono::steady_clock::time_point next_recheck{};
  // Re-reads of the stream's last message since the last stored publish: a
  // stream that keeps refusing the seq after its last message (e.g. that
  // message was deleted, which nats-server 2.9 then reports as no message
  // at all) would otherwise be re-read and refused forever.
  int rereads = 0;
  bool halted = false;
  ChainHash chain{};  // the chain value after `shipped`
  std::chrono::milliseconds backoff{};
  bool failing = false;  // since the last success: log the first failure only
  // Waiting out the duplicate window: the stream acknowledges seqs as
  // duplicates of messages it no longer holds (deleted or purged). One
  // episode from the first such refusal until the shipper has caught up
  // (refills store many seqs whose ids leave the window one after another):
  // logged when it starts and when it ends, never per try.
  struct WindowWait {
    std::uint64_t first_seq = 0;  // the first seq refused
    std::uint64_t last_seq = 0;   // the latest seq refused
    std::chrono::steady_clock::time_point since{};
    std::uint64_t tries = 0;  // refused publishes
  };
  std::optional<WindowWait> window_wait;
  // Paused with nothing to ship since the last check of where the subject
  // ends: before publishing "no message" as the expected last (which the
  // server cannot check against the true last) the shipper looks again.
  bool idled = false;
  std::thread thread;

  bool should_stop() {
    std::lock_guard lock(mu);
    return stopping;
  }

  // Waits for `d`, or less when stop() is called (or, with wake_on_notify,
  // when notify() reports a new head).
  void pause(std::chrono::milliseconds d, bool wake_on_notify) {
    std::unique_lock lock(mu);
    listening = wake_on_notify;
    cv.wait_for(lock, d, [&] { return stopping || (wake_on_notify && woken); });
    listening = false;
    if (wake_on_notify) woken = false;
  }

  void yield_to_writer() {
    if (!options.writer_busy) return;
    const auto until = std::chrono::steady_clock::now() + options.yield_max;
    while (options.writer_busy() && std::chrono::steady_clock::now() < until) {
      pause(std::chrono::milliseconds(5), false);
      if (should_stop()) return;
    }
  }

  void fail(const Error& e) {
    if (should_stop()) return;  // stop() failing a request in flight is no news
    {
      std::lock_guard lock(st_mu);
      ++st.failures;
      st.last_error = e.message;
    }
    if (!failing) {
      options.log("shipping to NATS failed after seq " + std::to_string(shipped) + ": " +
                  e.message + "; retrying with backoff up to " +
                  std::to_string(options.backoff_max.count()) + " ms");
      failing = true;
    }
    positioned = false;
    pause(backoff, false);
    backoff = std::min(backoff * 2, options.backoff_max);
  }

  // Positioned on the stream again. After a failure (`after_failure`: the
  // shipper was failing when position() began) that is not yet the end of it
  // (the next publish may fail the same way): resumed_at() says so once an
  // event is stored, or once there is nothing to ship, and only then is the
  // backoff reset, so that a publish that keeps failing is retried with a
  // growing wait and logged once.
  void positioned_at(bool after_failure) {
    idled = false;
    next_recheck = std::chrono::steady_clock::now() + options.recheck_every;
    if (!after_failure) {
      options.log("shipping " + subject + " from seq " + std::to_string(shipped + 1));
    }
  }

  void halt(const std::string& why) {
    halted = true;
    {
      std::lock_guard lock(st_mu);
      st.halted = true;
      st.last_error = why;
    }
    options.log("shipping to NATS halted: " + why);
  }

  Result<void> connect() {
    nats::ConnectOptions co;
    co.timeout = options.timeout;
    co.on_change = [this](bool up) {
      connected = up;
      if (should_stop()) return;  // stop() closing the connection is no news
      options.log(std::string(up ? "reconnected to NATS" : "disconnected from NATS") +
                  " (shipped seq " + std::to_string(state_shipped()) + ")");
    };
    auto c = nats::Connection::open(options.urls, co);
    if (!c) return c.error();
    {
      std::lock_guard lock(conn_mu);
      if (should_stop()) return make_error(Errc::stopping, "stopping");
      conn.emplace(std::move(*c));
    }
    connected = true;
    options.log("connected to NATS " + options.urls + " (shipped seq " +
                std::to_string(state_shipped()) + ")");
    return {};
  }

  std::uint64_t state_shipped() {
    std::lock_guard lock(st_mu);
    return st.shipped_seq;
  }

  // The stream is gone: says so, and forgets the position (the stream holds
  // nothing now, so shipped_seq is 0 until it exists again).
  Error stream_missing(Error e) {
    // A stream seen before in this run was deleted, or a server starting
    // or stopping answered so for a moment: fleet init is not the only
    // remedy then.
    e.message = confirmed == 0
                    ? "stream " + std::string(kStreamName) + " does not exist on " + options.urls +
                          ": create it with 'forkjournal fleet init --nats URL'"
                    : "stream " + std::string(kStreamName) + " not found on " + options.urls +
                          " although it held seq " + std::to_string(confirmed) +
                          " of this journal: deleted (run 'forkjournal fleet init', "
                          "and the shipper refills it), or a NATS server starting or "
                          "stopping answered so";
    shipped = 0;
    last_stream_seq = 0;
    server_sees_no_last = false;
    std::lock_guard lock(st_mu);
    st.shipped_seq = 0;
    return e;
  }

  // The subject's true last message when the last-message lookup found none:
  // nullopt when the stream's per-subject count agrees that the subject is
  // empty. Otherwise its last message was deleted (nats-server 2.9 then
  // reports no last message while earlier ones remain), and a binary search
  // over the stream's sequences with next-by-subject direct gets finds the
  // last one left: about log2(stream's last sequence) small requests, once,
  // where shipping from seq 1 would store the whole history again.
  Result<std::optional<nats::MsgPtr>> true_last() {
    auto counted = nats::subject_state(*conn, kStreamName, subject);
    if (!counted) return counted.error();
    if (counted->messages == 0) return std::optional<nats::MsgPtr>();
    auto first = nats::next_message(*conn, kStreamName, subject, 1);
    if (!first) return first.error();
    if (!*first) {
      return make_error(Errc::unavailable, "stream " + std::string(kStreamName) + " counts " +
                                               std::to_string(counted->messages) + " messages on " +
                                               subject + " but a direct get finds none");
    }
    std::uint64_t lo = nats::direct_sequence(first->value().get());
    std::uint64_t hi = std::max(counted->stream_last, lo);
    // Invariant: the subject holds a message at lo and none after hi.
    while (lo < hi) {
      if (should_stop()) return make_error(Errc::stopping, "stopping");
      const std::uint64_t mid = lo + (hi - lo + 1) / 2;
      auto next = nats::next_message(*conn, kStreamName, subject, mid);
      if (!next) return next.error();
      if (*next) {
        lo = nats::direct_sequence(next->value().get());
      } else {
        hi = mid - 1;
      }
    }
    // Direct gets may be answered by a replica that lags behind the leader:
    // the leader must still hold the message found.
    auto held = nats::message_at(*conn, kStreamName, lo);
    if (!held) {
      Error e = held.error();
      e.code = Errc::unavailable;  // not the stream missing: retry
      e.message = "confirming the last message on " + subject + " at stream sequence " +
                  std::to_string(lo) + ": " + e.message;
      return e;
    }
    return std::optional<nats::MsgPtr>(std::move(*held));
  }

  // Checks `msg`, the subject's last message, against the journal and resumes
  // after it; false (after halt()) when it disagrees.
  Result<bool> resume_after(natsMsg* msg, const std::string& where) {
    const std::string& id = journal.info().journal_id;
    const auto seq_text = nats::header(msg, kSeqHeader.data());
    const auto journal_text = nats::header(msg, kJournalHeader.data());
    const auto chain_text = nats::header(msg, kChainHeader.data());
    const auto seq = seq_text ? parse_seq(*seq_text) : std::nullopt;
    if (!seq || *seq == 0 || journal_text != std::string_view(id) || !chain_text) {
      halt(where + " lacks a valid Fj-Seq, Fj-Journal or Fj-Chain header for journal " + id);
      return false;
    }
    auto head = journal.head();
    if (!head) return head.error();
    if (*seq > *head) {
      halt(where + " holds seq " + std::to_string(*seq) + " but the local journal ends at seq " +
           std::to_string(*head) + ": another history under journal id " + id);
      return false;
    }
    std::string local;
    auto at = journal.read([&](Reader& r) -> Result<ChainHash> {
      auto record = r.record(*seq);
      if (!record) return record.error();
      if (!*record) return make_error(Errc::seq_gap, "no record at seq", *seq);
      local.assign(**record);
      return chain_at(r, id, *seq);
    });
    if (!at) return at.error();
    if (*chain_text != to_hex(*at) || nats::body(msg) != local) {
      // Only this one seq was compared: the histories may part earlier, and
      // 'audit --witness' finds the first seq at which they do.
      halt(where + " disagrees with the local journal at seq " + std::to_string(*seq) +
           ", the one seq compared (" +
           (*chain_text != to_hex(*at) ? "chain value" : "record bytes") +
           " differ; the histories may part at an earlier seq: 'forkjournal audit --witness' "
           "names the first that differs): another history under journal id " +
           id);
      return false;
    }
    shipped = *seq;
    last_stream_seq = nats::direct_sequence(msg);
    chain = *at;
    return true;
  }

  // Reads the subject's last message and checks it against the journal;
  // false (after halt()) when it disagrees. `head` is the journal's head as
  // run() saw it: when the shipper was failing and the stream holds
  // everything through it (a publish that timed out but was stored), it has
  // resumed.
  Result<bool> position(const Result<std::uint64_t>& head) {
    auto last = nats::last_message(*conn, kStreamName, subject);
    if (!last) {
      if (last.error().code == Errc::not_found) return stream_missing(last.error());
      return last.error();
    }
    server_sees_no_last = false;
    // Logged once shipped_seq shows the position, where a reader of the log
    // finds it.
    std::string note;
    if (*last) {
      natsMsg* msg = last->value().get();
      auto ok = resume_after(msg, "the stream's last message on " + subject + " (stream sequence " +
                                      std::to_string(natsMsg_GetSequence(msg)) + ")");
      if (!ok || !*ok) return ok;
    } else {
      // No last message is not yet an empty subject: ask again another way.
      auto found = true_last();
      if (!found) {
        if (found.error().code == Errc::not_found) return stream_missing(found.error());
        return found.error();
      }
      if (*found) {
        natsMsg* msg = found->value().get();
        auto ok = resume_after(
            msg, "the last message left on " + subject + " (stream sequence " +
                     std::to_string(nats::direct_sequence(msg)) +
                     ", found by direct gets: the server's last-message lookup reports none, "
                     "as nats-server 2.9 does once a subject's last message is deleted)");
        if (!ok || !*ok) return ok;
        server_sees_no_last = true;
        note = "the stream's last-message lookup finds nothing on " + subject +
               " but it holds seq " + std::to_string(shipped) + " at stream sequence " +
               std::to_string(last_stream_seq) +
               " (its later messages were deleted): shipping on after it";
      } else {
        if (confirmed != 0) {
          // As after a purge or a deleted stream (docs/fleet.md): the host
          // refills the subject from its journal, the truth.
          note = "the stream holds no message on " + subject + " although it held seq " +
                 std::to_string(confirmed) +
                 " before (subject purged, or stream deleted and created again): "
                 "shipping the journal again from seq 1";
        }
        shipped = 0;
        last_stream_seq = 0;
        chain = chain_seed(journal.info().journal_id);
      }
    }
    positioned = true;
    confirmed = std::max(confirmed, shipped);
    const bool resumed = failing && head && *head <= shipped;
    if (resumed) resumed_at(shipped + 1);
    {
      // last_error cleared with the same lock that publishes shipped_seq: no
      // reader sees the shipper caught up and still failing.
      std::lock_guard lock(st_mu);
      st.shipped_seq = shipped;
      if (resumed) st.last_error.clear();
    }
    if (!note.empty()) options.log(note);
    return true;
  }

  // While nothing is to be shipped: one read of the subject's last message,
  // to notice a stream deleted, purged or cut short since (the next publish
  // would, but an idle journal makes none). Anything but what the shipper
  // left there positions it again.
  //
  // What is compared is the subject's last message itself, its stream
  // sequence and its Fj-Seq, with what the shipper shipped. When the server's
  // lookup finds no last message although the shipper left one there (the
  // state nats-server 2.9 is in once a subject's last message was deleted),
  // the last message left is found by direct gets (true_last) and compared
  // the same way: the lookup says "none" whether or not more was deleted
  // since, so it proves nothing then.
  void recheck() {
    idled = false;
    auto last = nats::last_message(*conn, kStreamName, subject);
    if (!last) {
      if (last.error().code == Errc::not_found) return fail(stream_missing(last.error()));
      return fail(last.error());
    }
    // Null: no message on the subject.
    nats::MsgPtr found = *last ? std::move(**last) : nullptr;
    const bool by_lookup = found != nullptr;
    if (!found && server_sees_no_last) {
      auto true_found = true_last();
      if (!true_found) {
        if (true_found.error().code == Errc::not_found)
          return fail(stream_missing(true_found.error()));
        return fail(true_found.error());
      }
      if (*true_found) found = std::move(**true_found);
    }
    std::uint64_t now_at = 0;
    std::optional<std::uint64_t> now_seq;
    if (found) {
      natsMsg* msg = found.get();
      now_at = nats::direct_sequence(msg);
      if (const auto text = nats::header(msg, kSeqHeader.data())) now_seq = parse_seq(*text);
    }
    const bool same_place = now_at == last_stream_seq && now_at != 0;
    if (same_place && now_seq == shipped) {
      // The server's lookup finds it again (e.g. after a restart): its own
      // check of the expected last sequence works again too.
      if (by_lookup) server_sees_no_last = false;
      return;
    }
    if (!found && last_stream_seq == 0 && shipped == 0) return;  // nothing shipped, none there
    options.log("the stream's last message on " + subject + " is " +
                (!found ? std::string("gone")
                        : "at stream sequence " + std::to_string(now_at) + " with Fj-Seq " +
                              (now_seq ? std::to_string(*now_seq) : std::string("unreadable"))) +
                ", not at stream sequence " + std::to_string(last_stream_seq) + " with seq " +
                std::to_string(shipped) + " where the shipper left it: reading the stream again");
    positioned = false;
  }

  // Refreshes head_seq and the age of the oldest unshipped event; returns
  // the head.
  Result<std::uint64_t> look_at_journal() {
    auto head = journal.head();
    if (!head) return head.error();
    std::int64_t oldest = 0;
    if (*head > shipped) {
      auto time = journal.read([&](Reader& r) -> Result<std::uint64_t> {
        auto record = r.record(shipped + 1);
        if (!record) return record.error();
        if (!*record) return make_error(Errc::seq_gap, "no record at seq", shipped + 1);
        EventView e;
        if (auto ok = decode_into(shipped + 1, **record, e); !ok) return ok.error();
        return e.time_ns;
      });
      if (!time) return time.error();
      oldest = std::int64_t(*time);
    }
    std::lock_guard lock(st_mu);
    st.head_seq = std::max(st.head_seq, *head);
    oldest_unshipped_ns = oldest;
    return *head;
  }

  Result<std::vector<Pending>> read_batch(std::uint64_t through) {
    std::vector<Pending> out;
    auto ok = journal.read([&](Reader& r) -> Result<void> {
      return r.for_each(shipped + 1, through, [&](std::uint64_t seq, std::string_view bytes) {
        out.push_back(Pending{seq, std::string(bytes)});
        return Result<void>();
      });
    });
    if (!ok) return ok.error();
    return out;
  }

  Result<nats::MsgPtr> message_for(const Pending& p, const ChainHash& after) {
    natsMsg* raw = nullptr;
    natsStatus s =
        natsMsg_Create(&raw, subject.c_str(), nullptr, p.bytes.data(), int(p.bytes.size()));
    if (s != NATS_OK) return nats::error_from("natsMsg_Create", s);
    nats::MsgPtr msg(raw);
    const std::string seq = std::to_string(p.seq), hex = to_hex(after);
    s = natsMsgHeader_Set(raw, kSeqHeader.data(), seq.c_str());
    if (s == NATS_OK)
      s = natsMsgHeader_Set(raw, kJournalHeader.data(), journal.info().journal_id.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(raw, kHostHeader.data(), options.host.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(raw, kChainHeader.data(), hex.c_str());
    if (s != NATS_OK) return nats::error_from("natsMsgHeader_Set", s);
    return msg;
  }

  // The stream holds something other than expected after `seq - 1`: read
  // its last message again, unless that keeps changing nothing.
  // `why` says how the latest attempt was refused.
  void reread(std::uint64_t seq, const std::string& why) {
    if (++rereads >= kMaxRereads) {
      return halt("the stream keeps refusing seq " + std::to_string(seq) + " on " + subject +
                  " (latest: " + why + ") after its last message was read again " +
                  std::to_string(rereads) + " times (last read: seq " + std::to_string(shipped) +
                  ", stream sequence " + std::to_string(last_stream_seq) +
                  "): its last message may have been deleted; compare it with 'forkjournal "
                  "audit --witness'");
    }
    positioned = false;
  }

  // The stream acknowledged `seq` as a duplicate of `stream_seq`, which it no
  // longer holds: retries the same publish (staying positioned, the same
  // expectation) with backoff until the stream's duplicate window has
  // passed. Logs only the first refusal of an episode (window_done() ends it).
  void wait_out_window(std::uint64_t seq, std::uint64_t stream_seq) {
    const std::string why =
        "the stream still knows seq " + std::to_string(seq) + "'s message id on " + subject +
        " as stream sequence " + std::to_string(stream_seq) +
        ", a deleted or purged message: retrying until its duplicate window has passed";
    if (!window_wait) {
      window_wait = WindowWait{seq, seq, std::chrono::steady_clock::now(), 0};
      options.log("shipping to NATS waits after seq " + std::to_string(shipped) + ": " + why +
                  "; retrying with backoff up to " + std::to_string(options.backoff_max.count()) +
                  " ms");
    }
    window_wait->last_seq = seq;
    ++window_wait->tries;
    {
      std::lock_guard lock(st_mu);
      st.last_error = why;
    }
    pause(backoff, false);
    backoff = std::min(backoff * 2, options.backoff_max);
  }

  // Caught up after waiting out the duplicate window: one line sums it up.
  void window_done() {
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - window_wait->since)
            .count();
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", waited);
    options.log("shipping to NATS caught up at seq " + std::to_string(shipped) + " on " + subject +
                ": seqs " + std::to_string(window_wait->first_seq) + ".." +
                std::to_string(window_wait->last_seq) + " waited out the duplicate window (" +
                std::to_string(window_wait->tries) + " refused tries over " + secs + " s)");
    window_wait.reset();
  }

  // `seq` was stored after a failure, or there is nothing to ship: one line
  // says so, before shipped_seq shows it. The caller clears last_error in the
  // critical section that publishes shipped_seq.
  void resumed_at(std::uint64_t seq) {
    options.log("shipping to NATS resumed: " + subject + " from seq " + std::to_string(seq));
    failing = false;
    backoff = options.backoff_min;
  }

  // Publishes the batch in order; stops at the first event not stored.
  void ship(const std::vector<Pending>& batch) {
    const std::string& id = journal.info().journal_id;
    for (const Pending& p : batch) {
      if (should_stop()) return;
      yield_to_writer();
      const ChainHash after = chain_next(chain, p.seq, p.bytes);
      auto msg = message_for(p, after);
      if (!msg) return fail(msg.error());
      const std::uint64_t expect = server_sees_no_last ? 0 : last_stream_seq;
      auto published = nats::publish(*conn, msg->get(), message_id(id, p.seq), expect);
      if (!published) {
        if (published.error().code == Errc::head_moved) {
          // Stored by an earlier incarnation (or a publish that timed out
          // but landed): the stream says where to go on.
          {
            std::lock_guard lock(st_mu);
            ++st.conflicts;
          }
          return reread(p.seq, "refused for a wrong last sequence");
        }
        if (published.error().code == Errc::not_found) {
          Error e = published.error();
          e.message += ": create the stream with 'forkjournal fleet init --nats URL'";
          return fail(e);
        }
        return fail(published.error());
      }
      if (published->duplicate) {
        // The id was stored before, perhaps not as the subject's last
        // message: re-read where the stream stands.
        {
          std::lock_guard lock(st_mu);
          ++st.duplicates;
        }
        // After the subject's messages were deleted or purged, the stream
        // still knows their ids for its duplicate window while the messages
        // are gone: then waiting out the window is all it takes, however
        // long (nothing is stored meanwhile).
        auto held = nats::message_at(*conn, kStreamName, published->stream_seq);
        if (!held && held.error().code == Errc::not_found)
          return wait_out_window(p.seq, published->stream_seq);
        if (!held) return fail(held.error());
        return reread(p.seq, "acknowledged as a duplicate of stream sequence " +
                                 std::to_string(published->stream_seq) +
                                 ", a message id stored before");
      }
      rereads = 0;
      const bool clear_error = failing || window_wait;
      if (failing) resumed_at(p.seq);
      // Stored: the window has passed for this seq (the next may still be
      // inside it); the episode ends once the shipper has caught up.
      if (window_wait) backoff = options.backoff_min;
      shipped = p.seq;
      confirmed = std::max(confirmed, shipped);
      last_stream_seq = published->stream_seq;
      server_sees_no_last = false;  // a stored message is the subject's last again
      chain = after;
      {
        std::lock_guard lock(st_mu);
        ++st.published;
        st.shipped_seq = shipped;
        st.head_seq = std::max(st.head_seq, shipped);
        if (clear_error) st.last_error.clear();  // with the seq stored
      }
    }
  }

  void run() {
    backoff = options.backoff_min;
    while (!should_stop()) {
      // First, so that the lag stays current while NATS is out of reach.
      auto head = look_at_journal();
      if (!conn) {
        if (auto ok = connect(); !ok) {
          if (ok.error().code == Errc::stopping) break;
          fail(ok.error());
          continue;
        }
      }
      if (!positioned) {
        const bool after_failure = failing;
        auto ok = position(head);
        if (!ok) {
          fail(ok.error());
          continue;
        }
        if (!*ok) break;  // halted
        positioned_at(after_failure);
      }
      if (!head) {
        fail(head.error());
        continue;
      }
      if (*head <= shipped) {
        // (A failing shipper caught up here resumed in position(): every
        // failure unpositions it.)
        if (window_wait) window_done();
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_recheck) {
          next_recheck = now + options.recheck_every;
          recheck();
          if (!positioned) continue;
        }
        const auto until_recheck = std::chrono::ceil<std::chrono::milliseconds>(next_recheck - now);
        pause(std::clamp(until_recheck, std::chrono::milliseconds(1), options.poll_every), true);
        idled = true;
        continue;
      }
      if (idled && server_sees_no_last) {
        // Publishing "no message" as the expected last would store the next
        // seq after whatever the subject holds now: first check that it
        // still ends where the shipper left it (it may have lost more).
        recheck();
        if (!positioned) continue;
      }
      auto batch = read_batch(std::min(*head, shipped + kBatch));
      if (!batch) {
        fail(batch.error());
        continue;
      }
      ship(*batch);
      if (halted) break;
      if (window_wait && shipped >= *head) window_done();  // before anyone sees it caught up
    }
    // Halted: keep the lag current for the stats until stopped.
    while (!should_stop()) {
      (void)look_at_journal();  // a failed look leaves the last values
      pause(options.poll_every, true);
    }
    std::lock_guard lock(conn_mu);
    conn.reset();
    connected = false;
  }
};

Result<void> check_ship_options(const ShipOptions& options) {
  if (auto urls = nats::parse_urls(options.urls); !urls) return urls.error();
  if (options.host.empty()) return {};  // the shipper asks gethostname
  return check_ship_host(options.host);
}

Shipper::Shipper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Shipper>> Shipper::start(const Journal& journal, ShipOptions options) {
  if (auto ok = check_ship_options(options); !ok) return ok.error();
  auto impl = std::make_unique<Impl>(journal, std::move(options));
  std::unique_ptr<Shipper> shipper(new Shipper(std::move(impl)));
  Impl* raw = shipper->impl_.get();
  raw->thread = std::thread([raw] { raw->run(); });
  return shipper;
}

Shipper::~Shipper() {
  stop();
}

void Shipper::notify(std::uint64_t head_seq) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->notified_head = std::max(impl_->notified_head, head_seq);
    impl_->woken = true;
    if (!impl_->listening) return;
  }
  impl_->cv.notify_one();
}

ShipState Shipper::state() const {
  std::uint64_t notified = 0;
  {
    std::lock_guard lock(impl_->mu);
    notified = impl_->notified_head;
  }
  ShipState s;
  std::int64_t oldest = 0;
  {
    std::lock_guard lock(impl_->st_mu);
    s = impl_->st;
    oldest = impl_->oldest_unshipped_ns;
  }
  s.connected = impl_->connected;
  s.head_seq = std::max(s.head_seq, notified);
  s.lag_events = s.head_seq > s.shipped_seq ? s.head_seq - s.shipped_seq : 0;
  if (s.lag_events != 0 && oldest != 0) {
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    s.lag_seconds = std::max(0.0, double(now - oldest) / 1e9);
  }
  return s;
}

void Shipper::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  {
    std::lock_guard lock(impl_->conn_mu);
    // A publish or read in progress fails once the connection has drained
    // (a round trip) instead of timing out.
    if (impl_->conn) impl_->conn->close();
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace fj::fleet
