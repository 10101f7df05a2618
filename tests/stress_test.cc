// Multi-process stress: several writer processes (each its own Journal and
// Ledger, one of them the embeddable service with two client threads) and
// reader processes on one journal at once, for at least kWriteFor and then
// until enough has happened to judge (kMaxRun at most). Afterwards:
// one total order (every acknowledged seq claimed once, each single-threaded
// writer's seqs rising in the order it was answered, the head equal to the
// number of acknowledged events), every acknowledged event where it was acknowledged,
// a clean audit; and every reader, at every read, saw a consistent prefix:
// records 1..head that decode, replay without anomaly, hash to the chain
// head stored in the same transaction, and extend what it saw before.
#include "crashtest/invariants.h"
#include "crashtest/waiter.h"
#include "daemon/service.h"
#include "journal/codec.h"
#include "journal/journal.h"
#include "projector/audit.h"
#include "projector/ledger.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace fj {
namespace {

using testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr int kLedgerWriters = 3;
constexpr int kServiceWriters = 1;
constexpr int kReaders = 3;
constexpr auto kWriteFor = std::chrono::milliseconds(2500);
// Past kWriteFor the run goes on until the checks below have enough to judge
// (more than kMinAcks acknowledged events, kMinHeads heads seen by every
// reader), which a slow or sanitized build may need longer for; but no
// longer than this.
constexpr auto kMaxRun = std::chrono::seconds(60);
constexpr std::uint64_t kMinAcks = 1000;
constexpr std::uint64_t kMinHeads = 10;
const std::vector<std::string> kShared = {"shared0", "shared1", "shared2"};

// What the children have done so far and when they are to stop, in an
// anonymous shared mapping made before they are forked.
struct Progress {
  std::atomic<std::uint64_t> acks{0};
  std::atomic<std::uint64_t> heads[kReaders]{};
  std::atomic<bool> stop{false};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
              std::atomic<bool>::is_always_lock_free);

class SharedProgress {
 public:
  SharedProgress() {
    void* at = ::mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    if (at != MAP_FAILED) progress_ = new (at) Progress;
  }
  ~SharedProgress() {
    if (progress_ != nullptr) ::munmap(progress_, sizeof(Progress));
  }
  SharedProgress(const SharedProgress&) = delete;
  SharedProgress& operator=(const SharedProgress&) = delete;
  Progress* get() const { return progress_; }

 private:
  Progress* progress_ = nullptr;
};

// One line to the parent per write(2), so lines from two threads never mix.
void say(int fd, std::string line) {
  line += '\n';
  for (std::size_t done = 0; done < line.size();) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n <= 0) ::_exit(5);
    done += static_cast<std::size_t>(n);
  }
}

// The commands of writer `w`: forks with ids unique to the writer under the
// shared templates and its own, unforks of its own forks, its own templates
// registered and retired (retire is refused while forks live).
class Workload {
 public:
  Workload(int writer, unsigned seed) : w_("w" + std::to_string(writer)), rng_(seed) {}

  Command next() {
    const unsigned roll = rng_() % 100;
    if (roll < 5 || own_.empty()) {
      own_.push_back(w_ + "t" + std::to_string(n_++));
      return RegisterTemplate{own_.back(), w_ + "src", ""};
    }
    if (roll < 55 || live_.empty()) {
      const std::string tpl =
          rng_() % 2 == 0 ? kShared[rng_() % kShared.size()] : own_[rng_() % own_.size()];
      return AddFork{tpl, w_ + "f" + std::to_string(n_++)};
    }
    if (roll < 95) {
      const std::size_t pick = rng_() % live_.size();
      auto [tpl, fork] = live_[pick];
      live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(pick));
      return RemoveFork{tpl, fork};
    }
    return RetireTemplate{own_[rng_() % own_.size()]};
  }

  // Records what an acknowledged command changed; returns the ack line.
  std::string acknowledge(const Command& c, std::uint64_t seq) {
    std::string line = "A " + std::to_string(seq) + " ";
    std::visit(
        [&](const auto& cmd) {
          using T = std::decay_t<decltype(cmd)>;
          if constexpr (std::is_same_v<T, RegisterTemplate>) {
            line += "1 " + cmd.template_id + " - " + cmd.source;
          } else if constexpr (std::is_same_v<T, AddFork>) {
            line += "2 " + cmd.template_id + " " + cmd.fork + " -";
            live_.emplace_back(cmd.template_id, cmd.fork);
          } else if constexpr (std::is_same_v<T, RemoveFork>) {
            line += "3 " + cmd.template_id + " " + cmd.fork + " -";
          } else {
            line += "4 " + cmd.template_id + " - -";
            std::erase(own_, cmd.template_id);
          }
        },
        c);
    return line;
  }

 private:
  std::string w_;
  std::mt19937 rng_;
  std::uint64_t n_ = 0;
  std::vector<std::string> own_;
  std::vector<std::pair<std::string, std::string>> live_;
};

