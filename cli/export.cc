// forkjournal export: the events of a seq range as NDJSON, for pipelines.
// Unlike log, a range that reaches past the head is an error, so a pipeline
// never mistakes a short journal for a complete export. With --follow it
// then keeps printing the events any process commits, until SIGINT, SIGTERM
// or the reader closing stdout.
#include "cli/commands.h"
#include "cli/event_line.h"
#include "cli/stdout_lines.h"
#include "cli/stop_signals.h"
#include "journal/chain_cursor.h"
#include "journal/events.h"
#include "journal/head_watch.h"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

namespace fj::cli {
namespace {

// Lines buffered before they are written out.
constexpr std::size_t kFlushBytes = 64 * 1024;
// How long a follower sleeps when no write to data.mdb wakes it
// (journal/head_watch.h).
constexpr std::chrono::milliseconds kFallbackPoll{1000};

// What an idle follower waits for besides a commit, as one descriptor for
// HeadWatch::wait: an epoll set holding the stop signals' descriptor and
// stdout. A pipe whose reader closed reports POLLERR on its write end (a
// socket or terminal whose other end is gone, POLLHUP), which epoll reports
// whatever events were asked for; so the set becomes readable when the
// reader goes away, and the follower exits then instead of at the next
// commit's write. stdout that cannot be polled (a regular file, /dev/null)
// is left out: it has no reader to lose.
class IdleWake {
 public:
  static Result<IdleWake> open(int stop_fd) {
    IdleWake wake(::epoll_create1(EPOLL_CLOEXEC));
    if (wake.fd_ < 0) return os_error("epoll_create1");
    epoll_event stop{};
    stop.events = EPOLLIN;
    stop.data.fd = stop_fd;
    if (::epoll_ctl(wake.fd_, EPOLL_CTL_ADD, stop_fd, &stop) != 0) {
      return os_error("epoll_ctl (the stop signals)");
    }
    epoll_event out{};
    out.events = 0;  // EPOLLERR and EPOLLHUP are always reported
    out.data.fd = STDOUT_FILENO;
    if (::epoll_ctl(wake.fd_, EPOLL_CTL_ADD, STDOUT_FILENO, &out) != 0 && errno != EPERM) {
      return os_error("epoll_ctl (stdout)");
    }
    return wake;
  }
  IdleWake(IdleWake&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  IdleWake& operator=(IdleWake&&) = delete;
  IdleWake(const IdleWake&) = delete;
  ~IdleWake() {
    if (fd_ >= 0) ::close(fd_);
  }

  int fd() const noexcept { return fd_; }

  // Whether stdout's reader is gone, without waiting.
  static bool reader_gone() {
    pollfd out{STDOUT_FILENO, 0, 0};
    return ::poll(&out, 1, 0) == 1 && (out.revents & (POLLERR | POLLHUP)) != 0;
  }

 private:
  explicit IdleWake(int fd) noexcept : fd_(fd) {}
  static Error os_error(const char* what) {
    return make_error(Errc::io_error, std::string(what) + ": " + std::strerror(errno));
  }
  int fd_ = -1;
};

Error beyond_head(const char* option, std::uint64_t seq, std::uint64_t head) {
  return make_error(Errc::invalid_argument, std::string(option) + " " + std::to_string(seq) +
                                                " is beyond the head (seq " + std::to_string(head) +
                                                ")");
}

// Buffers the lines of [from, to] (to <= head), each with its chain value,
// and marks them as they are verified: at each checkpoint, and at the head.
// `chain_failed` tells a chain disagreement (whose unverified lines must not
// go out) from a damaged record (the lines before which do).
Result<void> add_lines(Reader& r, ChainCursor& chain, std::uint64_t from, std::uint64_t to,
                       std::uint64_t head, const std::string& journal_id, StdoutLines& out,
                       bool flush_as_it_goes, bool& chain_failed) {
  auto done = for_each_event(
      r, from, to,
      [&](std::uint64_t seq, const EventView& e, std::string_view record) -> Result<void> {
        auto value = chain.advance(r, record);
        if (!value) {
          chain_failed = true;
          return value.error();
        }
        out.add(export_line(seq, e, journal_id, *value));
        if (seq % kChainCheckpointEvery != 0) return {};
        out.mark();
        if (flush_as_it_goes && out.pending() >= kFlushBytes) return out.flush();
        return {};
      });
  if (!done) return done;
  // A range that ends between checkpoints is verified by walking on to the
  // next one (or the head) without printing.
  const std::uint64_t verified_at = std::min(
      head, (to + kChainCheckpointEvery - 1) / kChainCheckpointEvery * kChainCheckpointEvery);
  if (verified_at > to) {
    done = chain.walk(r, verified_at);
    if (!done && done.error().seq > to && done.error().code != Errc::corrupt_meta) {
      Error e = done.error();
      e.message += " (the chain values up to seq " + std::to_string(to) + " are checked at seq " +
                   std::to_string(verified_at) + ")";
      done = e;
    }
  }
  if (done) done = chain.check_head(r, head);
  if (!done) {
    chain_failed = true;
    return done;
  }
  out.mark();
  return {};
}

int export_range(const Options& o, const Journal& journal) {
  StdoutLines out;
  bool chain_failed = false;
  // One read transaction: the export is the journal as of one moment, also
  // while another process appends.
  auto done = journal.read([&](Reader& r) -> Result<void> {
    auto head = r.head();
    if (!head) return head.error();
    if (o.from && o.to && *o.from > *o.to) {
      return make_error(Errc::invalid_argument, "--from " + std::to_string(*o.from) +
                                                    " is after --to " + std::to_string(*o.to) +
                                                    " (the head is seq " + std::to_string(*head) +
                                                    ")");
    }
    if (o.from && *o.from > *head) return beyond_head("--from", *o.from, *head);
    if (o.to && *o.to > *head) return beyond_head("--to", *o.to, *head);
    const std::uint64_t from = o.from.value_or(1);
    const std::uint64_t to = o.to.value_or(*head);
    if (from > to) return {};
    auto chain = ChainCursor::before(r, from, journal.info().journal_id);
    if (!chain) return chain.error();
    return add_lines(r, *chain, from, to, *head, journal.info().journal_id, out, true,
                     chain_failed);
  });
  // The events before a damaged record are printed before it is reported;
  // after a chain disagreement, only the lines verified before it.
  auto flushed = chain_failed ? out.flush_marked() : out.flush();
  if (!done) return report(done.error());
  return flushed ? 0 : report(flushed.error());
}

int export_follow(const Options& o, const Journal& journal) {
  // The reader going away is the normal end of a follow: EPIPE, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  auto stop = StopSignals::open();
  if (!stop) return report(stop.error());
  // Watching starts before the first read, so no commit falls between them.
  auto watch = HeadWatch::open(o.journal);
  if (!watch) return report(watch.error());
  auto idle = IdleWake::open(stop->fd());
  if (!idle) return report(idle.error());
  StdoutLines out;
  bool chain_failed = false;
  const std::string& journal_id = journal.info().journal_id;
  std::optional<ChainCursor> chain;
  for (;;) {
    bool caught_up = false;
    auto read = journal.read([&](Reader& r) -> Result<void> {
      auto head = r.head();
      if (!head) return head.error();
      if (!chain) {
        const std::uint64_t from = o.from.value_or(1);
        if (from > *head + 1) {
          return make_error(Errc::invalid_argument,
                            "--from " + std::to_string(from) + " is beyond the head (seq " +
                                std::to_string(*head) + "): --follow starts at the head + 1 (seq " +
                                std::to_string(*head + 1) + ") at most");
        }
        auto started = ChainCursor::before(r, from, journal_id);
        if (!started) return started.error();
        chain.emplace(*started);
      }
      // At most one checkpoint window per read transaction, so that a long
      // catch-up holds no reader slot (and the pages it pins) for its whole
      // length; a chunk ends at a checkpoint or at the head, where its chain
      // values are verified before any of its lines go out.
      const std::uint64_t from = chain->next_seq();
      const std::uint64_t to =
          std::min(*head, (from - 1) / kChainCheckpointEvery * kChainCheckpointEvery +
                              kChainCheckpointEvery);
      caught_up = to == *head;
      if (from > to) return {};
      return add_lines(r, *chain, from, to, *head, journal_id, out, false, chain_failed);
    });
    // Lines go out after the read transaction, so that a slow reader never
    // holds one open.
    auto flushed = chain_failed ? out.flush_marked() : out.flush();
    if (!read) return report(read.error());
    if (!flushed) return report(flushed.error());
    if (out.closed() || stop->received()) return 0;
    if (!caught_up) continue;
    auto woke = watch->wait(kFallbackPoll, idle->fd());
    if (!woke) return report(woke.error());
    // A signal, or the reader gone: exit 0, quietly, as after EPIPE.
    if (*woke == HeadWatch::Wake::stop_fd && (stop->received() || IdleWake::reader_gone())) {
      return 0;
    }
  }
}

}  // namespace

int cmd_export(const Options& o) {
  // --from after --to is found in the read transaction, whose head the
  // error names.
  if (o.follow && o.to) {
    return report(make_error(Errc::invalid_argument, "--follow has no end: it takes no --to"));
  }
  auto journal = Journal::open(o.journal, JournalOptions{.read_only = true});
  if (!journal) return report(journal.error());
  return o.follow ? export_follow(o, *journal) : export_range(o, *journal);
}

}  // namespace fj::cli
