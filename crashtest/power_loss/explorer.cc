#include "crashtest/power_loss/explorer.h"

#include "crashtest/power_loss/crash_model.h"
#include "crashtest/power_loss/state_check.h"
#include "crashtest/power_loss/workload.h"
#include "present/sync_option.h"

#include <xxhash.h>
#include <boost/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>

namespace fj::power_loss {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

std::string make_work_dir(const std::string& keep) {
  std::error_code ec;
  if (!keep.empty()) {
    fs::create_directories(keep, ec);
    if (ec || !fs::is_empty(keep, ec)) fail("--keep " + keep + " must be a new or empty directory");
    return keep;
  }
  std::string pattern = (fs::temp_directory_path() / "fjpowerloss.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) fail("cannot create a temporary directory");
  return pattern;
}

// Runs the workload in a child process under the recorder.
void record(const ExploreOptions& o, const std::string& journal, const std::string& root,
            const std::string& trace) {
  if (::access(o.recorder.c_str(), R_OK) != 0) {
    fail("the write recorder " + o.recorder + " is missing (build the fjrecord target, or " +
         "give --recorder)");
  }
  std::vector<std::string> args{o.self,
                                "--power-loss-workload",
                                "--workload-journal",
                                journal,
                                "--workload-data-root",
                                root,
                                "--sync",
                                std::string(sync_mode_name(o.sync)),
                                "--seed",
                                std::to_string(o.seed),
                                "--requests",
                                std::to_string(o.requests)};
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = ::fork();
  if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    std::string preload = o.recorder;
    if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
      preload += std::string(":") + old;
    }
    ::setenv("LD_PRELOAD", preload.c_str(), 1);
    ::setenv("FJ_RECORD_DIR", journal.c_str(), 1);
    ::setenv("FJ_RECORD_TRACE", trace.c_str(), 1);
    // A sanitizer build insists on coming first in the library list; the
    // recorder only wraps libc calls, which the sanitizers see either way.
    std::string asan = "verify_asan_link_order=0";
    if (const char* old = std::getenv("ASAN_OPTIONS"); old != nullptr && *old != '\0') {
      asan = std::string(old) + ":" + asan;
    }
    ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(o.self.c_str(), argv.data());
    std::cerr << "forkjournal-crashtest: cannot run " << o.self << ": " << std::strerror(errno)
              << "\n";
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fail("the recorded workload failed (" +
         (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                              : "exit " + std::to_string(WEXITSTATUS(status))) +
         ")");
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_files(const fs::path& dir, const Files& files) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create " + dir.string() + ": " + ec.message());
  for (const auto& [name, bytes] : files) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) fail("cannot write " + (dir / name).string());
  }
}

fs::path state_directory(const fs::path& work) {
  std::string pattern = "/dev/shm/fjpowerloss-state.XXXXXX";
  if (::access("/dev/shm", W_OK) == 0 && ::mkdtemp(pattern.data()) != nullptr) return pattern;
  return work / "state";
}

// The trace must rebuild exactly what the workload left: otherwise the
// recorder missed a write and no state built from it can be trusted.
void check_recording(const CrashModel& model, const std::string& journal) {
  const Files rebuilt = model.final_files();
  for (const auto& entry : fs::directory_iterator(journal)) {
    const std::string name = entry.path().filename().string();
    if (name == "lock.mdb") continue;
    const auto it = rebuilt.find(name);
    if (it == rebuilt.end()) fail("the trace never created " + name + ", which the workload left");
    const std::string actual = read_file(entry.path());
    if (actual != it->second) {
      const auto diff =
          std::mismatch(actual.begin(), actual.end(), it->second.begin(), it->second.end());
      fail("the trace does not rebuild " + name + " (" + std::to_string(actual.size()) +
           " bytes on disk, " + std::to_string(it->second.size()) +
           " rebuilt, first difference at offset " + std::to_string(diff.first - actual.begin()) +
           "): the recorder missed a write");
    }
  }
  for (const auto& [name, bytes] : rebuilt) {
    if (!fs::exists(fs::path(journal) / name))
      fail("the trace left " + name + ", the disk does not");
  }
}