// Settles one outcome: refusals are part of the workload; anything else is a
// failure reported to the parent.
bool settle(int fd, Progress& progress, Workload& work, const Command& c,
            const Result<Outcome>& r) {
  if (!r) {
    if (r.error().refusal()) return true;
    say(fd, "X " + std::string(code_name(r.error().code)) + ": " + r.error().message);
    return false;
  }
  if (r->first_seq == 0 || r->last_seq != r->first_seq) {
    say(fd, "X command appended seqs " + std::to_string(r->first_seq) + "-" +
                std::to_string(r->last_seq) + ", expected one event");
    return false;
  }
  say(fd, work.acknowledge(c, r->first_seq));
  ++progress.acks;
  return true;
}

[[noreturn]] void ledger_writer(const std::string& dir, int index, Progress& progress,
                                Clock::time_point until, int fd) {
  auto journal = Journal::open(dir, JournalOptions{.sync = SyncMode::none});
  if (!journal) {
    say(fd, "X open: " + journal.error().message);
    ::_exit(1);
  }
  auto ledger = Ledger::open(*journal);
  if (!ledger) ::_exit(1);
  Workload work(index, 100 + static_cast<unsigned>(index));
  while (!progress.stop && Clock::now() < until) {
    if (index % 2 == 0) {
      // A small group commit now and then.
      std::vector<Request> batch;
      for (int i = 0; i < 3; ++i) batch.push_back(Request{work.next(), ""});
      auto results = ledger->execute_batch(batch, Origin::api);
      if (!results) {
        say(fd, "X batch: " + results.error().message);
        ::_exit(1);
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!settle(fd, progress, work, batch[i].command, (*results)[i])) ::_exit(1);
      }
    } else {
      const Command c = work.next();
      if (!settle(fd, progress, work, c, ledger->execute(c, Origin::api))) ::_exit(1);
    }
  }
  ::_exit(0);
}

[[noreturn]] void service_writer(const std::string& dir, int index, Progress& progress,
                                 Clock::time_point until, int fd) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  service::ServiceOptions options;
  options.journal = dir;
  options.sync = SyncMode::none;
  auto service = service::Service::start(io.get_executor(), options);
  if (!service) {
    say(fd, "X service: " + service.error().message);
    ::_exit(1);
  }
  std::vector<std::thread> clients;
  std::atomic<bool> failed{false};
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&, t] {
      Workload work(index * 10 + t, 200 + static_cast<unsigned>(t));
      while (!progress.stop && Clock::now() < until && !failed) {
        std::vector<Command> commands;
        std::vector<std::future<Result<Outcome>>> pending;
        for (int i = 0; i < 4; ++i) {
          commands.push_back(work.next());
          Waiter<Result<Outcome>> done;
          (*service)->async_execute(Request{commands.back(), ""}, done.callback());
          pending.push_back(std::move(done.future));
        }
        for (std::size_t i = 0; i < pending.size(); ++i) {
          if (!settle(fd, progress, work, commands[i], pending[i].get())) failed = true;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  (*service)->stop();
  guard.reset();
  runner.join();
  ::_exit(failed ? 1 : 0);
}

// Reads the journal over and over, counting the heads seen in
// progress.heads[index], until `linger` after progress.stop (or `until`): at
// every read, the records 1..head of one read transaction must decode,
// replay without anomaly, hash to the chain head stored in that transaction,
// and extend the previous read's prefix. Every fourth read is a full replay
// from seq 1 compared with the incrementally kept projection.
[[noreturn]] void reader(const std::string& dir, int index, Progress& progress,
                         Clock::time_point until, Clock::duration linger, int fd) {
  auto journal = Journal::open(dir, JournalOptions{.read_only = true});
  if (!journal) {
    say(fd, "X open: " + journal.error().message);
    ::_exit(1);
  }
  const std::string journal_id = journal->info().journal_id;
  Projection state;
  ChainHash chain = chain_seed(journal_id);
  std::uint64_t reads = 0, full = 0, first_head = 0, heads = 0, last_head = 0;
  const auto fail = [&](const std::string& why) {
    say(fd,
        "X read " + std::to_string(reads) + " at seq " + std::to_string(state.seq()) + ": " + why);
    ::_exit(1);
  };
  std::optional<Clock::time_point> stopped;
  for (;;) {
    const auto now = Clock::now();
    if (!stopped && (progress.stop || now >= until)) stopped = now;
    if (stopped && now >= *stopped + linger) break;
    std::string problem;
    auto done = journal->read([&](Reader& r) -> Result<void> {
      auto head = r.head();
      if (!head) return head.error();
      if (*head < state.seq()) {
        problem = "the head went back to " + std::to_string(*head);
        return {};
      }
      auto walked = r.for_each(state.seq() + 1, *head,
                               [&](std::uint64_t seq, std::string_view rec) -> Result<void> {
                                 auto e = decode(seq, rec);
                                 if (!e) return e.error();
                                 chain = chain_next(chain, seq, rec);
                                 state.apply(seq, *e);
                                 return {};
                               });
      if (!walked) return walked;
      auto stored = r.chain_head();
      if (!stored) return stored.error();
      if (stored->seq != *head || stored->value != chain) {
        problem = "the chain over records 1.." + std::to_string(*head) +
                  " differs from the chain head stored with them (at seq " +
                  std::to_string(stored->seq) + ")";
        return {};
      }
      if (reads % 4 == 3) {
        Projection scratch;
        if (auto ok = apply_range(r, scratch, *head); !ok) return ok;
        if (!(scratch == state)) problem = "a full replay differs from the incremental one";
        ++full;
      }
      return {};
    });
    if (!done) fail(std::string(code_name(done.error().code)) + ": " + done.error().message);
    if (!problem.empty()) fail(problem);
    if (!state.anomalies().empty()) {
      fail("anomaly at seq " + std::to_string(state.anomalies().front().seq) + ": " +
           std::string(anomaly_name(state.anomalies().front().kind)));
    }
    if (reads++ == 0) first_head = state.seq();
    if (state.seq() != last_head) {
      ++heads;
      last_head = state.seq();
      progress.heads[index] = heads;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // nothing new yet
    }
  }
  say(fd, "R " + std::to_string(reads) + " " + std::to_string(heads) + " " +
              std::to_string(first_head) + " " + std::to_string(state.seq()) + " " +
              std::to_string(full));
  ::_exit(0);
}

struct Child {
  pid_t pid = -1;
  int fd = -1;
  std::string kind;
  std::string out;
  int status = 0;
};

template <class Fn>
Child spawn(const std::string& kind, Fn&& body) {
  int fds[2];
  Child c;
  c.kind = kind;
  if (::pipe(fds) != 0) return c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::close(fds[0]);
    body(fds[1]);
    ::_exit(9);
  }
  ::close(fds[1]);
  c.fd = fds[0];
  return c;
}

// Drains every child's pipe until all are closed, calling `tick` at least
// every 50 ms meanwhile, then reaps them.
void collect(std::vector<Child>& children, const std::function<void()>& tick) {
  auto heard = Clock::now();
  for (;;) {
    tick();
    std::vector<pollfd> fds;
    std::vector<Child*> open;
    for (Child& c : children) {
      if (c.fd >= 0) {
        fds.push_back(pollfd{c.fd, POLLIN, 0});
        open.push_back(&c);
      }
    }
    if (fds.empty()) break;
    const int ready = ::poll(fds.data(), fds.size(), 50);
    if (ready < 0 || (ready == 0 && Clock::now() - heard > std::chrono::seconds(30))) {
      ADD_FAILURE() << "the children stopped talking for 30 s";
      for (Child* c : open) ::kill(c->pid, SIGKILL);
      break;
    }
    if (ready == 0) continue;
    heard = Clock::now();
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      char buf[1 << 16];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        open[i]->out.append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(open[i]->fd);
        open[i]->fd = -1;
      }
    }
  }
  for (Child& c : children) ::waitpid(c.pid, &c.status, 0);
}