// Writes all of `text` to fd; false when the reader is gone.
bool write_all(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

// The next line from fd (buffered in `pending`); nothing at end-of-file.
std::optional<std::string> read_line(int fd, std::string& pending) {
  for (;;) {
    if (const auto nl = pending.find('\n'); nl != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return line;
    }
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending.append(buf, static_cast<std::size_t>(n));
  }
}

// Checks states in a worker process: LMDB may abort on a page no check
// covers, and that must end the worker, not the explorer. One worker serves
// state after state (a fork per state costs more than the check under the
// sanitizers); a worker that dies is replaced for the next state.
class Checker {
  // Starts the line a worker sends as a stage of the check begins.
  static constexpr const char* kStage = "> ";

 public:
  Checker(std::string dir, std::span<const Ack> acks, const Reference& reference)
      : dir_(std::move(dir)), acks_(acks), reference_(reference) {}
  ~Checker() { stop(); }
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // Checks the state in the directory against the first `acked`
  // acknowledgements; nothing, with `died` saying why and in which stage,
  // when the worker died.
  std::optional<Verdict> check(std::size_t acked, std::string& died) {
    if (pid_ < 0) spawn();
    std::optional<std::string> line;
    std::string stage;
    if (write_all(to_, std::to_string(acked) + "\n")) {
      // "> STAGE" as each stage of the check begins, then the verdict.
      while ((line = read_line(from_, pending_)) && line->starts_with(kStage)) {
        stage = line->substr(std::strlen(kStage));
      }
    }
    if (line) {
      auto v = from_line(*line);
      if (!v) died = "the check answered an unreadable line";
      return v;
    }
    const int status = stop();
    died = WIFSIGNALED(status)
               ? "the check died of signal " + std::to_string(WTERMSIG(status))
               : "the check exited " + std::to_string(WEXITSTATUS(status)) + " without a verdict";
    if (!stage.empty()) died += " in the " + stage;
    return std::nullopt;
  }

 private:
  void spawn() {
    int down[2], up[2];
    if (::pipe(down) != 0 || ::pipe(up) != 0) fail(std::string("pipe: ") + std::strerror(errno));
    std::cout.flush();
    std::cerr.flush();
    pid_ = ::fork();
    if (pid_ < 0) fail(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      std::string pending;
      while (auto request = read_line(down[0], pending)) {
        const std::size_t acked = std::min<std::size_t>(std::stoull(*request), acks_.size());
        const Verdict v = check_state(
            dir_, acks_.first(acked), reference_,
            [&](std::string_view stage) { write_all(up[1], kStage + std::string(stage) + "\n"); });
        if (!write_all(up[1], to_line(v) + "\n")) break;
      }
      ::_exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_ = down[1];
    from_ = up[0];
    pending_.clear();
  }

  int stop() {
    if (pid_ < 0) return 0;
    ::close(to_);
    ::close(from_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

  std::string dir_;
  std::span<const Ack> acks_;
  const Reference& reference_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string pending_;
};

// "read-only open: not_a_journal: no journal at ..." -> "read-only open: not_a_journal"
std::string refusal_kind(const std::string& refused) {
  const auto first = refused.find(": ");
  if (first == std::string::npos) return refused;
  auto second = refused.find(": ", first + 2);
  std::string kind = refused.substr(0, second);
  if (const auto at = kind.find(" at seq "); at != std::string::npos) kind.resize(at);
  return kind;
}

}  // namespace

bool ExploreReport::promise_kept() const {
  switch (sync) {
    case SyncMode::full:
      return acked_lost == 0 && wrong_counts == 0 && crashed == 0 && refused_holding_acks == 0;
    case SyncMode::nometa:
      return wrong_counts == 0 && crashed == 0 && refused_holding_acks == 0;
    case SyncMode::none:
      return true;
  }
  return false;
}

// The explorer's scratch directories, removed however explore() leaves (a
// failed recording throws), except what --keep asked to keep.
struct Scratch {
  explicit Scratch(const std::string& keep) : work(make_work_dir(keep)), kept(!keep.empty()) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    std::error_code ec;
    if (!state.empty()) fs::remove_all(state, ec);
    if (!kept) fs::remove_all(work, ec);
  }
  const fs::path work;
  const bool kept;
  fs::path state;  // set once created
};

ExploreReport explore(const ExploreOptions& o) {
  const auto started = Clock::now();
  Scratch scratch(o.keep);
  const fs::path& work = scratch.work;
  const fs::path journal = work / "journal", root = work / "data-root", trace_path = work / "trace";
  fs::create_directories(journal);
  prepare_data_root(root.string());
  record(o, journal.string(), root.string(), trace_path.string());

  auto trace = read_trace(trace_path.string());
  if (!trace) fail(trace.error());
  ModelOptions model_options;
  model_options.seed = o.seed;
  model_options.max_states = o.max_states;
  auto model = CrashModel::build(std::move(*trace), model_options);
  if (!model) fail("cannot model the trace: " + model.error());
  check_recording(*model, journal.string());
  auto reference = Reference::build(journal.string());
  if (!reference) fail(reference.error());

  // Acknowledgements in trace order, with the operation each was marked at.
  std::vector<Ack> acks;
  std::vector<std::size_t> marked_at;
  for (std::size_t j = 0; j < model->trace().size(); ++j) {
    const Op& op = model->trace()[j];
    if (op.kind != record::OpKind::mark) continue;
    if (auto a = parse_ack(op.data)) {
      acks.push_back(std::move(*a));
      marked_at.push_back(j);
    }
  }

  ExploreReport r;
  r.sync = o.sync;
  r.seed = o.seed;
  r.operations = model->trace().size();
  r.acks = acks.size();
  r.points = model->points();
  r.candidates = model->candidates();
  r.max_pending = model->max_pending();

  // States are written and read thousands of times: on tmpfs when there is
  // one (their durability is not what a check is about).
  const fs::path state_dir = state_directory(work);
  scratch.state = state_dir;
  // A worker that died leaves a broken pipe: an error to handle, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  Checker checker(state_dir.string(), acks, *reference);
  {
    // The complete recording must pass its own check, or the checks mean nothing.
    write_files(state_dir, model->final_files());
    std::string died;
    auto v = checker.check(acks.size(), died);
    if (!v) fail("the complete recording cannot be checked: " + died);
    if (!v->opened || v->acked_lost > 0 || v->wrong_count) {
      fail("the complete recording fails its own check: " +
           (v->problem.empty() ? v->refused : v->problem));
    }
  }

  std::set<std::pair<XXH64_hash_t, XXH64_hash_t>> seen;
  auto last_progress = Clock::now();
  const std::uint64_t expected =
      o.max_states == 0 ? r.candidates : std::min(o.max_states, r.candidates);
  std::size_t failed_kept = 0, crashed_kept = 0;
  r.keep = o.keep;
  model->for_each_state([&](const CrashState& state) {
    // The same files checked against more acknowledgements is a new check.
    const auto acked = static_cast<std::size_t>(
        std::lower_bound(marked_at.begin(), marked_at.end(), state.point) - marked_at.begin());
    XXH3_state_t* h = XXH3_createState();
    XXH3_128bits_reset(h);
    XXH3_128bits_update(h, &acked, sizeof acked);
    for (const auto& [name, bytes] : state.files) {
      XXH3_128bits_update(h, name.data(), name.size() + 1);  // with its terminating NUL
      const std::uint64_t size = bytes.size();
      XXH3_128bits_update(h, &size, sizeof size);
      XXH3_128bits_update(h, bytes.data(), bytes.size());
    }
    const XXH128_hash_t digest = XXH3_128bits_digest(h);
    XXH3_freeState(h);
    if (!seen.insert({digest.high64, digest.low64}).second) {
      ++r.duplicates;
      return true;
    }
    write_files(state_dir, state.files);
    std::string died;
    auto v = checker.check(acked, died);
    const std::uint64_t number = ++r.states;
    std::string problem;
    if (!v) {
      ++r.crashed;
      problem = died;
      // Every state that crashed is named and, with --keep, kept as it was
      // built (the check may have written to its copy before it died).
      if (r.crashes.size() < 20) {
        CrashedState c{number, state.description + ", " + std::to_string(acked) + " acknowledged",
                       died, ""};
        if (!o.keep.empty() && crashed_kept++ < 20) {
          c.kept = (work / ("crashed-" + std::to_string(number))).string();
          write_files(c.kept, state.files);
        }
        r.crashes.push_back(std::move(c));
      }
    } else {
      r.opened += v->opened;
      r.booted += v->booted;
      r.acked_lost += v->acked_lost;
      r.states_losing += v->acked_lost > 0;
      r.wrong_counts += v->wrong_count;
      const auto tally = [&](const std::string& refused) {
        const std::string kind = refusal_kind(refused);
        if (r.refusals[kind]++ == 0) {
          r.refusal_examples[kind] =
              state.description + ", " + std::to_string(v->acked) + " acknowledged: " + refused;
        }
      };
      if (!v->opened) {
        ++r.refused;
        tally(v->refused);
        if (v->acked > 0) ++r.refused_holding_acks;
      }
      if (!v->booted && v->boot_refused != v->refused) tally(v->boot_refused);
      if (v->acked_lost > 0 || v->wrong_count) problem = v->problem;
    }
    if (!problem.empty()) {
      if (r.examples.size() < 5) {
        r.examples.push_back("state " + std::to_string(number) + ", " + state.description + ": " +
                             problem);
      }
      if (v && !o.keep.empty() && failed_kept < 20) {
        write_files(work / ("failed-" + std::to_string(failed_kept++)), state.files);
      }
    }
    if (o.progress && Clock::now() - last_progress > std::chrono::seconds(1)) {
      last_progress = Clock::now();
      std::cerr << "\rpower-loss: " << r.states + r.duplicates << "/" << expected << " states, "
                << r.states_losing << " losing acknowledged events" << std::flush;
    }
    return true;
  });
  if (o.progress) std::cerr << "\r" << std::string(70, ' ') << "\r" << std::flush;
  r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return r;
}

std::string to_json(const ExploreReport& r) {
  boost::json::object refusals;
  for (const auto& [kind, n] : r.refusals) {
    refusals[kind] = boost::json::object{{"states", n}, {"first", r.refusal_examples.at(kind)}};
  }
  boost::json::array examples;
  for (const std::string& e : r.examples) examples.emplace_back(e);
  boost::json::array crashes;
  for (const CrashedState& c : r.crashes) {
    crashes.emplace_back(boost::json::object{
        {"state", c.number},
        {"description", c.description},
        {"died", c.died},
        {"kept", c.kept.empty() ? boost::json::value(nullptr) : boost::json::value(c.kept)}});
  }
  return boost::json::serialize(
      boost::json::object{{"sync", std::string(sync_mode_name(r.sync))},
                          {"states", r.states},
                          {"opened", r.opened},
                          {"acked_lost", r.acked_lost},
                          {"wrong_counts", r.wrong_counts},
                          {"refused", r.refused},
                          {"seed", r.seed},
                          {"operations", r.operations},
                          {"acknowledged", r.acks},
                          {"crash_points", r.points},
                          {"candidates", r.candidates},
                          {"max_pending", r.max_pending},
                          {"duplicates", r.duplicates},
                          {"booted", r.booted},
                          {"states_losing_acked", r.states_losing},
                          {"refused_holding_acked", r.refused_holding_acks},
                          {"crashed", r.crashed},
                          {"crashes", std::move(crashes)},
                          {"refusals", std::move(refusals)},
                          {"examples", std::move(examples)},
                          {"promise_kept", r.promise_kept()},
                          {"seconds", r.seconds}});
}

std::string to_text(const ExploreReport& r) {
  std::ostringstream out;
  out << "power-loss: --sync " << sync_mode_name(r.sync) << ", seed " << r.seed << ": "
      << r.operations << " operations recorded, " << r.acks << " events acknowledged\n"
      << "  " << r.states << " distinct crash states checked (" << r.points << " crash points, "
      << r.candidates << " candidate states, up to " << r.max_pending
      << " operations pending at once, " << r.duplicates << " duplicates skipped)\n"
      << "  " << r.opened << " opened read-only and audited clean, " << r.booted << " booted, "
      << r.refused << " refused with a typed error, " << r.crashed << " crashed the check\n"
      << "  " << r.acked_lost << " acknowledged events lost (in " << r.states_losing << " states), "
      << r.wrong_counts << " states with a wrong count\n";
  for (const auto& [kind, n] : r.refusals) {
    out << "  refused: " << kind << ": " << n << " states, first: " << r.refusal_examples.at(kind)
        << "\n";
  }
  for (const CrashedState& c : r.crashes) {
    out << "  crashed: state " << c.number << ", " << c.description << ": " << c.died;
    if (!c.kept.empty()) out << "; kept in " << c.kept;
    out << "\n";
  }
  if (r.crashed > r.crashes.size()) {
    out << "  crashed: " << r.crashed - r.crashes.size() << " more states\n";
  }
  if (r.crashed > 0) {
    if (r.keep.empty()) {
      out << "  to keep the states that crashed, run again with --keep DIR (a timing-dependent "
             "recording may differ: then the numbers name other states)\n";
    } else {
      out << "  a kept state is a journal directory: 'forkjournal --journal DIR audit' repeats "
             "the read-only stages, 'forkjournald --journal COPY --socket SOCK --sync none' the "
             "boot (on a copy: it writes)\n";
    }
  }
  for (const std::string& e : r.examples) out << "  e.g. " << e << "\n";
  out << "  " << (r.promise_kept() ? "the mode kept its promise" : "THE MODE BROKE ITS PROMISE")
      << " (" << static_cast<int>(r.seconds) << " s)\n";
  return out.str();
}

}  // namespace fj::power_loss