TEST(Stress, WritersAndReadersInManyProcessesKeepOneOrderAndSeeConsistentPrefixes) {
  TempDir dir;
  {
    auto j = Journal::create(dir.path(), JournalOptions{.sync = SyncMode::none});
    ASSERT_TRUE(j);
    auto ledger = Ledger::open(*j);
    ASSERT_TRUE(ledger);
    for (const std::string& t : kShared) {
      ASSERT_TRUE(ledger->execute(RegisterTemplate{t, "src-" + t, ""}, Origin::api));
    }
  }
  const std::uint64_t setup_events = kShared.size();
  SharedProgress shared;
  ASSERT_NE(shared.get(), nullptr) << "mmap: " << std::strerror(errno);
  Progress& progress = *shared.get();
  const auto began = Clock::now();
  const auto until = began + kMaxRun;
  std::vector<Child> children;
  for (int r = 0; r < kReaders; ++r) {
    // Readers start first and go on a little longer than the writers.
    children.push_back(spawn("reader", [&, r](int fd) {
      reader(dir.path(), r, progress, until, std::chrono::milliseconds(300), fd);
    }));
  }
  for (int w = 0; w < kLedgerWriters; ++w) {
    children.push_back(
        spawn("writer", [&, w](int fd) { ledger_writer(dir.path(), w, progress, until, fd); }));
  }
  for (int w = 0; w < kServiceWriters; ++w) {
    const int index = kLedgerWriters + w;
    children.push_back(spawn("service writer", [&, index](int fd) {
      service_writer(dir.path(), index, progress, until, fd);
    }));
  }
  for (const Child& c : children) ASSERT_GT(c.pid, 0) << "fork failed";
  collect(children, [&] {
    if (progress.stop) return;
    bool enough = Clock::now() - began >= kWriteFor && progress.acks > kMinAcks;
    for (const auto& heads : progress.heads) enough = enough && heads >= kMinHeads;
    // A child that ended before the stop failed: nothing more to wait for.
    const bool failed =
        std::any_of(children.begin(), children.end(), [](const Child& c) { return c.fd < 0; });
    if (enough || failed) progress.stop = true;
  });
  RecordProperty("run_seconds",
                 std::to_string(std::chrono::duration<double>(Clock::now() - began).count()));

  std::map<std::uint64_t, invariants::AckedEvent> acked;
  std::uint64_t reads = 0, distinct_heads = 0;
  for (std::size_t i = 0; i < children.size(); ++i) {
    const Child& c = children[i];
    SCOPED_TRACE(c.kind + " " + std::to_string(i));
    EXPECT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0)
        << "status " << c.status << "; last words: "
        << c.out.substr(c.out.size() - std::min<std::size_t>(c.out.size(), 300));
    std::istringstream lines(c.out);
    std::uint64_t last_seq = 0;
    bool reported = false;
    for (std::string line; std::getline(lines, line);) {
      std::istringstream in(line);
      std::string tag;
      in >> tag;
      if (tag == "A") {
        invariants::AckedEvent a;
        int type = 0;
        in >> a.seq >> type >> a.template_id >> a.fork >> a.source;
        ASSERT_TRUE(in) << line;
        const std::uint64_t seq = a.seq;
        a.type = static_cast<EventType>(type);
        if (a.fork == "-") a.fork.clear();
        if (a.source == "-") a.source.clear();
        a.label = c.kind + " " + std::to_string(i);
        if (c.kind == "writer") {
          // One thread per ledger writer: its seqs rise in the order answered.
          EXPECT_GT(seq, last_seq) << "writer " << i << " got seq " << seq << " after " << last_seq;
        }
        last_seq = seq;
        const auto [it, fresh] = acked.emplace(seq, a);
        EXPECT_TRUE(fresh) << "seq " << seq << " acknowledged to " << it->second.label << " and "
                           << i;
      } else if (tag == "R") {
        std::uint64_t n = 0, heads = 0, first = 0, last = 0, full = 0;
        in >> n >> heads >> first >> last >> full;
        reported = true;
        reads += n;
        distinct_heads += heads;
        EXPECT_GE(heads, kMinHeads)
            << "a reader saw only " << heads << " different heads in " << n << " reads";
        EXPECT_GT(last, first) << "a reader never saw the journal grow";
        EXPECT_GE(full, 1u);
      } else {
        ADD_FAILURE() << line;
      }
    }
    if (c.kind == "reader") {
      EXPECT_TRUE(reported) << "the reader did not report";
    }
  }

  auto j = Journal::open(dir.path(), JournalOptions{.read_only = true});
  ASSERT_TRUE(j);
  const std::uint64_t head = *j->head();
  // No writer was killed: every event is an acknowledged one, each claimed
  // once, so the seqs after the setup are exactly the acknowledged ones.
  ASSERT_GT(acked.size(), kMinAcks) << "too little traffic to mean anything";
  EXPECT_EQ(head, setup_events + acked.size());
  EXPECT_EQ(acked.begin()->first, setup_events + 1);
  EXPECT_EQ(acked.rbegin()->first, head);
  std::vector<invariants::AckedEvent> events;
  for (const auto& [seq, a] : acked) events.push_back(a);
  const auto present = invariants::acknowledged_present(
      *j, events,
      {.after = setup_events, .head = head, .name = "the writers' seqs", .complete = true});
  EXPECT_TRUE(present) << present.error().what;
  const auto audited = invariants::clean_audit(*j);
  EXPECT_TRUE(audited) << audited.error().what;
  const auto loaded = invariants::load_matches_replay(*j, head);
  EXPECT_TRUE(loaded) << loaded.error().what;
  RecordProperty("events", std::to_string(head));
  RecordProperty("reads", std::to_string(reads));
  RecordProperty("heads_seen", std::to_string(distinct_heads));
}

}  // namespace
}  // namespace fj
